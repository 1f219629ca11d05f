//! Packing: weights into the path's A layout `[row panel][k group][MR][G]` (once, at load) and
//! im2col columns into B panels `[k group][NR][G]` (per panel, at run time).

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

/// Row `r` of B (first pixel at `data[row]`) for columns `j0..j0+dst.len()`, zero past the
/// last column.
#[inline(always)]
pub(crate) fn gather_row(src: &ConvSource, row: usize, j0: usize, dst: &mut [i8]) {
    let n = src.n();
    let (sw, sh) = src.stride;
    let end = (j0 + dst.len()).min(n);
    if j0 >= end {
        dst.fill(0);
        return;
    }
    if sw == 1 && sh == 1 && src.pw == src.ow {
        // Consecutive pixels are consecutive bytes (1×1 unpadded, or a dense matrix).
        let s = row + j0;
        dst[..end - j0].copy_from_slice(&src.data[s..s + end - j0]);
    } else {
        let mut j = j0;
        while j < end {
            let (oy, ox) = (j / src.ow, j % src.ow);
            let run = (src.ow - ox).min(end - j);
            let base = row + oy * sh * src.pw + ox * sw;
            for (i, v) in dst[j - j0..j - j0 + run].iter_mut().enumerate() {
                *v = src.data[base + i * sw];
            }
            j += run;
        }
    }
    dst[end - j0..].fill(0);
}

/// One B panel: columns `j0..j0+NR`, all `kp` rows (rows past k are zero), laid out
/// `[k / G][NR][G]` with the path's element conversion.
#[inline(always)]
pub(crate) fn pack_b_body<K: Kernel>(
    src: &ConvSource,
    rows: &[usize],
    j0: usize,
    kp: usize,
    panel: &mut [K::B],
    scratch: &mut [i8],
) {
    let (nr, g) = (K::NR, K::G);
    for kg in 0..kp / g {
        for r in 0..g {
            let dst = &mut scratch[r * nr..(r + 1) * nr];
            match rows.get(kg * g + r) {
                Some(&row) => gather_row(src, row, j0, dst),
                None => dst.fill(0),
            }
        }
        let out = &mut panel[kg * nr * g..(kg + 1) * nr * g];
        for j in 0..nr {
            for r in 0..g {
                out[j * g + r] = K::b_of(scratch[r * nr + j]);
            }
        }
    }
}
