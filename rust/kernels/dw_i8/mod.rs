//! int8 depthwise convolution (runtime-int8.md §3, `channels == group == num_output`): one kh×kw
//! int8 kernel per channel, exact int32 sums, then the same epilogue as the GEMM (per-channel
//! de-scale, bias, activation, float or requantized output). Runs on an int8 family path
//! ([`I8Path`]), the GEMM's.
//!
//! The SIMD bodies run a span of output pixels a vector at a time, with every kernel tap
//! multiplied in as a sign-extended int32 lane against the weight in the low int16 half
//! (`vpmaddwd` / `vpdpwssd`: `x·w + hi·0`), so stride 2 costs no shuffles: widening 2L bytes to
//! int16 puts the even pixels in the low halves. With stride 1 the whole plane is one span over
//! the padded width (output pixel (oy, ox) at oy·pw + ox; the pw − ow extra columns per row are
//! computed and dropped), so narrow rows do not leave vectors half empty; with stride 2 each
//! output row is a span. AVX-512 finishes a span with masked loads and stores; the other paths
//! and other strides use the scalar body for what does not fill a vector.
//!
//! Where the CPU also has AVX-512 VBMI, kernels with rows of up to 4 taps take the plane kernel
//! instead ([`plan`]): 16 outputs a vector, all taps of a kernel row in one `vpdpbusd` on bytes
//! placed by `vpermb`, against one sign extension and one `vpdpwssd` per tap above (mobilenet's
//! int8 depthwise layers: 1.3 → 0.9 ms a run, the 14×14 ones 0.089 → 0.065 ms each).

#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64;
// Only the x86 AVX-512 VBMI kernel runs plans; elsewhere they are made and never used.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) mod plan;
pub(crate) mod row;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

#[cfg(test)]
mod tests;

use super::conv_depthwise::plane::Plane;
use super::dispatch::{I8Call, I8Path};
use super::gemm_i8::{Epilogue, Out};
use super::row_copy::copy_row;
use crate::base::parallel;
use plan::VecPlan;
use row::Row;

/// Quantized padded input planes and the depthwise geometry.
#[derive(Debug, Clone, Copy)]
pub struct DwSource<'a> {
    /// `channels` planes of `pw·ph` bytes, or of `w·h` with `pad` set.
    pub data: &'a [i8],
    /// The planes are unpadded: the kernel pads each channel itself (only where
    /// [`pads_itself`] says it does).
    pub pad: Option<PadSpec>,
    pub pw: usize,
    pub ph: usize,
    pub channels: usize,
    /// (w, h) of kernel, dilation and stride.
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub stride: (usize, usize),
    pub ow: usize,
    pub oh: usize,
}

/// Where an unpadded plane of `w×h` sits in the padded `pw×ph` one, and the pad byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PadSpec {
    pub w: usize,
    pub h: usize,
    pub left: usize,
    pub top: usize,
    pub value: i8,
}

/// Whether [`depthwise`] on `path` takes `src` unpadded (with [`DwSource::pad`]): it then pads
/// each channel into a plane of its task, in cache, instead of the caller padding the whole
/// input through memory first (mobilenet: ~9 % of an int8 run went to padding copies).
pub fn pads_itself(path: I8Path, src: &DwSource) -> bool {
    path.kernels().depthwise_plane.is_some_and(|k| (k.available)()) && plan::cached(&src.plane()).is_some()
}

impl DwSource<'_> {
    /// The geometry a plan depends on: this source without its data.
    fn plane(&self) -> Plane {
        let DwSource { pw, ph, ow, oh, kernel, dilation, stride, .. } = *self;
        Plane { pw, ph, ow, oh, kernel, dilation, stride }
    }
}

/// Depthwise convolution of `src` with `weights` (channels × kh·kw) into `out` (channels × ow·oh).
/// Panics when sizes disagree (callers validate shapes first).
pub fn depthwise(path: I8Path, src: &DwSource, weights: &[i8], ep: &Epilogue, out: Out) {
    depthwise_with(path, src, weights, ep, out, true);
}

/// [`depthwise`], with the path's plane kernel only when `plane` (tests run both kernels).
pub(crate) fn depthwise_with(path: I8Path, src: &DwSource, weights: &[i8], ep: &Epilogue, mut out: Out, plane: bool) {
    let (kw, kh) = src.kernel;
    let maxk = kw * kh;
    let (c, n) = (src.channels, src.ow * src.oh);
    assert_eq!(weights.len(), c * maxk, "depthwise: weights");
    assert_eq!(out.len(), c * n, "depthwise: output size");
    match src.pad {
        None => assert!(src.data.len() >= c * src.pw * src.ph, "depthwise: input size"),
        Some(p) => {
            assert!(src.data.len() >= c * p.w * p.h, "depthwise: input size");
            assert!(p.left + p.w <= src.pw && p.top + p.h <= src.ph, "depthwise: padding");
            assert!(plane && pads_itself(path, src), "depthwise: the kernel does not pad on this path");
        }
    }
    assert!(src.ow == 0 || (src.ow - 1) * src.stride.0 + src.dilation.0 * (kw - 1) < src.pw, "depthwise: width");
    assert!(src.oh == 0 || (src.oh - 1) * src.stride.1 + src.dilation.1 * (kh - 1) < src.ph, "depthwise: height");
    assert!(ep.scale.len() >= c && ep.bias.is_none_or(|b| b.len() >= c), "depthwise: epilogue per channel");
    assert_eq!(matches!(out, Out::I8(_)), ep.requant.is_some(), "depthwise: int8 output iff requantized");
    if n == 0 {
        return;
    }
    path.count(I8Call::Depthwise);
    let kernels = path.kernels();
    let (row_fn, finish_row) = (kernels.depthwise_row, kernels.finish_row);
    let out = out.ptr();
    let (sw, sh) = src.stride;
    // Stride 1: one span over the padded width for the whole plane (see the module notes).
    let wide = sw == 1 && sh == 1;
    let span_len = if wide { (src.oh - 1) * src.pw + src.ow } else { src.ow };
    // Jobs of whole channels, each with its scratch made once (the row kernels overwrite their
    // span, so the scratch is reused without clearing): one job on one thread, and on more at
    // most 4 per thread. A job per channel or per few channels (mobilenet's 14×14 layers: 103
    // jobs of 5 channels) spent its time making scratch and padding borders again, and on 2
    // threads the channels a thread ran were scattered instead of one or two runs: mobilenet's
    // int8 depthwise layers took 0.67 of their 1-thread time on 2 threads, 0.55 now.
    let threads = parallel::current_threads();
    let per_job =
        if threads == 1 { c } else { parallel::min_chunks(n * maxk, 1 << 13).max(c.div_ceil(4 * threads)) }.max(1);
    let jobs = c.div_ceil(per_job);
    let run_jobs = |job: &(dyn Fn(usize) + Sync)| {
        if c * n * maxk >= 1 << 14 {
            parallel::for_each(jobs, job);
        } else {
            (0..jobs).for_each(job);
        }
    };
    let plane_kernel = kernels.depthwise_plane.filter(|k| plane && (k.available)());
    if let Some((kernel, plan)) = plane_kernel.and_then(|k| Some((k, plan::cached(&src.plane())?))) {
        let plan: &VecPlan = &plan;
        // Whole channels into a compact `acc`, then one epilogue call per channel.
        // Unpadded planes are padded into `padded`, whose border is written once per task.
        run_jobs(&|j: usize| {
            let mut acc = vec![0i32; n];
            let mut padded = src.pad.map_or_else(Vec::new, |p| vec![p.value; src.pw * src.ph]);
            for ch in j * per_job..((j + 1) * per_job).min(c) {
                let (data, origin) = match src.pad {
                    None => (src.data, ch * src.pw * src.ph),
                    Some(p) => {
                        let plane = &src.data[ch * p.w * p.h..(ch + 1) * p.w * p.h];
                        for (y, row) in plane.chunks_exact(p.w.max(1)).enumerate() {
                            let at = (p.top + y) * src.pw + p.left;
                            copy_row(&mut padded[at..at + p.w], row);
                        }
                        (&padded[..], 0)
                    }
                };
                // SAFETY: the kernel is available (checked above) and the plan is src's.
                unsafe { (kernel.run)(plan, data, origin, &weights[ch * maxk..(ch + 1) * maxk], &mut acc) };
                // SAFETY: channel ch's n outputs belong to this task.
                unsafe { finish_row(&acc, 0, ch, ep, out.add(ch * n)) };
            }
        });
        return;
    }
    let taps: Vec<usize> = (0..maxk).map(|t| (t / kw) * src.dilation.1 * src.pw + (t % kw) * src.dilation.0).collect();
    let reach = taps.iter().copied().max().unwrap_or(0);
    let job = |j: usize| {
        let (acc_len, wide_len) = if wide && src.pw != src.ow { (0, span_len) } else { (n, 0) };
        let (mut acc, mut wide_acc) = (vec![0i32; acc_len], vec![0i32; wide_len]);
        for ch in j * per_job..((j + 1) * per_job).min(c) {
            let plane = ch * src.pw * src.ph;
            let spans = if wide { 1 } else { src.oh };
            for oy in 0..spans {
                let row = Row {
                    data: src.data,
                    origin: plane + oy * sh * src.pw,
                    taps: &taps,
                    reach,
                    weights: &weights[ch * maxk..(ch + 1) * maxk],
                    stride: sw,
                };
                let dst = if !wide {
                    &mut acc[oy * src.ow..(oy + 1) * src.ow]
                } else if wide_acc.is_empty() {
                    &mut acc[..]
                } else {
                    &mut wide_acc[..]
                };
                // SAFETY: dispatch hands out only paths this CPU runs.
                unsafe { row_fn(&row, dst) };
            }
            // SAFETY: channel ch's n outputs belong to this task.
            let dst = |at: usize| unsafe { out.add(ch * n + at) };
            if wide_acc.is_empty() {
                // SAFETY: as above; dst holds n elements of this channel.
                unsafe { finish_row(&acc, 0, ch, ep, dst(0)) };
            } else {
                // The wide span's rows finish straight into the output (no copy to `acc` first).
                for oy in 0..src.oh {
                    let row = &wide_acc[oy * src.pw..oy * src.pw + src.ow];
                    // SAFETY: as above; output row oy of the channel holds ow elements.
                    unsafe { finish_row(row, 0, ch, ep, dst(oy * src.ow)) };
                }
            }
        }
    };
    run_jobs(&job);
}

/// The per-channel de-scale factors `1/(s_in·s_w[c])` (0 where `s_w` is 0) as ncnn computes them
/// for a depthwise layer of `channels`.
///
/// ncnn's x86 pack-8 depthwise int8 kernel (channels divisible by 8) takes the reciprocal with
/// the approximate `rcpps` instruction (runtime-int8.md §3); every other ncnn path divides. The
/// approximation's table is the CPU's own (Intel and AMD differ), so it cannot be emulated, but
/// running the same instruction here gives the factor ncnn gets on the same machine: on x86 we
/// do that, and the outputs then agree bit for bit instead of by ≤ 2⁻¹¹ relative. On other
/// architectures the division is exact, as in ncnn's ARM code.
pub fn descale_factors(s_in: f32, s_w: &[f32], channels: usize) -> Vec<f32> {
    s_w.iter()
        .map(|&s| {
            if s == 0.0 {
                0.0
            } else if cfg!(target_arch = "x86_64") && channels.is_multiple_of(8) {
                approx_reciprocal(s_in * s)
            } else {
                1.0 / (s_in * s)
            }
        })
        .collect()
}

#[cfg(target_arch = "x86_64")]
fn approx_reciprocal(v: f32) -> f32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE is part of the x86_64 baseline.
    unsafe { _mm_cvtss_f32(_mm_rcp_ps(_mm_set1_ps(v))) }
}

#[cfg(not(target_arch = "x86_64"))]
fn approx_reciprocal(v: f32) -> f32 {
    1.0 / v
}

/// The reference depthwise convolution straight from the definition (tests' truth).
pub fn reference_i32(src: &DwSource, weights: &[i8]) -> Vec<i32> {
    let (kw, kh) = src.kernel;
    let mut out = vec![0i32; src.channels * src.ow * src.oh];
    for ch in 0..src.channels {
        for oy in 0..src.oh {
            for ox in 0..src.ow {
                let mut s = 0i32;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let y = oy * src.stride.1 + ky * src.dilation.1;
                        let x = ox * src.stride.0 + kx * src.dilation.0;
                        let v = src.data[(ch * src.ph + y) * src.pw + x];
                        s += i32::from(v) * i32::from(weights[(ch * kh + ky) * kw + kx]);
                    }
                }
                out[(ch * src.oh + oy) * src.ow + ox] = s;
            }
        }
    }
    out
}
