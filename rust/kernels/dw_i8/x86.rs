//! x86_64 depthwise rows: AVX-512 (16 pixels, `vpdpwssd`) and AVX2 (8 pixels, `vpmaddwd`).

use super::{row_scalar, Row};
use std::arch::x86_64::*;

/// The weight in the low int16 half of each int32 lane, 0 in the high half.
#[inline(always)]
fn low_half(w: i8) -> i32 {
    i32::from(w as i16 as u16)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn row_avx512vnni(row: &Row, acc: &mut [i32]) {
    const L: usize = 16;
    let s = row.stride;
    let n = acc.len();
    let len = row.data.len();
    let last_tap = row.taps.iter().copied().max().unwrap_or(0);
    let p = row.data.as_ptr();
    let mut ox = 0;
    if s == 1 || s == 2 {
        // A vector of L pixels reads L·s bytes from each tap; stop before reading past `data`.
        while ox + L <= n && last_tap + (ox + L) * s <= len {
            let mut a = _mm512_setzero_si512();
            for (&t, &w) in row.taps.iter().zip(row.weights) {
                let wv = _mm512_set1_epi32(low_half(w));
                let x = if s == 1 {
                    _mm512_cvtepi8_epi32(_mm_loadu_si128(p.add(t + ox) as *const __m128i))
                } else {
                    _mm512_cvtepi8_epi16(_mm256_loadu_si256(p.add(t + 2 * ox) as *const __m256i))
                };
                a = _mm512_dpwssd_epi32(a, x, wv);
            }
            _mm512_storeu_si512(acc.as_mut_ptr().add(ox) as *mut _, a);
            ox += L;
        }
    }
    row_scalar(row, ox, acc);
}

#[target_feature(enable = "avx2")]
pub unsafe fn row_avx2(row: &Row, acc: &mut [i32]) {
    const L: usize = 8;
    let s = row.stride;
    let n = acc.len();
    let len = row.data.len();
    let last_tap = row.taps.iter().copied().max().unwrap_or(0);
    let p = row.data.as_ptr();
    let mut ox = 0;
    if s == 1 || s == 2 {
        while ox + L <= n && last_tap + (ox + L) * s <= len {
            let mut a = _mm256_setzero_si256();
            for (&t, &w) in row.taps.iter().zip(row.weights) {
                let wv = _mm256_set1_epi32(low_half(w));
                let x = if s == 1 {
                    _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(t + ox) as *const __m128i))
                } else {
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(p.add(t + 2 * ox) as *const __m128i))
                };
                a = _mm256_add_epi32(a, _mm256_madd_epi16(x, wv));
            }
            _mm256_storeu_si256(acc.as_mut_ptr().add(ox) as *mut __m256i, a);
            ox += L;
        }
    }
    row_scalar(row, ox, acc);
}
