//! x86_64 AVX2 path: sign-extend 16 int8 lanes to int16 and multiply-add pairs into int32.

use std::arch::x86_64::*;

/// # Safety
/// Needs AVX2; `a` and `b` have equal lengths.
#[target_feature(enable = "avx2")]
pub unsafe fn dot(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n - n % 16;
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i < body {
        let va = _mm256_cvtepi8_epi16(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
        let vb = _mm256_cvtepi8_epi16(_mm_loadu_si128(b.as_ptr().add(i) as *const __m128i));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(va, vb));
        i += 16;
    }
    let s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s) + super::reference::dot(&a[body..n], &b[body..n])
}
