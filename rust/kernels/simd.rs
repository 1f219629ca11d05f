//! A small vector trait that lets one generic f32 kernel body compile into each instruction set.
//!
//! A kernel body is an `#[inline(always)]` function generic over [`F32Vec`]; each instruction set
//! gets an entry point marked `#[target_feature(enable = ...)]` that calls the body with its
//! vector type, so the intrinsics inline into code compiled for that instruction set. Which entry
//! point runs is [`super::dispatch`]'s choice.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

/// A SIMD register of f32 lanes.
///
/// # Safety
/// Every method is `unsafe`: the caller guarantees the CPU has the instruction set and that
/// pointers are valid for `LANES` (or `2·LANES` for `load_even`) floats.
#[allow(clippy::missing_safety_doc)]
pub trait F32Vec: Copy {
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(x: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    /// p[0], p[2], …, p[2·(LANES-1)]: the stride-2 read of depthwise convolutions.
    unsafe fn load_even(p: *const f32) -> Self;
    /// (p[0], p[2], …) and (p[1], p[3], …) from the same 2·LANES values that `load_even(p)`
    /// reads: two taps of a stride-2 row from one pair of loads.
    #[inline(always)]
    unsafe fn load_even_odd(p: *const f32) -> (Self, Self) {
        unsafe { (Self::load_even(p), Self::load_even(p.add(1))) }
    }
    /// a·b + c
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    unsafe fn add(a: Self, b: Self) -> Self;
    unsafe fn sub(a: Self, b: Self) -> Self;
    unsafe fn mul(a: Self, b: Self) -> Self;
    unsafe fn div(a: Self, b: Self) -> Self;
    unsafe fn max(a: Self, b: Self) -> Self;
    unsafe fn min(a: Self, b: Self) -> Self;
    /// Hints that the cache line at `p` will be read soon (any address: never faults).
    #[inline(always)]
    unsafe fn prefetch(_p: *const f32) {}
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use super::F32Vec;
    use std::arch::x86_64::*;

    /// 4 lanes with FMA: for rows too narrow for the wider registers.
    #[derive(Clone, Copy)]
    pub struct Sse(pub __m128);

    impl F32Vec for Sse {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> Self {
            unsafe { Sse(_mm_setzero_ps()) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            unsafe { Sse(_mm_set1_ps(x)) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { Sse(_mm_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        unsafe fn load_even(p: *const f32) -> Self {
            unsafe { Sse(_mm_shuffle_ps::<0b10_00_10_00>(_mm_loadu_ps(p), _mm_loadu_ps(p.add(4)))) }
        }
        #[inline(always)]
        unsafe fn load_even_odd(p: *const f32) -> (Self, Self) {
            unsafe {
                let (a, b) = (_mm_loadu_ps(p), _mm_loadu_ps(p.add(4)));
                (Sse(_mm_shuffle_ps::<0b10_00_10_00>(a, b)), Sse(_mm_shuffle_ps::<0b11_01_11_01>(a, b)))
            }
        }
        #[inline(always)]
        unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
            unsafe { Sse(_mm_fmadd_ps(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            unsafe { Sse(_mm_add_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn sub(a: Self, b: Self) -> Self {
            unsafe { Sse(_mm_sub_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn mul(a: Self, b: Self) -> Self {
            unsafe { Sse(_mm_mul_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn div(a: Self, b: Self) -> Self {
            unsafe { Sse(_mm_div_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn max(a: Self, b: Self) -> Self {
            unsafe { Sse(_mm_max_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn min(a: Self, b: Self) -> Self {
            unsafe { Sse(_mm_min_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
        }
    }

    #[derive(Clone, Copy)]
    pub struct Avx2(pub __m256);

    impl F32Vec for Avx2 {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> Self {
            unsafe { Avx2(_mm256_setzero_ps()) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            unsafe { Avx2(_mm256_set1_ps(x)) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { Avx2(_mm256_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm256_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        unsafe fn load_even(p: *const f32) -> Self {
            unsafe {
                let a = _mm256_loadu_ps(p);
                let b = _mm256_loadu_ps(p.add(8));
                // [a0 a2 b0 b2 | a4 a6 b4 b6] then reorder the 64-bit pairs to a0 a2 a4 a6 b0 b2 b4 b6.
                let s = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
                Avx2(_mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(s))))
            }
        }
        #[inline(always)]
        unsafe fn load_even_odd(p: *const f32) -> (Self, Self) {
            unsafe {
                let (a, b) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
                // As load_even; the odd lanes by the other shuffle: [a1 a3 b1 b3 | a5 a7 b5 b7].
                let (e, o) = (_mm256_shuffle_ps::<0b10_00_10_00>(a, b), _mm256_shuffle_ps::<0b11_01_11_01>(a, b));
                (
                    Avx2(_mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(e)))),
                    Avx2(_mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(o)))),
                )
            }
        }
        #[inline(always)]
        unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
            unsafe { Avx2(_mm256_fmadd_ps(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            unsafe { Avx2(_mm256_add_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn sub(a: Self, b: Self) -> Self {
            unsafe { Avx2(_mm256_sub_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn mul(a: Self, b: Self) -> Self {
            unsafe { Avx2(_mm256_mul_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn div(a: Self, b: Self) -> Self {
            unsafe { Avx2(_mm256_div_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn max(a: Self, b: Self) -> Self {
            unsafe { Avx2(_mm256_max_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn min(a: Self, b: Self) -> Self {
            unsafe { Avx2(_mm256_min_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
        }
    }

    #[derive(Clone, Copy)]
    pub struct Avx512(pub __m512);

    impl F32Vec for Avx512 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> Self {
            unsafe { Avx512(_mm512_setzero_ps()) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            unsafe { Avx512(_mm512_set1_ps(x)) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { Avx512(_mm512_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm512_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        unsafe fn load_even(p: *const f32) -> Self {
            unsafe {
                let a = _mm512_loadu_ps(p);
                let b = _mm512_loadu_ps(p.add(16));
                let idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
                Avx512(_mm512_permutex2var_ps(a, idx, b))
            }
        }
        #[inline(always)]
        unsafe fn load_even_odd(p: *const f32) -> (Self, Self) {
            unsafe {
                let (a, b) = (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)));
                let even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
                let odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
                (Avx512(_mm512_permutex2var_ps(a, even, b)), Avx512(_mm512_permutex2var_ps(a, odd, b)))
            }
        }
        #[inline(always)]
        unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
            unsafe { Avx512(_mm512_fmadd_ps(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_add_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn sub(a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_sub_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn mul(a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_mul_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn div(a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_div_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn max(a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_max_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn min(a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_min_ps(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub mod arm {
    use super::F32Vec;
    use std::arch::aarch64::*;

    #[derive(Clone, Copy)]
    pub struct Neon(pub float32x4_t);

    impl F32Vec for Neon {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> Self {
            unsafe { Neon(vdupq_n_f32(0.0)) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            unsafe { Neon(vdupq_n_f32(x)) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { Neon(vld1q_f32(p)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { vst1q_f32(p, self.0) }
        }
        #[inline(always)]
        unsafe fn load_even(p: *const f32) -> Self {
            unsafe { Neon(vld2q_f32(p).0) }
        }
        #[inline(always)]
        unsafe fn load_even_odd(p: *const f32) -> (Self, Self) {
            unsafe {
                let v = vld2q_f32(p);
                (Neon(v.0), Neon(v.1))
            }
        }
        #[inline(always)]
        unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
            unsafe { Neon(vfmaq_f32(c.0, a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            unsafe { Neon(vaddq_f32(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn sub(a: Self, b: Self) -> Self {
            unsafe { Neon(vsubq_f32(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn mul(a: Self, b: Self) -> Self {
            unsafe { Neon(vmulq_f32(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn div(a: Self, b: Self) -> Self {
            unsafe { Neon(vdivq_f32(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn max(a: Self, b: Self) -> Self {
            unsafe { Neon(vmaxq_f32(a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn min(a: Self, b: Self) -> Self {
            unsafe { Neon(vminq_f32(a.0, b.0)) }
        }
    }
}

/// Fused activations the kernels apply in registers; the others run on the stored tile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RegAct {
    None,
    Relu,
    Leaky(f32),
    Clip(f32, f32),
}

impl RegAct {
    /// Splits an activation into the in-register part and what remains for a scalar pass.
    pub fn split(a: crate::base::Activation) -> (RegAct, Option<crate::base::Activation>) {
        use crate::base::Activation as A;
        match a {
            A::Identity => (RegAct::None, None),
            A::Relu => (RegAct::Relu, None),
            A::LeakyRelu(s) => (RegAct::Leaky(s), None),
            A::Clip(lo, hi) => (RegAct::Clip(lo, hi), None),
            other => (RegAct::None, Some(other)),
        }
    }

    /// Matches ncnn: leaky is `x > 0 ? x : x·slope`, clip is `min(max(x, lo), hi)`.
    ///
    /// # Safety
    /// The CPU has `V`'s instruction set.
    #[inline(always)]
    pub unsafe fn apply<V: F32Vec>(self, x: V) -> V {
        unsafe {
            match self {
                RegAct::None => x,
                RegAct::Relu => V::max(x, V::zero()),
                RegAct::Leaky(s) => {
                    let z = V::zero();
                    V::add(V::max(x, z), V::mul(V::min(x, z), V::splat(s)))
                }
                RegAct::Clip(lo, hi) => V::min(V::max(x, V::splat(lo)), V::splat(hi)),
            }
        }
    }

    /// On a lane array, with the match outside the lane loop so it vectorizes.
    #[inline(always)]
    pub fn apply_lanes<const L: usize>(self, x: [f32; L]) -> [f32; L] {
        match self {
            RegAct::None => x,
            RegAct::Relu => x.map(|v| v.max(0.0)),
            RegAct::Leaky(s) => x.map(|v| v.max(0.0) + v.min(0.0) * s),
            RegAct::Clip(lo, hi) => x.map(|v| v.max(lo).min(hi)),
        }
    }

    #[inline(always)]
    pub fn apply_scalar(self, x: f32) -> f32 {
        match self {
            RegAct::None => x,
            RegAct::Relu => x.max(0.0),
            RegAct::Leaky(s) => x.max(0.0) + x.min(0.0) * s,
            RegAct::Clip(lo, hi) => x.max(lo).min(hi),
        }
    }
}

/// The sum of a vector's lanes.
///
/// # Safety
/// The CPU has `V`'s instruction set.
#[inline(always)]
pub unsafe fn hsum<V: F32Vec>(v: V) -> f32 {
    unsafe {
        let mut lanes = [0.0f32; 16];
        v.store(lanes.as_mut_ptr());
        lanes[..V::LANES].iter().sum()
    }
}
