//! Packing: weights into the path's A layout `[row panel][k group][MR][G]` (once, at load) and
//! im2col columns into B panels `[k group][NR][G]` (per panel, at run time, by each path's
//! SIMD packer, which reads the panel's input runs described by [`Segments`]).

use super::layout::{Buf, ConvSource, Kernel, PackedA};
use super::Path;

/// Packs m×k row-major weights for kernel `K`; rows and k beyond the matrix are zero.
pub(crate) fn pack_a<K: Kernel>(path: Path, w: &[i8], m: usize, k: usize) -> PackedA {
    let (mr, g) = (K::MR, K::G);
    let kp = k.div_ceil(g) * g;
    let m_panels = m.div_ceil(mr);
    let mut data = Buf::zeroed::<K::A>(m_panels * mr * kp);
    let dst = data.view_mut::<K::A>();
    for p in 0..m {
        let (mp, r) = (p / mr, p % mr);
        for (kk, &v) in w[p * k..(p + 1) * k].iter().enumerate() {
            let (kg, e) = (kk / g, kk % g);
            dst[((mp * (kp / g) + kg) * mr + r) * g + e] = K::a_of(v);
        }
    }
    let comp = if K::OFFSET {
        (0..m).map(|p| 128 * w[p * k..(p + 1) * k].iter().map(|&v| i32::from(v)).sum::<i32>()).collect()
    } else {
        Vec::new()
    };
    PackedA::from_parts(path, m, k, kp, data, comp)
}

/// Runs of a panel's columns that are evenly spaced in the input: lanes `a..b` read
/// `data[row + off + (lane − a)·sw]`.
pub(crate) struct Segments {
    pub runs: [(u32, u32, usize); 33],
    pub len: usize,
}

impl Segments {
    pub fn of(src: &ConvSource, j0: usize, nr: usize) -> Segments {
        let mut seg = Segments { runs: [(0, 0, 0); 33], len: 0 };
        let end = (j0 + nr).min(src.n());
        let (sw, sh) = src.stride;
        let mut j = j0;
        while j < end {
            let (oy, ox) = (j / src.ow, j % src.ow);
            let run = (src.ow - ox).min(end - j);
            let off = oy * sh * src.pw + ox * sw;
            let (a, b) = ((j - j0) as u32, (j - j0 + run) as u32);
            match seg.runs[..seg.len].last_mut() {
                // The next output row continues the same input run (a dense or 1×1 unpadded source).
                Some(last) if last.2 + (last.1 - last.0) as usize * sw == off => last.1 = b,
                _ => {
                    seg.runs[seg.len] = (a, b, off);
                    seg.len += 1;
                }
            }
            j += run;
        }
        seg
    }
}

/// Row `row` of B for the panel's columns into `buf` (lanes past the last column stay as they
/// are): the scalar gather the SIMD packers fall back to when a panel is not one contiguous run.
#[inline(always)]
pub(crate) fn gather_runs(src: &ConvSource, seg: &Segments, row: usize, buf: &mut [i8]) {
    let sw = src.stride.0;
    for &(a, b, off) in &seg.runs[..seg.len] {
        for (i, v) in buf[a as usize..b as usize].iter_mut().enumerate() {
            *v = src.data[row + off + i * sw];
        }
    }
}
