//! Depthwise convolution (one input channel per output channel) on padded planes, with SIMD
//! bodies for stride 1 and 2 specialised for 3×3 and 5×5 kernels ([`vector`]), and the reference
//! for the rest. Large stride-2 planes skip the padded plane: their rows go into a small band split
//! into even and odd columns.
//! 3×3 stride-1 planes padded by one, and small stride-2 ones padded by one at the left and top,
//! skip it too on a path with a direct kernel (AVX-512: masked loads fill the pad lanes), which
//! takes several channels a call.

pub mod plane;
pub mod reference;
#[cfg(test)]
mod tests;
pub(crate) mod vector;

pub use plane::Plane;

use super::dispatch::{F32Call, F32Path};
use super::row_copy::copy_row;
use super::simd::RegAct;
use crate::base::parallel;
use crate::base::{Activation, Padding};
use crate::error::{Error, Result};
use plane::{ChannelFn, Unpadded};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a kept scratch plane's border was written for: a plane with the same padded and unpadded
/// sizes, placement and pad value has the same border, so only its rows need copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Border {
    pw: usize,
    ph: usize,
    w: usize,
    h: usize,
    left: usize,
    top: usize,
    value: u32,
}

/// Padded planes larger than this (bytes) take the path's split kernel at horizontal stride 2.
const SPLIT_FROM_BYTES: usize = 32 * 1024;

thread_local! {
    /// Each thread's padded plane, kept between channels, layers and runs: filling a 114×114
    /// border afresh for every channel of a 112×112 layer cost as much as copying its rows.
    static SCRATCH: RefCell<(Option<Border>, Vec<f32>)> = const { RefCell::new((None, Vec::new())) };
}

thread_local! {
    /// Each thread's copy of the channels [`depthwise_in_place`] is overwriting.
    static IN_PLACE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Most values [`depthwise_in_place`] copies aside a call (16 KB: the copy stays in L1 while the
/// kernel reads it).
const IN_PLACE_VALUES: usize = 4096;

/// Whether [`depthwise_in_place`] takes this convolution of a w×h input padded by `pad`: 3×3,
/// dilation 1, stride 1, padded by one (so the output has the input's shape), on a path with a
/// direct kernel.
pub fn in_place_fits(path: F32Path, p: &Plane, w: usize, h: usize, pad: Padding) -> bool {
    path.kernels().depthwise_direct.is_some()
        && p.kernel == (3, 3)
        && p.dilation == (1, 1)
        && p.stride == (1, 1)
        && pad == Padding { left: 1, right: 1, top: 1, bottom: 1 }
        && w > 0
        && h > 0
        && (p.ow, p.oh) == (w, h)
}

/// [`depthwise`] over `data` (`channels` w×h planes) into the same planes, for a convolution that
/// [`in_place_fits`]: each group of channels is copied aside into a small buffer of its thread and
/// the kernel reads the copy and writes the planes. Why: the input was written just before (by
/// the expansion convolution in front of it) and is in cache, where a new output blob (1.6–1.8 MB
/// on mobilenet v2's 112×112×32 and 56×56×144 maps, larger than L2) is a recycled block last
/// touched a run before: its writes read every line in from memory first, which took the layer
/// from ~0.11 ms to 0.2–0.4 ms in a network run. A buffer the thread cannot get is `OutOfMemory`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_in_place(
    path: F32Path,
    p: &Plane,
    channels: usize,
    (w, h, pad_value): (usize, usize, f32),
    data: &mut [f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
) -> Result<()> {
    let one = Padding { left: 1, right: 1, top: 1, bottom: 1 };
    assert!(in_place_fits(path, p, w, h, one) && p.pw == w + 2 && p.ph == h + 2);
    let plane = w * h;
    assert!(data.len() == plane * channels && weights.len() == 9 * channels);
    assert!(bias.is_none_or(|b| b.len() == channels));
    let direct = path.kernels().depthwise_direct.expect("in_place_fits checked the direct kernel");
    if channels == 0 {
        return Ok(());
    }
    path.count(F32Call::Depthwise);
    let (reg_act, rest_act) = RegAct::split(activation);
    // Jobs as `depthwise`'s direct groups; each is copied aside in pieces of at most the copy's limit,
    // so a job of many small planes is not cut into one-channel jobs (128 on a 56x56x128 layer).
    let per_job = (channels / (4 * parallel::current_threads())).clamp(1, 64);
    let per_copy = per_job.min((IN_PLACE_VALUES / plane).max(1));
    let out_of_memory = AtomicBool::new(false);
    parallel::for_each_chunk(data, plane * per_job, 1, |g, o| {
        for (s, o) in o.chunks_mut(plane * per_copy).enumerate() {
            let c0 = g * per_job + s * per_copy;
            let n = o.len() / plane;
            IN_PLACE.with(|copy| {
                let mut copy = copy.borrow_mut();
                let have = copy.len();
                if have < o.len() {
                    if copy.try_reserve(o.len() - have).is_err() {
                        out_of_memory.store(true, Ordering::Relaxed);
                        return;
                    }
                    copy.resize(o.len(), 0.0);
                }
                let copy = &mut copy[..o.len()];
                copy.copy_from_slice(o);
                let x = Unpadded { data: copy, w, h, left: 1, top: 1, value: pad_value };
                let wc = &weights[c0 * 9..(c0 + n) * 9];
                // SAFETY: dispatch hands out only paths this CPU runs.
                unsafe { direct(p, &x, n, wc, bias.map(|b| &b[c0..c0 + n]), reg_act, o) };
                if let Some(act) = rest_act {
                    act.apply_slice(o);
                }
            });
        }
    });
    if out_of_memory.load(Ordering::Relaxed) {
        return Err(Error::out_of_memory(format!("a copy of {} values", plane * per_copy)));
    }
    Ok(())
}

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
            copy_row(&mut scratch[at..at + w], row);
        }
    }
}

/// Convolves each channel of `src` with its own kernel (`weights`: per channel kh·kw) into `out`,
/// adding the bias and applying the activation. Each channel is padded on the fly into a scratch
/// plane of its thread (no padded copy of the whole input goes through memory); a scratch plane
/// the process cannot get is `OutOfMemory`.
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
    // Horizontal stride 2 on large planes reads the input rows straight into a small band of
    // split rows (no padded copy of the plane, no deinterleave per tap). Only where the padded
    // plane would not stay in L1: mobilenet's and mobilenet_v2's 112×112 inputs gained, their
    // 56×56 ones lost (the band's per-row work outweighs a copy that stays in cache).
    let split = if p.stride.0 == 2 && p.dilation.0 == 1 && plane_in * 4 > SPLIT_FROM_BYTES {
        path.kernels().depthwise_split
    } else {
        None
    };
    // 3×3 stride 1 padded by one: the path's direct kernel where it has one (no padded plane).
    let one = Padding { left: 1, right: 1, top: 1, bottom: 1 };
    // 3×3 stride 2 padded by one at the left and top, on planes that stay in cache (larger ones
    // read best through the split band).
    let (left, top) = (src.pad.left, src.pad.top);
    let direct = path.kernels().depthwise_direct.filter(|_| {
        p.kernel == (3, 3)
            && p.dilation == (1, 1)
            && src.w > 0
            && src.h > 0
            && match p.stride {
                (1, 1) => src.pad == one,
                (2, 2) => (left, top) == (1, 1) && plane_in * 4 <= SPLIT_FROM_BYTES,
                _ => false,
            }
    });
    let (reg_act, rest_act) = RegAct::split(activation);
    let padded = src.padded();
    let border = Border {
        pw: p.pw,
        ph: p.ph,
        w: src.w,
        h: src.h,
        left: src.pad.left,
        top: src.pad.top,
        value: src.pad_value.to_bits(),
    };
    if let Some(direct) = direct {
        // Channels in groups: enough groups for the threads to share, few calls per group.
        let per_job = (channels / (4 * parallel::current_threads())).clamp(1, 64);
        let plane = src.w * src.h;
        parallel::for_each_chunk(out, plane_out * per_job, 1, |g, o| {
            let c0 = g * per_job;
            let n = o.len() / plane_out;
            let x = Unpadded {
                data: &src.data[c0 * plane..(c0 + n) * plane],
                w: src.w,
                h: src.h,
                left: 1,
                top: 1,
                value: src.pad_value,
            };
            let w = &weights[c0 * maxk..(c0 + n) * maxk];
            // SAFETY: dispatch hands out only paths this CPU runs.
            unsafe { direct(p, &x, n, w, bias.map(|b| &b[c0..c0 + n]), reg_act, o) };
            if let Some(act) = rest_act {
                act.apply_slice(o);
            }
        });
        return Ok(());
    }
    let out_of_memory = AtomicBool::new(false);
    let run = |c: usize, o: &mut [f32]| {
        let w = &weights[c * maxk..(c + 1) * maxk];
        let b = bias.map_or(0.0, |b| b[c]);
        let compute = |x: &[f32], o: &mut [f32]| {
            // SAFETY: dispatch hands out only paths this CPU runs.
            unsafe { channel(p, x, w, b, reg_act, o) };
            if let Some(act) = rest_act {
                act.apply_slice(o);
            }
        };
        if let Some(split) = split {
            let x = Unpadded {
                data: &src.data[c * src.w * src.h..(c + 1) * src.w * src.h],
                w: src.w,
                h: src.h,
                left: src.pad.left,
                top: src.pad.top,
                value: src.pad_value,
            };
            return SCRATCH.with(|scratch| {
                let (kept, band) = &mut *scratch.borrow_mut();
                let len = vector::split_band(p).1;
                // The band overwrites any kept border; its own values are all written before read.
                *kept = None;
                if band.len() < len {
                    if band.try_reserve(len - band.len()).is_err() {
                        out_of_memory.store(true, Ordering::Relaxed);
                        return;
                    }
                    band.resize(len, 0.0);
                }
                // SAFETY: dispatch hands out only paths this CPU runs.
                unsafe { split(p, &x, &mut band[..len], w, b, reg_act, o) };
                if let Some(act) = rest_act {
                    act.apply_slice(o);
                }
            });
        }
        if !padded {
            return compute(&src.data[c * plane_in..(c + 1) * plane_in], o);
        }
        SCRATCH.with(|scratch| {
            let (kept, plane) = &mut *scratch.borrow_mut();
            if *kept != Some(border) {
                // A new geometry or pad value: the border is written once, then only rows.
                *kept = None;
                plane.clear();
                if plane.try_reserve_exact(plane_in).is_err() {
                    out_of_memory.store(true, Ordering::Relaxed);
                    return;
                }
                plane.resize(plane_in, src.pad_value);
                *kept = Some(border);
            }
            src.pad_channel(c, p.pw, plane);
            compute(plane, o);
        });
    };
    parallel::for_each_chunk(out, plane_out, parallel::min_chunks(plane_out, 2048), run);
    if out_of_memory.load(Ordering::Relaxed) {
        return Err(Error::out_of_memory(format!("a padded plane of {plane_in} values")));
    }
    Ok(())
}
