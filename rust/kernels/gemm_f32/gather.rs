//! Strided reads of an implicit im2col row: stride 2 in vectors (each vector path's entry point),
//! any stride in the reference.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use crate::kernels::simd::F32Vec;

/// `out[t] = src[t·stride]`: the reference.
pub(crate) fn gather(src: &[f32], stride: usize, out: &mut [f32]) {
    for (t, v) in out.iter_mut().enumerate() {
        *v = src[t * stride];
    }
}

/// `out[t] = src[2t]` in vectors while the vector's read (2·LANES values) stays in `src`.
#[inline(always)]
unsafe fn gather2<V: F32Vec>(src: &[f32], out: &mut [f32], mut t: usize) -> usize {
    unsafe {
        let l = V::LANES;
        while t + l <= out.len() && 2 * (t + l) <= src.len() {
            V::load_even(src.as_ptr().add(2 * t)).store(out.as_mut_ptr().add(t));
            t += l;
        }
        t
    }
}

/// `out[t] = src[2t]`: each path's entry point for stride 2, the stem convolutions' and the
/// downsampling 1×1s' (unsafe: the CPU must run the path).
pub(crate) type Gather2Fn = unsafe fn(src: &[f32], out: &mut [f32]);

/// The reference path's stride-2 read.
pub(crate) fn gather2_reference(src: &[f32], out: &mut [f32]) {
    gather(src, 2, out);
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;
    use crate::kernels::simd::x86::{Avx2, Avx512};

    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn gather2_avx2(src: &[f32], out: &mut [f32]) {
        unsafe {
            let t = gather2::<Avx2>(src, out, 0);
            gather(&src[2 * t..], 2, &mut out[t..]);
        }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn gather2_avx512(src: &[f32], out: &mut [f32]) {
        unsafe {
            let t = gather2::<Avx512>(src, out, 0);
            let t = gather2::<Avx2>(src, out, t);
            gather(&src[2 * t..], 2, &mut out[t..]);
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use super::*;
    use crate::kernels::simd::arm::Neon;

    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn gather2_neon(src: &[f32], out: &mut [f32]) {
        unsafe {
            let t = gather2::<Neon>(src, out, 0);
            gather(&src[2 * t..], 2, &mut out[t..]);
        }
    }
}
