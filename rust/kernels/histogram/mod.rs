//! Calibration statistics over an activation tensor: its absmax and a histogram of |v|.
//!
//! These run on every watched blob of every calibration sample, so they are as costly as a
//! cheap layer. The absmax is a max over the float bits (for non-negative floats the integer
//! order is the float order), which vectorizes. The histogram is bound by its scattered
//! increments: the bin indices are computed a block at a time in vector registers, and zeros (up
//! to half of a ReLU output) are kept out of bin 0, whose increments would otherwise form one long
//! chain through memory: the AVX-512 path packs the non-zero indices together, the others send
//! zeros to [`SPARE`] scratch bins in turn.

pub mod reference;
#[cfg(test)]
mod tests;

use super::simd::Isa;

/// Scratch bins after the real ones that [`bin_nonzero`] may count zeros in.
pub const SPARE: usize = 16;

/// Values handled per block: the indices of one block stay in L1.
const BLOCK: usize = 512;

/// `min(floor(|v|·scale), bins-1)`; NaN and overflow land in the last bin.
#[inline(always)]
pub(crate) fn bin_index(v: f32, scale: f32, bins: usize) -> usize {
    let last = (bins - 1) as f32;
    // f32::min returns the other operand for NaN, so `f` is in [0, bins-1] and converts exactly.
    let f = (v.abs() * scale).min(last);
    // SAFETY: finite and in [0, 2^24].
    unsafe { f.to_int_unchecked::<u32>() as usize }
}

/// The largest finite |v| of `values` (0 when there is none) and the number of NaN/infinite values.
pub fn absmax(isa: Isa, values: &[f32]) -> (f32, u64) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was checked available when the path was chosen.
        Isa::Avx2 => unsafe { x86::absmax_avx2(values) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::absmax_avx512(values) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => absmax_lanes(values),
        _ => reference::absmax(values),
    }
}

/// Counts every non-zero v of `values` in bin `min(floor(|v|·scale), bins-1)`, where
/// `bins = counts.len() - SPARE`; the last [`SPARE`] entries of `counts` are scratch whose
/// contents mean nothing. The caller keeps every count below `u32::MAX` (at most that many
/// values between resets).
pub fn bin_nonzero(isa: Isa, values: &[f32], scale: f32, counts: &mut [u32]) {
    assert!(counts.len() > SPARE && counts.len() - SPARE <= 1 << 24, "histogram of {} bins", counts.len());
    let bins = counts.len() - SPARE;
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was checked available when the path was chosen.
        Isa::Avx2 => unsafe { x86::bin_avx2(values, scale, counts, bins) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::bin_avx512(values, scale, counts, bins) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => bin_spare(values, scale, counts, bins),
        _ => reference::bin_nonzero(values, scale, counts, bins),
    }
}

/// absmax over lanes of float bits: `|v|` bits below 0x7f80_0000 are finite, and compare as
/// integers in float order.
#[inline(always)]
fn absmax_lanes(values: &[f32]) -> (f32, u64) {
    const L: usize = 16;
    const EXP: u32 = 0x7f80_0000;
    let mut max = [0u32; L];
    let mut bad = [0u32; L];
    let mut non_finite = 0u64;
    // u32 lane counters: flushed well before they could overflow.
    for block in values.chunks(L << 20) {
        let chunks = block.chunks_exact(L);
        let tail = chunks.remainder();
        for c in chunks {
            for k in 0..L {
                let a = c[k].to_bits() & 0x7fff_ffff;
                let finite = a < EXP;
                max[k] = max[k].max(if finite { a } else { 0 });
                bad[k] += u32::from(!finite);
            }
        }
        for &v in tail {
            let a = v.to_bits() & 0x7fff_ffff;
            max[0] = max[0].max(if a < EXP { a } else { 0 });
            bad[0] += u32::from(a >= EXP);
        }
        non_finite += bad.iter().map(|&b| u64::from(b)).sum::<u64>();
        bad = [0; L];
    }
    (f32::from_bits(max.into_iter().max().unwrap_or(0)), non_finite)
}

/// Indices a block at a time (vectorized), zeros sent to the spare bins in turn, then the
/// increments.
#[inline(always)]
fn bin_spare(values: &[f32], scale: f32, counts: &mut [u32], bins: usize) {
    let counts = &mut counts[..bins + SPARE];
    let mut idx = [0u32; BLOCK];
    for block in values.chunks(BLOCK) {
        for (k, (i, &v)) in idx.iter_mut().zip(block).enumerate() {
            let spare = (bins + (k & (SPARE - 1))) as u32;
            *i = if v == 0.0 { spare } else { bin_index(v, scale, bins) as u32 };
        }
        for &i in &idx[..block.len()] {
            counts[(i as usize).min(bins + SPARE - 1)] += 1;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn absmax_avx2(values: &[f32]) -> (f32, u64) {
        absmax_lanes(values)
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn absmax_avx512(values: &[f32]) -> (f32, u64) {
        absmax_lanes(values)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn bin_avx2(values: &[f32], scale: f32, counts: &mut [u32], bins: usize) {
        bin_spare(values, scale, counts, bins)
    }

    /// The non-zero lanes' indices packed together in a register (a compress to memory is
    /// microcoded and slow on AMD), then the increments.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn bin_avx512(values: &[f32], scale: f32, counts: &mut [u32], bins: usize) {
        let counts = &mut counts[..bins];
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
                counts[(i as usize).min(bins - 1)] += 1;
            }
            reference::bin_nonzero(tail, scale, counts, bins);
        }
    }
}
