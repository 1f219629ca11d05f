//! int8 matrix multiply for convolutions and inner products (runtime-int8.md §2–§4):
//! `C = A·B` with A the int8 weights (m×k, packed once at load) and B the quantized activations
//! (k×n, gathered by im2col and packed one column panel at a time), exact int32 accumulation, then
//! ncnn's epilogue: de-scale, bias, fused activation, and float output or requantization.
//!
//! # Paths
//! Every entry point takes the path to run ([`I8Path`]); the process's choice is
//! `dispatch::I8.selected()` ([`crate::kernels::dispatch`] lists the paths, what each needs of the
//! CPU, and which functions each runs). Every path gives bit-identical results: accumulation is
//! exact integer arithmetic, and the float epilogue is one scalar body ([`epilogue`]) compiled per
//! instruction set (no FMA contraction, so the compiler's vectorization cannot change a value).
//!
//! | path | instruction | tile (MR×NR) | A (weights) | B (activations) |
//! |---|---|---|---|---|
//! | `avx512vnni` | `vpdpbusd zmm` | 8×32 | s8, groups of 4 k | u8 = s8+128, 4 k per pixel |
//! | `avxvnni` | `vpdpbusd ymm` (VEX) | 6×16 | s8, groups of 4 k | u8 = s8+128 |
//! | `avx2` | `vpmaddwd` on sign-extended int16 | 6×16 | i16 pairs | i16 pairs |
//! | `dotprod` | `sdot` by element (inline asm) | 8×8 | s8, groups of 4 k | s8 |
//! | `neon` | `smlal` by lane on int16 | 8×8 | i16 | i16 |
//!
//! Files: [`source`] (the B operand), [`pack`] (packed buffers and weights), [`tiling`] (the
//! [`tiling::Kernel`] trait each SIMD tile implements and the threaded loop over tiles),
//! `x86.rs`/`aarch64.rs` (the SIMD kernels), [`reference`], [`gemv`], and this file: the entry
//! points layers call.
//!
//! The kernels broadcast one weight group (4 bytes: one output row, 4 k) against a vector of
//! pixels, so the accumulators are rows of C and store straight into ncnn's channel-major output.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes. Activations are stored as `u8 = s8 + 128`, so
//! each accumulator holds `Σ(x+128)·w = Σx·w + 128·Σw`; the packed weights carry `128·Σw` per
//! row (`comp`) and the epilogue subtracts it. `vpdpbusd` wraps (no saturation), so the
//! difference is exact whenever the true sum fits in int32. `vpmaddubsw` is avoided: its int16
//! pair sums saturate for |s8·u8| sums above 32767. The int16 paths (avx2, neon) are exact for
//! every int8 value including −128 (which ncnn's quantizer never produces).
//!
//! What this machine's CI cannot run: `avxvnni` (no Intel CPU with AVX-VNNI but without AVX-512
//! here); its kernel body is shared with an EVEX-encoded ymm variant that the tests run on
//! AVX-512 VNNI CPUs, so only the instruction encoding is untested. The aarch64 paths run under
//! qemu (`-cpu max` has dotprod, `-cpu cortex-a72` has only NEON).

pub mod epilogue;
pub mod gemv;
pub mod pack;
pub mod reference;
pub mod source;
pub mod tiling;

#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

#[cfg(test)]
mod tests;

pub use epilogue::{Epilogue, Out};
pub use gemv::{gemv, PackedRows};
pub use source::ConvSource;

use crate::base::{alloc, parallel};
use crate::error::Result;
use crate::kernels::dispatch::{I8Call, I8Path};
use crate::kernels::row_copy::copy_row;
use pack::PackedWeights;
use std::borrow::Cow;

/// Weights packed for one path: `m` rows of `k` int8 values.
pub struct PackedA {
    path: I8Path,
    pub m: usize,
    pub k: usize,
    packed: PackedWeights,
}

impl PackedA {
    /// Packs row-major `w` (m×k) for `path`.
    pub fn new(path: I8Path, w: &[i8], m: usize, k: usize) -> PackedA {
        assert_eq!(w.len(), m * k, "PackedA: {m}×{k} weights expected");
        PackedA { path, m, k, packed: (path.kernels().gemm.pack_a)(w, m, k) }
    }

    pub fn path(&self) -> I8Path {
        self.path
    }
}

/// C = A·B(src) then the epilogue, written to `out` (m rows of n = ow·oh values).
///
/// Panics when sizes disagree: callers validate shapes against the layer first.
pub fn conv_gemm(a: &PackedA, src: &ConvSource, ep: &Epilogue, mut out: Out) {
    src.check();
    let (m, n) = (a.m, src.n());
    assert_eq!(src.k(), a.k, "conv_gemm: B has {} rows, A has {} columns", src.k(), a.k);
    assert_eq!(out.len(), m * n, "conv_gemm: output size");
    assert!(ep.scale.len() >= m && ep.bias.is_none_or(|b| b.len() >= m), "conv_gemm: epilogue per row");
    assert_eq!(matches!(out, Out::I8(_)), ep.requant.is_some(), "conv_gemm: int8 output iff requantized");
    if m == 0 || n == 0 {
        return;
    }
    a.path.count(I8Call::Gemm);
    // SAFETY: dispatch hands out only paths this CPU runs, and `a` was packed for this one.
    unsafe { (a.path.kernels().gemm.gemm)(&a.packed, src, ep, &mut out) }
}

/// Whether [`conv_gemm_quantizing`] runs `a` against `n` columns on this thread's pool: a small
/// map on more than one thread (a path's tiled GEMM packs all column panels in one loop there).
pub fn quantizes_in_gemm(a: &PackedA, n: usize) -> bool {
    (a.path.kernels().gemm.quantizes)(a.m, n, parallel::current_threads())
}

/// [`conv_gemm`] for a 1×1 convolution (stride 1, no padding) of float input `x` (`a.k` channels
/// of `n` values) quantized with `scale`: the tasks that pack B quantize the values they pack,
/// so no loop quantizes the whole input first. The same output as quantizing `x` and calling
/// [`conv_gemm`]. Only where [`quantizes_in_gemm`] holds.
pub fn conv_gemm_quantizing(a: &PackedA, x: &[f32], scale: f32, n: usize, ep: &Epilogue, mut out: Out) {
    let m = a.m;
    assert_eq!(x.len(), a.k * n, "conv_gemm_quantizing: input size");
    assert_eq!(out.len(), m * n, "conv_gemm_quantizing: output size");
    assert!(ep.scale.len() >= m && ep.bias.is_none_or(|b| b.len() >= m), "conv_gemm_quantizing: epilogue per row");
    assert_eq!(matches!(out, Out::I8(_)), ep.requant.is_some(), "conv_gemm_quantizing: int8 output iff requantized");
    assert!(quantizes_in_gemm(a, n), "conv_gemm_quantizing: a small map on this pool");
    a.path.count(I8Call::Gemm);
    // SAFETY: dispatch hands out only paths this CPU runs, and `a` was packed for this one.
    unsafe { (a.path.kernels().gemm.gemm_quantizing)(&a.packed, x, scale, n, ep, &mut out) }
}

/// `out = q(x · scale)` on `path`, in parallel for large tensors.
pub fn quantize(path: I8Path, x: &[f32], scale: f32, out: &mut [i8]) {
    const CHUNK: usize = 1 << 15;
    assert_eq!(x.len(), out.len());
    // Chunks of about CHUNK values, as many as a multiple of the threads: 3 chunks of 32768 (a
    // 480×14×14 input) left one thread quantizing a chunk while the other waited.
    let threads = parallel::current_threads();
    let chunks = x.len().div_ceil(CHUNK).next_multiple_of(threads);
    let chunk = x.len().div_ceil(chunks.max(1)).next_multiple_of(64).max(64);
    let one = |x: &[f32], out: &mut [i8]| quantize_chunk(path, x, scale, out);
    parallel::for_each_chunk(out, chunk, 1, |i, o| one(&x[i * chunk..i * chunk + o.len()], o));
}

fn quantize_chunk(path: I8Path, x: &[f32], scale: f32, out: &mut [i8]) {
    // SAFETY: dispatch hands out only paths this CPU runs.
    unsafe { (path.kernels().quantize)(x, scale, out) }
}

/// An activation tensor on its way into an int8 layer.
#[derive(Clone, Copy)]
pub enum Activations<'a> {
    /// Float values, quantized with the layer's input scale.
    F32(&'a [f32]),
    /// Already int8 (a requantized blob): used as is.
    I8(&'a [i8]),
}

/// The quantized input planes (`c` channels of `h×w`) with `pads` = [left, right, top, bottom]
/// filled with `pad_value`: (c, h + top + bottom, w + left + right). An int8 input without
/// padding is borrowed as is. A size that does not fit in memory is an error, not an abort.
pub fn quantize_pad(
    path: I8Path,
    x: Activations<'_>,
    scale: f32,
    (c, h, w): (usize, usize, usize),
    pads: [usize; 4],
    pad_value: i8,
) -> Result<(Cow<'_, [i8]>, usize, usize)> {
    let [left, right, top, bottom] = pads;
    let (pw, ph) = (w + left + right, h + top + bottom);
    if pw == w && ph == h {
        return match x {
            Activations::F32(v) => {
                // SAFETY: quantize writes one value per input value.
                let out = unsafe { alloc::overwritten::<i8>(v.len(), |out| quantize(path, v, scale, out)) }?;
                Ok((Cow::Owned(out), pw, ph))
            }
            Activations::I8(v) => Ok((Cow::Borrowed(v), pw, ph)),
        };
    }
    // Each plane: pad rows, then per input row its left pad, values, right pad (every byte
    // written, so no zeroing pass first).
    let plane = |ch: usize, dst: &mut [i8]| {
        dst[..top * pw].fill(pad_value);
        dst[(top + h) * pw..].fill(pad_value);
        for y in 0..h {
            let row = &mut dst[(y + top) * pw..(y + top + 1) * pw];
            fill_few(&mut row[..left], pad_value);
            fill_few(&mut row[left + w..], pad_value);
            let d = &mut row[left..left + w];
            let s = (ch * h + y) * w;
            match x {
                Activations::F32(v) => quantize_chunk(path, &v[s..s + w], scale, d),
                Activations::I8(v) => copy_row(d, &v[s..s + w]),
            }
        }
    };
    // SAFETY: `plane` writes every byte of its plane, and the chunks cover the vector.
    let out = unsafe {
        alloc::overwritten::<i8>(alloc::count(&[c, pw, ph])?, |out| {
            parallel::for_each_chunk(out, pw * ph, parallel::min_chunks(pw * ph, 1 << 14), plane);
        })
    }?;
    Ok((Cow::Owned(out), pw, ph))
}

/// `d.fill(v)` without a call for the 0–4 bytes a row's pad usually is: `fill` is a call to
/// memset, and a depthwise network pads ~90 000 rows per run (mobilenet; 6 % of its int8 time
/// was memset on one or two bytes).
#[inline(always)]
fn fill_few(d: &mut [i8], v: i8) {
    if d.len() <= 4 {
        for i in 0..4 {
            if i < d.len() {
                d[i] = v;
            }
        }
    } else {
        d.fill(v);
    }
}
