//! Depthwise convolution (one input channel per output channel) on padded planes, with SIMD
//! bodies for stride 1 and 2 specialised for 3×3 and 5×5 kernels ([`vector`]), and the reference
//! for the rest.

pub mod plane;
pub mod reference;
#[cfg(test)]
mod tests;
pub(crate) mod vector;

pub use plane::Plane;

use super::dispatch::{F32Call, F32Path};
use super::simd::RegAct;
use crate::base::parallel;
use crate::base::{Activation, Padding};
use crate::error::{Error, Result};
use plane::ChannelFn;
use std::sync::atomic::{AtomicBool, Ordering};

/// The unpadded input of a depthwise convolution: `channels` planes of w×h, and the padding that
/// makes them the [`Plane`]'s pw×ph.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub data: &'a [f32],
    pub w: usize,
    pub h: usize,
    pub pad: Padding,
    pub pad_value: f32,
}

impl Source<'_> {
    fn padded(&self) -> bool {
        self.pad != Padding { left: 0, right: 0, top: 0, bottom: 0 }
    }

    /// Channel `c` padded into `scratch` (pw·ph), whose border already holds the pad value: only
    /// the rows are copied, into a plane small enough to stay in cache for the kernel's reads.
    fn pad_channel(&self, c: usize, pw: usize, scratch: &mut [f32]) {
        let (w, h, pad) = (self.w, self.h, self.pad);
        let src = &self.data[c * w * h..(c + 1) * w * h];
        for (y, row) in src.chunks_exact(w).enumerate() {
            let at = (pad.top + y) * pw + pad.left;
            scratch[at..at + w].copy_from_slice(row);
        }
    }
}

/// Convolves each channel of `src` with its own kernel (`weights`: per channel kh·kw) into `out`,
/// adding the bias and applying the activation. Each channel is padded on the fly into a scratch
/// plane of its job (no padded copy of the whole input goes through memory); a scratch plane the
/// process cannot get is `OutOfMemory`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    path: F32Path,
    p: &Plane,
    channels: usize,
    src: &Source,
    weights: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    out: &mut [f32],
) -> Result<()> {
    let (plane_in, plane_out, maxk) = (p.pw * p.ph, p.ow * p.oh, p.kernel.0 * p.kernel.1);
    assert!(src.w + src.pad.left + src.pad.right == p.pw && src.h + src.pad.top + src.pad.bottom == p.ph);
    assert!(src.data.len() >= src.w * src.h * channels && out.len() == plane_out * channels);
    assert!(weights.len() == maxk * channels && bias.is_none_or(|b| b.len() == channels));
    if plane_out == 0 || channels == 0 {
        return Ok(());
    }
    path.count(F32Call::Depthwise);
    // The vector bodies read strides 1 and 2; wider strides take the reference.
    let channel: ChannelFn = if p.stride.0 <= 2 { path.kernels().depthwise } else { reference::channel_act };
    let (reg_act, rest_act) = RegAct::split(activation);
    let padded = src.padded();
    let out_of_memory = AtomicBool::new(false);
    let run = |scratch: &mut Vec<f32>, c: usize, o: &mut [f32]| {
        let x = if padded {
            if scratch.is_empty() {
                if scratch.try_reserve_exact(plane_in).is_err() {
                    out_of_memory.store(true, Ordering::Relaxed);
                    return;
                }
                scratch.resize(plane_in, src.pad_value);
            }
            src.pad_channel(c, p.pw, scratch);
            &scratch[..]
        } else {
            &src.data[c * plane_in..(c + 1) * plane_in]
        };
        let w = &weights[c * maxk..(c + 1) * maxk];
        let b = bias.map_or(0.0, |b| b[c]);
        // SAFETY: dispatch hands out only paths this CPU runs.
        unsafe { channel(p, x, w, b, reg_act, o) };
        if let Some(act) = rest_act {
            act.apply_slice(o);
        }
    };
    parallel::for_each_chunk_with(out, plane_out, parallel::min_chunks(plane_out, 2048), run);
    if out_of_memory.load(Ordering::Relaxed) {
        return Err(Error::out_of_memory(format!("a padded plane of {plane_in} values")));
    }
    Ok(())
}
