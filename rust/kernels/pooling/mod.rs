//! 2-D max and average pooling of channel planes, and global pooling. The SIMD bodies reduce a
//! window's rows first (a vertical pass over whole input rows into a padded row buffer) and then
//! its columns (a horizontal pass at the stride), so both passes read contiguous memory. The
//! reference reduces in that same order (each column of the window, then the columns), so the
//! windowed paths are bit-exact; global average sums in lanes and is exact up to reassociation.

pub mod reference;
#[cfg(test)]
mod tests;

use super::simd::{hsum, F32Vec, Isa};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Max,
    Avg,
}

/// The value padding stands for: it never wins a max and adds nothing to a sum.
fn pad_value(method: Method) -> f32 {
    match method {
        Method::Max => -f32::MAX,
        Method::Avg => 0.0,
    }
}

/// One channel's pooling geometry in the coordinates of the padded plane (the input placed at
/// (left, top)). Windows start at multiples of the stride and stay inside the padded plane.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Input plane.
    pub w: usize,
    pub h: usize,
    pub left: usize,
    pub top: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub ow: usize,
    pub oh: usize,
    /// Average pooling divides by the window's overlap with this rectangle of padded coordinates
    /// `[x0, x1, y0, y1]` (ncnn's count_include_pad=0); None divides by kw·kh.
    pub counted: Option<[usize; 4]>,
}

impl Window {
    /// Width of the padded row the horizontal pass reads: every window, and the whole input.
    fn span(&self) -> usize {
        (self.ow.saturating_sub(1) * self.stride.0 + self.kernel.0).max(self.left + self.w)
    }

    /// Average pooling's divisor factors per output column and per output row (an output's
    /// divisor is their product, exact in f32 for any real kernel size).
    fn divisors(&self) -> (Vec<f32>, Vec<f32>) {
        let overlap = |a: usize, k: usize, lo: usize, hi: usize| ((a + k).min(hi).saturating_sub(a.max(lo))) as f32;
        let (kw, kh) = self.kernel;
        let [x0, x1, y0, y1] = self.counted.unwrap_or([0, usize::MAX / 2, 0, usize::MAX / 2]);
        let cols = (0..self.ow).map(|ox| overlap(ox * self.stride.0, kw, x0, x1)).collect();
        let rows = (0..self.oh).map(|oy| overlap(oy * self.stride.1, kh, y0, y1)).collect();
        (cols, rows)
    }
}

/// Elements per parallel task: small blobs stay on one thread.
const PAR_MIN: usize = 1 << 14;

/// Pools each `w`×`h` plane of `input` into `ow`×`oh` planes of `out`.
pub fn pool(isa: Isa, method: Method, win: &Window, channels: usize, input: &[f32], out: &mut [f32]) {
    let (plane_in, plane_out) = (win.w * win.h, win.ow * win.oh);
    assert!(input.len() >= plane_in * channels && out.len() == plane_out * channels);
    let (kw, kh) = win.kernel;
    assert!(kw > 0 && kh > 0 && win.stride.0 > 0 && win.stride.1 > 0);
    if plane_out == 0 || channels == 0 {
        return;
    }
    let simd = simd_entry(isa);
    let divisors = (method == Method::Avg).then(|| win.divisors());
    let div = divisors.as_ref().map(|(c, r)| (c.as_slice(), r.as_slice()));
    let run = |row: &mut Vec<f32>, (c, o): (usize, &mut [f32])| {
        let x = &input[c * plane_in..(c + 1) * plane_in];
        match simd {
            // SAFETY: the entry's ISA was checked available when the path was chosen.
            Some(f) => unsafe { f(method, win, div, x, o, row) },
            None => reference::plane(method, win, x, o),
        }
    };
    if rayon::current_num_threads() > 1 && channels * (plane_in + plane_out) > PAR_MIN {
        let per_task = (PAR_MIN / (plane_in + plane_out)).max(1);
        out.par_chunks_mut(plane_out).enumerate().with_min_len(per_task).for_each_init(Vec::new, run);
    } else {
        let mut row = Vec::new();
        out.chunks_mut(plane_out).enumerate().for_each(|t| run(&mut row, t));
    }
}

/// Reduces each plane of `plane` elements to one value (max, or mean).
pub fn global(isa: Isa, method: Method, plane: usize, input: &[f32], out: &mut [f32]) {
    let channels = out.len();
    assert!(input.len() >= plane * channels);
    let simd = global_entry(isa);
    let run = |(c, o): (usize, &mut f32)| {
        let x = &input[c * plane..(c + 1) * plane];
        *o = match simd {
            // SAFETY: as in `pool`.
            Some(f) => unsafe { f(method, x) },
            None => reference::global(method, x),
        };
    };
    if rayon::current_num_threads() > 1 && channels * plane > PAR_MIN {
        let per_task = (PAR_MIN / plane.max(1)).max(1);
        out.par_iter_mut().enumerate().with_min_len(per_task).for_each(run);
    } else {
        out.iter_mut().enumerate().for_each(run);
    }
}

type PlaneFn = unsafe fn(Method, &Window, Option<(&[f32], &[f32])>, &[f32], &mut [f32], &mut Vec<f32>);
type GlobalFn = unsafe fn(Method, &[f32]) -> f32;

fn simd_entry(isa: Isa) -> Option<PlaneFn> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(x86::plane_avx2),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(x86::plane_avx512),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(arm::plane_neon),
        _ => None,
    }
}

fn global_entry(isa: Isa) -> Option<GlobalFn> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(x86::global_avx2),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(x86::global_avx512),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(arm::global_neon),
        _ => None,
    }
}

/// `dst[i] = op(dst[i], src[i])` (or `op(pad, src[i])` with `init`), in vectors then scalars.
#[inline(always)]
unsafe fn vertical<V: F32Vec>(method: Method, dst: &mut [f32], src: &[f32], init: Option<f32>) {
    let (l, n) = (V::LANES, dst.len());
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    let mut i = 0;
    macro_rules! op {
        ($a:expr, $b:expr) => {
            match method {
                Method::Max => V::max($a, $b),
                Method::Avg => V::add($a, $b),
            }
        };
    }
    match init {
        Some(pad) => {
            let p = V::splat(pad);
            while i + l <= n {
                op!(p, V::load(s.add(i))).store(d.add(i));
                i += l;
            }
        }
        None => {
            while i + l <= n {
                op!(V::load(d.add(i)), V::load(s.add(i))).store(d.add(i));
                i += l;
            }
        }
    }
    for j in i..n {
        let a = init.unwrap_or(dst[j]);
        dst[j] = reference::op(method, a, src[j]);
    }
}

/// One channel; `kw`.. `sh` are the window's, passed as constants by [`specialised`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn body<V: F32Vec>(
    method: Method,
    win: &Window,
    kw: usize,
    kh: usize,
    sw: usize,
    sh: usize,
    div: Option<(&[f32], &[f32])>,
    x: &[f32],
    out: &mut [f32],
    row: &mut Vec<f32>,
) {
    let l = V::LANES;
    let (w, h, left, top) = (win.w, win.h, win.left, win.top);
    let pad = pad_value(method);
    // The stride-2 read takes 2·LANES values from the last vector's start.
    let span = win.span();
    row.clear();
    row.resize(span + 2 * l + kw, pad);
    // Vectors for outputs whose reads stay in the buffer; stride > 2 is horizontal-scalar. A
    // row's tail is one more vector ending at its last output (recomputing a few outputs with the
    // same operations), so only rows narrower than a vector go scalar.
    let vectors = if sw <= 2 && win.ow >= l { win.ow.div_ceil(l) } else { 0 };
    let vec_end = if vectors > 0 { win.ow } else { 0 };
    for oy in 0..win.oh {
        let y0 = oy * sh;
        let (r0, r1) = (y0.max(top), (y0 + kh).min(top + h));
        {
            let mid = &mut row[left..left + w];
            if r0 >= r1 {
                mid.fill(pad);
            } else {
                // A window with padding rows keeps max's pad value in play, as the reference does.
                let first = &x[(r0 - top) * w..][..w];
                if r1 - r0 < kh && method == Method::Max {
                    vertical::<V>(method, mid, first, Some(pad));
                } else {
                    mid.copy_from_slice(first);
                }
                for r in r0 + 1..r1 {
                    vertical::<V>(method, mid, &x[(r - top) * w..][..w], None);
                }
            }
        }
        let orow = &mut out[oy * win.ow..(oy + 1) * win.ow];
        let t = row.as_ptr();
        for v in 0..vectors {
            let ox = (v * l).min(win.ow - l);
            let base = t.add(ox * sw);
            // A macro, not a closure: closures do not inherit the entry point's target features.
            macro_rules! ld {
                ($p:expr) => {
                    if sw == 1 {
                        V::load($p)
                    } else {
                        V::load_even($p)
                    }
                };
            }
            let mut acc = ld!(base);
            for kx in 1..kw {
                acc = match method {
                    Method::Max => V::max(acc, ld!(base.add(kx))),
                    Method::Avg => V::add(acc, ld!(base.add(kx))),
                };
            }
            if let Some((cols, rows)) = div {
                acc = V::div(acc, V::mul(V::load(cols.as_ptr().add(ox)), V::splat(rows[oy])));
            }
            acc.store(orow.as_mut_ptr().add(ox));
        }
        for (ox, o) in orow.iter_mut().enumerate().skip(vec_end) {
            let base = &row[ox * sw..];
            let mut acc = base[0];
            for &v in &base[1..kw] {
                acc = reference::op(method, acc, v);
            }
            if let Some((cols, rows)) = div {
                acc /= cols[ox] * rows[oy];
            }
            *o = acc;
        }
    }
}

/// Dispatches to a body with the common windows as constants (so their loops unroll).
#[inline(always)]
unsafe fn specialised<V: F32Vec>(
    method: Method,
    win: &Window,
    div: Option<(&[f32], &[f32])>,
    x: &[f32],
    out: &mut [f32],
    row: &mut Vec<f32>,
) {
    let (kw, kh) = win.kernel;
    let (sw, sh) = win.stride;
    match (kw, kh, sw, sh) {
        (3, 3, 2, 2) => body::<V>(method, win, 3, 3, 2, 2, div, x, out, row),
        (2, 2, 2, 2) => body::<V>(method, win, 2, 2, 2, 2, div, x, out, row),
        (3, 3, 1, 1) => body::<V>(method, win, 3, 3, 1, 1, div, x, out, row),
        _ => body::<V>(method, win, kw, kh, sw, sh, div, x, out, row),
    }
}

/// Max or mean of a plane, in four vectors of lanes and a scalar tail.
#[inline(always)]
unsafe fn global_body<V: F32Vec>(method: Method, x: &[f32]) -> f32 {
    let (l, n, p) = (V::LANES, x.len(), x.as_ptr());
    let mut i = 0;
    match method {
        Method::Max => {
            let mut acc = [V::splat(-f32::MAX); 4];
            while i + 4 * l <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = V::max(*a, V::load(p.add(i + j * l)));
                }
                i += 4 * l;
            }
            while i + l <= n {
                acc[0] = V::max(acc[0], V::load(p.add(i)));
                i += l;
            }
            let v = V::max(V::max(acc[0], acc[1]), V::max(acc[2], acc[3]));
            let mut lanes = [0.0f32; 16];
            v.store(lanes.as_mut_ptr());
            lanes[..l].iter().chain(&x[i..]).copied().fold(-f32::MAX, f32::max)
        }
        Method::Avg => {
            let mut acc = [V::zero(); 4];
            while i + 4 * l <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = V::add(*a, V::load(p.add(i + j * l)));
                }
                i += 4 * l;
            }
            while i + l <= n {
                acc[0] = V::add(acc[0], V::load(p.add(i)));
                i += l;
            }
            let v = V::add(V::add(acc[0], acc[1]), V::add(acc[2], acc[3]));
            (hsum(v) + x[i..].iter().sum::<f32>()) / n as f32
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use crate::kernels::simd::x86::{Avx2, Avx512, Sse};

    // Narrow planes use fewer lanes: a wide vector would leave most of each row to the scalars.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn plane_avx2(
        m: Method,
        win: &Window,
        div: Option<(&[f32], &[f32])>,
        x: &[f32],
        out: &mut [f32],
        row: &mut Vec<f32>,
    ) {
        if win.ow >= 8 {
            specialised::<Avx2>(m, win, div, x, out, row)
        } else {
            specialised::<Sse>(m, win, div, x, out, row)
        }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn plane_avx512(
        m: Method,
        win: &Window,
        div: Option<(&[f32], &[f32])>,
        x: &[f32],
        out: &mut [f32],
        row: &mut Vec<f32>,
    ) {
        match win.ow {
            16.. => specialised::<Avx512>(m, win, div, x, out, row),
            8.. => specialised::<Avx2>(m, win, div, x, out, row),
            _ => specialised::<Sse>(m, win, div, x, out, row),
        }
    }
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn global_avx2(m: Method, x: &[f32]) -> f32 {
        global_body::<Avx2>(m, x)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn global_avx512(m: Method, x: &[f32]) -> f32 {
        if x.len() >= 64 {
            global_body::<Avx512>(m, x)
        } else {
            global_body::<Avx2>(m, x)
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::*;
    use crate::kernels::simd::arm::Neon;

    #[target_feature(enable = "neon")]
    pub unsafe fn plane_neon(
        m: Method,
        win: &Window,
        div: Option<(&[f32], &[f32])>,
        x: &[f32],
        out: &mut [f32],
        row: &mut Vec<f32>,
    ) {
        specialised::<Neon>(m, win, div, x, out, row)
    }
    #[target_feature(enable = "neon")]
    pub unsafe fn global_neon(m: Method, x: &[f32]) -> f32 {
        global_body::<Neon>(m, x)
    }
}
