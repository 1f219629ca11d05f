//! Depthwise convolution (one input channel per output channel) on padded planes, with SIMD
//! bodies for stride 1 and 2 specialised for 3×3 and 5×5 kernels ([`vector`]), and the reference
//! for the rest.

pub mod plane;
pub mod reference;
#[cfg(test)]
mod tests;
pub(crate) mod vector;

pub use plane::Plane;

use super::dispatch::F32Path;
use super::simd::RegAct;
use crate::base::parallel;
use crate::base::Activation;
use plane::ChannelFn;

/// Convolves each channel of `input` (padded planes) with its own kernel (`weights`: per
/// channel kh·kw) into `out`, adding the bias and applying the activation.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    path: F32Path,
    p: &Plane,
    channels: usize,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    out: &mut [f32],
) {
    let (plane_in, plane_out, maxk) = (p.pw * p.ph, p.ow * p.oh, p.kernel.0 * p.kernel.1);
    assert!(input.len() >= plane_in * channels && out.len() == plane_out * channels);
    assert!(weights.len() == maxk * channels && bias.is_none_or(|b| b.len() == channels));
    if plane_out == 0 || channels == 0 {
        return;
    }
    // The vector bodies read strides 1 and 2; wider strides take the reference.
    let channel: ChannelFn = if p.stride.0 <= 2 { path.kernels().depthwise } else { reference::channel_act };
    let (reg_act, rest_act) = RegAct::split(activation);
    let run = |c: usize, o: &mut [f32]| {
        let x = &input[c * plane_in..(c + 1) * plane_in];
        let w = &weights[c * maxk..(c + 1) * maxk];
        let b = bias.map_or(0.0, |b| b[c]);
        // SAFETY: dispatch hands out only paths this CPU runs.
        unsafe { channel(p, x, w, b, reg_act, o) };
        if let Some(act) = rest_act {
            act.apply_slice(o);
        }
    };
    parallel::for_each_chunk(out, plane_out, parallel::min_chunks(plane_out, 2048), run);
}
