//! x86_64 depthwise rows: AVX-512 (16 pixels, `vpdpwssd`) and AVX2 (8 pixels, `vpmaddwd`).
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use super::plan::{PlaneKernel, VecPlan, MAX_KH};
use super::row::{row_scalar, Row};

use std::arch::x86_64::*;

/// The weight in the low int16 half of each int32 lane, 0 in the high half.
#[inline(always)]
fn low_half(w: i8) -> i32 {
    i32::from(i16::from(w) as u16)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn row_avx512vnni(row: &Row, acc: &mut [i32]) {
    unsafe {
        const L: usize = 16;
        let s = row.stride;
        if s > 2 {
            return row_scalar(row, 0, acc);
        }
        let n = acc.len();
        let len = row.data.len();
        let last_tap = row.origin + row.reach;
        // In bounds: `row.origin` lies in `data` (the full-vector checks use `last_tap`).
        let p = row.data.as_ptr().add(row.origin);
        let mut ox = 0;
        while ox < n {
            let m = L.min(n - ox);
            // A full vector reads L·s bytes per tap; near the end of the data (or of the span) only
            // the bytes the lanes need are loaded, under a mask.
            let full = m == L && last_tap + (ox + L) * s <= len;
            let needed = if s == 1 { m } else { 2 * m - 1 };
            let byte_mask = if needed >= 64 { u64::MAX } else { (1u64 << needed) - 1 };
            let mut a = _mm512_setzero_si512();
            for (&t, &w) in row.taps.iter().zip(row.weights) {
                let wv = _mm512_set1_epi32(low_half(w));
                let at = p.add(t + ox * s);
                let x = match (s, full) {
                    (1, true) => _mm512_cvtepi8_epi32(_mm_loadu_si128(at.cast::<__m128i>())),
                    (1, false) => _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(byte_mask as u16, at)),
                    (_, true) => _mm512_cvtepi8_epi16(_mm256_loadu_si256(at.cast::<__m256i>())),
                    (_, false) => _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(byte_mask as u32, at)),
                };
                a = _mm512_dpwssd_epi32(a, x, wv);
            }
            if m == L {
                _mm512_storeu_si512(acc.as_mut_ptr().add(ox).cast(), a);
            } else {
                _mm512_mask_storeu_epi32(acc.as_mut_ptr().add(ox), ((1u32 << m) - 1) as u16, a);
            }
            ox += m;
        }
    }
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn row_avx2(row: &Row, acc: &mut [i32]) {
    unsafe {
        const L: usize = 8;
        let s = row.stride;
        let n = acc.len();
        let len = row.data.len();
        let last_tap = row.origin + row.reach;
        // In bounds: `row.origin` lies in `data` (the full-vector checks use `last_tap`).
        let p = row.data.as_ptr().add(row.origin);
        let mut ox = 0;
        if s == 1 || s == 2 {
            while ox + L <= n && last_tap + (ox + L) * s <= len {
                let mut a = _mm256_setzero_si256();
                for (&t, &w) in row.taps.iter().zip(row.weights) {
                    let wv = _mm256_set1_epi32(low_half(w));
                    let x = if s == 1 {
                        _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(t + ox).cast::<__m128i>()))
                    } else {
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(p.add(t + 2 * ox).cast::<__m128i>()))
                    };
                    a = _mm256_add_epi32(a, _mm256_madd_epi16(x, wv));
                }
                _mm256_storeu_si256(acc.as_mut_ptr().add(ox).cast::<__m256i>(), a);
                ox += L;
            }
        }
        row_scalar(row, ox, acc);
    }
}

/// [`plane_vbmi`], run where the CPU has AVX-512 VBMI (Ice Lake, Zen 4; not Cascade Lake).
pub(crate) const PLANE_VBMI: PlaneKernel = PlaneKernel { available: has_vbmi, run: plane_vbmi };

fn has_vbmi() -> bool {
    std::is_x86_feature_detected!("avx512vbmi")
}

/// One channel by the vector plan (see [`super::plan`]): `acc` = the channel's ow·oh sums, from
/// its padded plane at `plane` (the whole input buffer is `data`, the plane starts at `origin`).
/// Per vector and kernel row: one masked load, one `vpermb`, the +128 offset and one `vpdpbusd`
/// (the accumulator starts at −128·Σw, so the sums are exact).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
pub(crate) unsafe fn plane_vbmi(plan: &VecPlan, data: &[i8], origin: usize, weights: &[i8], acc: &mut [i32]) {
    unsafe {
        let (rows, comp) = plan.channel_weights(weights);
        let mut wv = [_mm512_setzero_si512(); MAX_KH];
        for (v, &r) in wv.iter_mut().zip(&rows).take(plan.kh) {
            *v = _mm512_set1_epi32(r);
        }
        let flip = _mm512_set1_epi8(-128);
        let start = _mm512_set1_epi32(comp);
        debug_assert!(plan.vecs.last().is_none_or(|v| v.out + v.lanes <= acc.len()));
        let p = data.as_ptr().add(origin);
        for v in &plan.vecs {
            debug_assert!(
                origin + v.at + (plan.kh - 1) * plan.row_step + (64 - v.load_mask.leading_zeros() as usize)
                    <= data.len()
            );
            let idx = _mm512_loadu_si512(plan.patterns.get_unchecked(v.pattern).as_ptr().cast());
            let mut a = start;
            for (ky, w) in wv.iter().enumerate().take(plan.kh) {
                // Only the window's needed bytes are read: they lie in the plane.
                let x = _mm512_maskz_loadu_epi8(v.load_mask, p.add(v.at + ky * plan.row_step));
                let x = _mm512_xor_si512(_mm512_permutexvar_epi8(idx, x), flip);
                a = _mm512_dpbusd_epi32(a, x, *w);
            }
            let dst = acc.as_mut_ptr().add(v.out);
            if v.lanes == 16 {
                _mm512_storeu_si512(dst.cast(), a);
            } else {
                _mm512_mask_storeu_epi32(dst, ((1u32 << v.lanes) - 1) as u16, a);
            }
        }
    }
}
