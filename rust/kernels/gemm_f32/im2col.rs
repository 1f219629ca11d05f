//! Implicit im2col: B of a convolution (rows = (channel, ky, kx), columns = output pixels) packed
//! straight from the padded input, a block at a time.

use super::PackB;
use crate::kernels::simd::{self, F32Vec, Isa};

/// A convolution input seen as the k×n matrix B of the GEMM.
pub struct ConvB<'a> {
    /// Padded input planes (`pw`×`ph` each); B rows start at plane `c0`.
    pub input: &'a [f32],
    pub pw: usize,
    pub ph: usize,
    pub c0: usize,
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub stride: (usize, usize),
    /// Output width (columns are oy·ow + ox).
    pub ow: usize,
}

impl PackB for ConvB<'_> {
    fn pack(&self, k0: usize, kc: usize, j0: usize, cols: usize, nr: usize, dst: &mut [f32]) {
        self.pack_on(simd::selected(), k0, kc, j0, cols, nr, dst)
    }
}

impl ConvB<'_> {
    /// [`PackB::pack`] with the strided reads of `isa` (tests compare every path).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pack_on(&self, isa: Isa, k0: usize, kc: usize, j0: usize, cols: usize, nr: usize, dst: &mut [f32]) {
        let (kw, kh) = self.kernel;
        let (dw, dh) = self.dilation;
        let (sw, sh) = self.stride;
        let plane_len = self.pw * self.ph;
        let strided = strided_entry(isa, sw);
        for p in 0..kc {
            let row = k0 + p;
            let (c, kk) = (row / (kw * kh), row % (kw * kh));
            let (ky, kx) = (kk / kw, kk % kw);
            let plane = &self.input[(self.c0 + c) * plane_len..(self.c0 + c + 1) * plane_len];
            let d = &mut dst[p * nr..(p + 1) * nr];
            let (mut oy, mut ox) = (j0 / self.ow, j0 % self.ow);
            let mut j = 0;
            while j < cols {
                let run = (self.ow - ox).min(cols - j);
                let base = (oy * sh + ky * dh) * self.pw + kx * dw + ox * sw;
                let out = &mut d[j..j + run];
                match strided {
                    _ if sw == 1 => out.copy_from_slice(&plane[base..base + run]),
                    // SAFETY: the entry's ISA was checked available when the path was chosen.
                    Some(f) => unsafe { f(&plane[base..], out) },
                    None => gather(&plane[base..], sw, out),
                }
                j += run;
                ox = 0;
                oy += 1;
            }
            d[cols..].iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

/// `out[t] = src[t·stride]`: the reference.
fn gather(src: &[f32], stride: usize, out: &mut [f32]) {
    for (t, v) in out.iter_mut().enumerate() {
        *v = src[t * stride];
    }
}

/// `out[t] = src[2t]` in vectors while the vector's read (2·LANES values) stays in `src`.
#[inline(always)]
unsafe fn gather2<V: F32Vec>(src: &[f32], out: &mut [f32], mut t: usize) -> usize {
    let l = V::LANES;
    while t + l <= out.len() && 2 * (t + l) <= src.len() {
        V::load_even(src.as_ptr().add(2 * t)).store(out.as_mut_ptr().add(t));
        t += l;
    }
    t
}

type StridedFn = unsafe fn(&[f32], &mut [f32]);

/// The vector path for stride 2 (the stem convolutions' and downsampling 1×1s'), if any.
fn strided_entry(isa: Isa, stride: usize) -> Option<StridedFn> {
    if stride != 2 {
        return None;
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(x86::gather2_avx2),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(x86::gather2_avx512),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(arm::gather2_neon),
        _ => None,
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use crate::kernels::simd::x86::{Avx2, Avx512};

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gather2_avx2(src: &[f32], out: &mut [f32]) {
        let t = gather2::<Avx2>(src, out, 0);
        gather(&src[2 * t..], 2, &mut out[t..]);
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn gather2_avx512(src: &[f32], out: &mut [f32]) {
        let t = gather2::<Avx512>(src, out, 0);
        let t = gather2::<Avx2>(src, out, t);
        gather(&src[2 * t..], 2, &mut out[t..]);
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::*;
    use crate::kernels::simd::arm::Neon;

    #[target_feature(enable = "neon")]
    pub unsafe fn gather2_neon(src: &[f32], out: &mut [f32]) {
        let t = gather2::<Neon>(src, out, 0);
        gather(&src[2 * t..], 2, &mut out[t..]);
    }
}
