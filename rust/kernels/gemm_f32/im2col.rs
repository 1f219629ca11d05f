//! Implicit im2col: B of a convolution (rows = (channel, ky, kx), columns = output pixels) packed
//! straight from the padded input, a block at a time.

use super::gather::gather;
use super::PackB;
use crate::kernels::dispatch::{self, F32Path};

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
        self.pack_on(dispatch::F32.selected(), k0, kc, j0, cols, nr, dst);
    }
}

impl ConvB<'_> {
    /// [`PackB::pack`] with the strided reads of `path` (tests compare every path).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pack_on(
        &self,
        path: F32Path,
        k0: usize,
        kc: usize,
        j0: usize,
        cols: usize,
        nr: usize,
        dst: &mut [f32],
    ) {
        let (kw, kh) = self.kernel;
        let (dw, dh) = self.dilation;
        let (sw, sh) = self.stride;
        let plane_len = self.pw * self.ph;
        let gather2 = path.kernels().gather2;
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
                match sw {
                    1 => out.copy_from_slice(&plane[base..base + run]),
                    // SAFETY: dispatch hands out only paths this CPU runs.
                    2 => unsafe { gather2(&plane[base..], out) },
                    _ => gather(&plane[base..], sw, out),
                }
                j += run;
                ox = 0;
                oy += 1;
            }
            d[cols..].iter_mut().for_each(|v| *v = 0.0);
        }
    }
}
