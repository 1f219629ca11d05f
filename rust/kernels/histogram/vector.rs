//! The statistics bodies written on lanes, each path's entry points, and each path's
//! [`HistogramFns`], which dispatch picks from.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use super::reference::{self, bin_index, increment};

/// Scratch bins after the real ones that [`super::bin_nonzero`] may count zeros in.
pub const SPARE: usize = 16;

/// Values handled per block: the indices of one block stay in L1.
const BLOCK: usize = 512;

/// One path's statistics kernels (unsafe: the CPU must run the path). `bin` counts into the
/// split counts `high[i]·256 + low[i]`, `..bins + SPARE` of each.
#[derive(Clone, Copy)]
pub struct HistogramFns {
    pub(crate) absmax: unsafe fn(values: &[f32]) -> (f32, u64),
    pub(crate) bin: unsafe fn(values: &[f32], scale: f32, low: &mut [u8], high: &mut [u16], bins: usize),
}

/// The reference path: value by value.
pub(crate) const REFERENCE: HistogramFns = HistogramFns { absmax: reference::absmax, bin: reference::bin_nonzero };

/// NEON is the aarch64 baseline: the lane bodies vectorize without an entry point of their own.
#[cfg(target_arch = "aarch64")]
pub(crate) const NEON: HistogramFns = HistogramFns { absmax: absmax_lanes, bin: bin_spare };

/// absmax over lanes of float bits: `|v|` bits compare as integers in float order, and only NaN
/// and the infinities lie at or above `0x7f80_0000`. The loop is a plain unsigned max that
/// vectorizes to a load, an and and a max per register; a tensor whose largest bits are not
/// finite (rare) is measured again value by value, which counts the NaN and infinities.
#[inline(always)]
fn absmax_lanes(values: &[f32]) -> (f32, u64) {
    const EXP: u32 = 0x7f80_0000;
    // An integer max reduction: the compiler spreads it over vector registers (lanes written
    // out by hand as an array were compiled to scalar code).
    let largest = values.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
    if largest >= EXP {
        return reference::absmax(values);
    }
    (f32::from_bits(largest), 0)
}

/// Indices a block at a time (vectorized), zeros sent to the spare bins in turn, then the
/// increments.
#[inline(always)]
fn bin_spare(values: &[f32], scale: f32, low: &mut [u8], high: &mut [u16], bins: usize) {
    let n = bins + SPARE;
    let (low, high) = (&mut low[..n], &mut high[..n]);
    let mut idx = [0u32; BLOCK];
    for block in values.chunks(BLOCK) {
        for (k, (i, &v)) in idx.iter_mut().zip(block).enumerate() {
            let spare = (bins + (k & (SPARE - 1))) as u32;
            *i = if v == 0.0 { spare } else { bin_index(v, scale, bins) as u32 };
        }
        for &i in &idx[..block.len()] {
            increment(low, high, (i as usize).min(n - 1));
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    pub(crate) const AVX2: HistogramFns = HistogramFns { absmax: absmax_avx2, bin: bin_avx2 };
    pub(crate) const AVX512: HistogramFns = HistogramFns { absmax: absmax_avx512, bin: bin_avx512 };

    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn absmax_avx2(values: &[f32]) -> (f32, u64) {
        absmax_lanes(values)
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn absmax_avx512(values: &[f32]) -> (f32, u64) {
        absmax_lanes(values)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn bin_avx2(values: &[f32], scale: f32, low: &mut [u8], high: &mut [u16], bins: usize) {
        bin_spare(values, scale, low, high, bins);
    }

    /// The non-zero lanes' indices packed together in a register (a compress to memory is
    /// microcoded and slow on AMD), then the increments, unchecked: every index is the truncation
    /// of `min(|v|·scale, bins-1)` (NaN gives bins-1), so below `bins`, and one compare per
    /// increment cost a quarter of the time.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn bin_avx512(values: &[f32], scale: f32, low: &mut [u8], high: &mut [u16], bins: usize) {
        unsafe {
            let (low, high) = (&mut low[..bins], &mut high[..bins]);
            let (low_ptr, high_ptr) = (low.as_mut_ptr(), high.as_mut_ptr());
            let abs_mask = _mm512_set1_epi32(0x7fff_ffff);
            let vscale = _mm512_set1_ps(scale);
            let last = _mm512_set1_ps((bins - 1) as f32);
            // 16 more than a block: each store writes a whole register.
            let mut idx = [0u32; BLOCK + 16];
            for block in values.chunks(BLOCK) {
                let mut n = 0usize;
                let lanes = block.chunks_exact(16);
                let tail = lanes.remainder();
                for c in lanes {
                    let a = _mm512_and_si512(_mm512_loadu_si512(c.as_ptr().cast()), abs_mask);
                    let nonzero = _mm512_test_epi32_mask(a, a);
                    // min(x, last) gives `last` for NaN, as the scalar f32::min does.
                    let f = _mm512_min_ps(_mm512_mul_ps(_mm512_castsi512_ps(a), vscale), last);
                    let i = _mm512_cvttps_epi32(f);
                    _mm512_storeu_si512(idx.as_mut_ptr().add(n).cast(), _mm512_maskz_compress_epi32(nonzero, i));
                    n += nonzero.count_ones() as usize;
                }
                for &i in &idx[..n] {
                    let byte = low_ptr.add(i as usize);
                    let c = (*byte).wrapping_add(1);
                    *byte = c;
                    if c == 0 {
                        let carry = high_ptr.add(i as usize);
                        *carry = (*carry).wrapping_add(1);
                    }
                }
                reference::bin_nonzero(tail, scale, low, high, bins);
            }
        }
    }
}
