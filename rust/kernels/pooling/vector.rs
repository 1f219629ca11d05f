//! The vector pooling bodies, generic over [`F32Vec`], each path's entry points, and each path's
//! [`PoolingFns`], which dispatch picks from.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use super::reference;
use super::window::{pad_value, Method, Window};
use crate::kernels::simd::{hsum, F32Vec};

/// One channel's windows (unsafe: the CPU must run the path): `div` is average pooling's divisor
/// factors per output column and row, `row` scratch.
pub(crate) type PlaneFn = unsafe fn(Method, &Window, Option<(&[f32], &[f32])>, &[f32], &mut [f32], &mut Vec<f32>);
/// A whole plane reduced to one value (unsafe: the CPU must run the path).
pub(crate) type GlobalFn = unsafe fn(Method, &[f32]) -> f32;

/// One path's pooling kernels.
#[derive(Clone, Copy)]
pub struct PoolingFns {
    pub(crate) plane: PlaneFn,
    pub(crate) global: GlobalFn,
}

/// The reference path: element by element, in the order the vector bodies reduce.
pub(crate) const REFERENCE: PoolingFns = PoolingFns { plane: plane_reference, global: reference::global };

fn plane_reference(
    method: Method,
    win: &Window,
    _div: Option<(&[f32], &[f32])>,
    x: &[f32],
    out: &mut [f32],
    _row: &mut Vec<f32>,
) {
    reference::plane(method, win, x, out);
}

/// `dst[i]` = the `rows` rows of `w` values from `src` reduced top to bottom (starting from
/// `op(pad, first)` with `init`), in one pass: each vector of dst is loaded from every row and
/// stored once, instead of a copy and a read-modify-write pass per further row.
#[inline(always)]
unsafe fn vertical<V: F32Vec>(method: Method, dst: &mut [f32], src: &[f32], rows: usize, init: Option<f32>) {
    unsafe {
        let (l, n) = (V::LANES, dst.len());
        assert!(rows >= 1 && src.len() >= rows * n);
        let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
        macro_rules! op {
            ($a:expr, $b:expr) => {
                match method {
                    Method::Max => V::max($a, $b),
                    Method::Avg => V::add($a, $b),
                }
            };
        }
        macro_rules! vector {
            ($i:expr) => {{
                let i = $i;
                let mut acc = V::load(s.add(i));
                if let Some(pad) = init {
                    acc = op!(V::splat(pad), acc);
                }
                for r in 1..rows {
                    acc = op!(acc, V::load(s.add(r * n + i)));
                }
                acc.store(d.add(i));
            }};
        }
        let mut i = 0;
        while i + l <= n {
            vector!(i);
            i += l;
        }
        if i < n && n >= l {
            // The tail as one more vector ending at the row's end (same values recomputed).
            vector!(n - l);
            i = n;
        }
        for j in i..n {
            let mut acc = init.map_or(src[j], |pad| reference::op(method, pad, src[j]));
            for r in 1..rows {
                acc = reference::op(method, acc, src[r * n + j]);
            }
            dst[j] = acc;
        }
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
    unsafe {
        let l = V::LANES;
        let (w, h, left, top) = (win.w, win.h, win.left, win.top);
        let pad = pad_value(method);
        // The stride-2 read takes 2·LANES values from the last vector's start.
        let span = win.span();
        // Two row buffers, used in turn: row oy+1's vertical pass runs before row oy's horizontal
        // one, so the horizontal reads (unaligned, each across two of the vertical pass's stores)
        // find those stores done instead of waiting for them.
        let len = span + 2 * l + kw;
        row.clear();
        row.resize(2 * len, pad);
        // Vectors for outputs whose reads stay in the buffer; stride > 2 is horizontal-scalar. A
        // row's tail is one more vector ending at its last output (recomputing a few outputs with the
        // same operations), so only rows narrower than a vector go scalar.
        let vectors = if sw <= 2 && win.ow >= l { win.ow.div_ceil(l) } else { 0 };
        let vec_end = if vectors > 0 { win.ow } else { 0 };
        // Output row oy's windows reduced over their rows into buffer oy % 2.
        macro_rules! reduce_rows {
            ($oy:expr) => {{
                let oy = $oy;
                let y0 = oy * sh;
                let (r0, r1) = (y0.max(top), (y0 + kh).min(top + h));
                let mid = &mut row[(oy % 2) * len + left..][..w];
                if r0 >= r1 {
                    mid.fill(pad);
                } else {
                    let rows = &x[(r0 - top) * w..(r1 - top) * w];
                    if r1 - r0 == kh {
                        // A whole window: `kh` is a constant here, so the row loop unrolls.
                        vertical::<V>(method, mid, rows, kh, None);
                    } else {
                        // A window with padding rows keeps max's pad value in play, as the reference does.
                        let init = (method == Method::Max).then_some(pad);
                        vertical::<V>(method, mid, rows, r1 - r0, init);
                    }
                }
            }};
        }
        if win.oh > 0 {
            reduce_rows!(0);
        }
        for oy in 0..win.oh {
            if oy + 1 < win.oh {
                reduce_rows!(oy + 1);
            }
            let row = &row[(oy % 2) * len..][..len];
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
                macro_rules! op {
                    ($a:expr, $b:expr) => {
                        match method {
                            Method::Max => V::max($a, $b),
                            Method::Avg => V::add($a, $b),
                        }
                    };
                }
                let mut acc;
                if sw == 2 && kw >= 2 {
                    // Taps kx and kx+1 are the even and odd lanes of the same two loads.
                    let (even, odd) = V::load_even_odd(base);
                    acc = op!(even, odd);
                    let mut kx = 2;
                    while kx + 1 < kw {
                        let (even, odd) = V::load_even_odd(base.add(kx));
                        acc = op!(op!(acc, even), odd);
                        kx += 2;
                    }
                    if kx < kw {
                        acc = op!(acc, V::load_even(base.add(kx)));
                    }
                } else {
                    acc = ld!(base);
                    for kx in 1..kw {
                        acc = op!(acc, ld!(base.add(kx)));
                    }
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
}

/// 2×2 stride-2 max pooling whose windows all lie inside the plane (no padding, as in vgg16's
/// pooling layers): each vector of outputs from two vectors of each of its two input rows, their
/// vertical maxima split into even and odd columns through a small buffer (stored and reloaded
/// whole, so the stores forward), with no pass over a row buffer. The reduction order is the
/// reference's: each column top to bottom, then the two columns left to right. On vgg16's pool1
/// (64 planes of 224×224) and pool2 (128 of 112×112) the two passes took ~0.8 and ~0.4 ms against
/// real ncnn's ~0.33 and ~0.12.
#[inline(always)]
unsafe fn max2x2s2_inside<V: F32Vec>(win: &Window, x: &[f32], out: &mut [f32]) {
    unsafe {
        let (l, w, ow) = (V::LANES, win.w, win.ow);
        debug_assert!(ow >= l && 2 * ow <= w && 2 * win.oh <= win.h);
        let mut pair = [0.0f32; 32];
        let pp = pair.as_mut_ptr();
        for oy in 0..win.oh {
            let r0 = x.as_ptr().add(2 * oy * w);
            let r1 = r0.add(w);
            let orow = out.as_mut_ptr().add(oy * ow);
            // The last vector ends at the row's last output (a few outputs computed twice).
            let mut ox = 0;
            loop {
                let c = 2 * ox;
                V::max(V::load(r0.add(c)), V::load(r1.add(c))).store(pp);
                V::max(V::load(r0.add(c + l)), V::load(r1.add(c + l))).store(pp.add(l));
                let (even, odd) = V::load_even_odd(pp);
                V::max(even, odd).store(orow.add(ox));
                if ox + l >= ow {
                    break;
                }
                ox = (ox + l).min(ow - l);
            }
        }
    }
}

/// Whether [`max2x2s2_inside`] computes these windows with vectors of `lanes`.
fn is_max2x2s2_inside(method: Method, win: &Window, lanes: usize) -> bool {
    method == Method::Max
        && win.kernel == (2, 2)
        && win.stride == (2, 2)
        && win.left == 0
        && win.top == 0
        && win.ow >= lanes
        && 2 * win.ow <= win.w
        && 2 * win.oh <= win.h
}

/// Whether [`max_s1_small`] takes these windows: stride-1 max pooling of a small plane (its
/// padded rows at most 12 wide). googlenet's 28×28 pools (30 wide) took 1.2–1.4 times as long
/// flat as row by row; its 14×14 ones (16 wide) had 0.78–0.91 of the minimums but 0.95–1.06 of
/// the medians (1 thread, two runs of 6 and 8 alternated rounds), so they stay row by row. The
/// windows must reach the input's last row: [`max_s1_small`]'s padded copy holds the rows they
/// read (`oh + kh - 1`) and no more.
fn is_max_s1_small(method: Method, win: &Window) -> bool {
    let width = win.span();
    method == Method::Max && win.stride == (1, 1) && width <= 12 && win.oh + win.kernel.1 > win.top + win.h
}

/// Stride-1 max pooling of a small plane (googlenet's 3×3 pad-1 pools on 7×7 maps): the
/// plane is copied once into a padded buffer `W` = [`Window::span`] wide, and both passes run over
/// the buffer as one flat array (an output row's windows and the next row's lie `W` apart), so
/// each vector covers parts of several rows. The row-by-row body ran 7-value rows in two 4-lane
/// vectors per pass and row, with a row buffer's set-up per plane: 832 planes of 7×7 took ~0.08
/// ms against ncnn's ~0.035 (which pools 16 channels per vector). Same order as the reference:
/// each column top to bottom (from the pad above, if any), then the columns left to right.
#[inline(always)]
unsafe fn max_s1_small<V: F32Vec>(win: &Window, kw: usize, kh: usize, x: &[f32], out: &mut [f32], buf: &mut Vec<f32>) {
    unsafe {
        let l = V::LANES;
        debug_assert_eq!((kw, kh), win.kernel);
        let (w, ow, oh) = (win.w, win.ow, win.oh);
        let width = win.span();
        let n = oh * width;
        let vectors = n.div_ceil(l);
        // Padded plane, then the vertical pass (the outputs' vectors and kw - 1 values more, so
        // the horizontal reads stay in it), then the horizontal pass.
        let olen = vectors * l;
        let vlen = olen + (kw - 1).next_multiple_of(l);
        let plen = (vlen + (kh - 1) * width).max((oh + kh - 1) * width);
        buf.clear();
        buf.resize(plen + vlen + olen, -f32::MAX);
        let (p, rest) = buf.split_at_mut(plen);
        let (v, o) = rest.split_at_mut(vlen);
        for y in 0..win.h {
            p[(win.top + y) * width + win.left..][..w].copy_from_slice(&x[y * w..(y + 1) * w]);
        }
        let (pp, vp, op) = (p.as_ptr(), v.as_mut_ptr(), o.as_mut_ptr());
        for i in (0..vlen).step_by(l) {
            let mut acc = V::load(pp.add(i));
            for ky in 1..kh {
                acc = V::max(acc, V::load(pp.add(i + ky * width)));
            }
            acc.store(vp.add(i));
        }
        for i in (0..olen).step_by(l) {
            let mut acc = V::load(vp.add(i));
            for kx in 1..kw {
                acc = V::max(acc, V::load(vp.add(i + kx)));
            }
            acc.store(op.add(i));
        }
        for oy in 0..oh {
            out[oy * ow..(oy + 1) * ow].copy_from_slice(&o[oy * width..oy * width + ow]);
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
    unsafe {
        if is_max2x2s2_inside(method, win, V::LANES) {
            return max2x2s2_inside::<V>(win, x, out);
        }
        if is_max_s1_small(method, win) {
            return match win.kernel {
                (3, 3) => max_s1_small::<V>(win, 3, 3, x, out, row),
                (kw, kh) => max_s1_small::<V>(win, kw, kh, x, out, row),
            };
        }
        let (kw, kh) = win.kernel;
        let (sw, sh) = win.stride;
        // Max pooling (no divisors) with its method as a constant too: no per-vector branches.
        match (method, kw, kh, sw, sh) {
            (Method::Max, 3, 3, 2, 2) if div.is_none() => body::<V>(Method::Max, win, 3, 3, 2, 2, None, x, out, row),
            (Method::Max, 2, 2, 2, 2) if div.is_none() => body::<V>(Method::Max, win, 2, 2, 2, 2, None, x, out, row),
            (_, 3, 3, 2, 2) => body::<V>(method, win, 3, 3, 2, 2, div, x, out, row),
            (_, 2, 2, 2, 2) => body::<V>(method, win, 2, 2, 2, 2, div, x, out, row),
            (_, 3, 3, 1, 1) => body::<V>(method, win, 3, 3, 1, 1, div, x, out, row),
            _ => body::<V>(method, win, kw, kh, sw, sh, div, x, out, row),
        }
    }
}

/// Max or mean of a plane, in four vectors of lanes and a scalar tail.
#[inline(always)]
unsafe fn global_body<V: F32Vec>(method: Method, x: &[f32]) -> f32 {
    unsafe {
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
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;
    use crate::kernels::simd::x86::{Avx2, Avx512, Sse};

    pub(crate) const AVX2: PoolingFns = PoolingFns { plane: plane_avx2, global: global_avx2 };
    pub(crate) const AVX512: PoolingFns = PoolingFns { plane: plane_avx512, global: global_avx512 };

    // Narrow planes use fewer lanes: a wide vector would leave most of each row to the scalars.
    // Stride-2 rows of up to 64 outputs stay on 8 lanes on AVX-512 too: there the even/odd split
    // of two 16-lane loads (two cross-lane permutes, of loads that each straddle cache lines) made
    // max pooling 5-15 % slower than 8 lanes (3x3 on 113x113, 112x112 padded, 57x57, 56x56; 2x2 on
    // 112x112, 56x56). On wider planes (224x224: 12 MB of input, memory-bound) 8 lanes were
    // no faster and at times much slower, so those keep 16.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn plane_avx2(
        m: Method,
        win: &Window,
        div: Option<(&[f32], &[f32])>,
        x: &[f32],
        out: &mut [f32],
        row: &mut Vec<f32>,
    ) {
        unsafe {
            if win.ow >= 8 || is_max_s1_small(m, win) {
                specialised::<Avx2>(m, win, div, x, out, row);
            } else {
                specialised::<Sse>(m, win, div, x, out, row);
            }
        }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn plane_avx512(
        m: Method,
        win: &Window,
        div: Option<(&[f32], &[f32])>,
        x: &[f32],
        out: &mut [f32],
        row: &mut Vec<f32>,
    ) {
        unsafe {
            match win.ow {
                // A small plane's stride-1 max pooling runs over the plane flat, in the widest vectors.
                _ if is_max_s1_small(m, win) => specialised::<Avx512>(m, win, div, x, out, row),
                16.. if win.stride.0 != 2 || win.ow > 64 => specialised::<Avx512>(m, win, div, x, out, row),
                8.. => specialised::<Avx2>(m, win, div, x, out, row),
                _ => specialised::<Sse>(m, win, div, x, out, row),
            }
        }
    }
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn global_avx2(m: Method, x: &[f32]) -> f32 {
        unsafe { global_body::<Avx2>(m, x) }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn global_avx512(m: Method, x: &[f32]) -> f32 {
        unsafe {
            if x.len() >= 64 {
                global_body::<Avx512>(m, x)
            } else {
                global_body::<Avx2>(m, x)
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use super::*;
    use crate::kernels::simd::arm::Neon;

    pub(crate) const NEON: PoolingFns = PoolingFns { plane: plane_neon, global: global_neon };

    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn plane_neon(
        m: Method,
        win: &Window,
        div: Option<(&[f32], &[f32])>,
        x: &[f32],
        out: &mut [f32],
        row: &mut Vec<f32>,
    ) {
        unsafe { specialised::<Neon>(m, win, div, x, out, row) }
    }
    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn global_neon(m: Method, x: &[f32]) -> f32 {
        unsafe { global_body::<Neon>(m, x) }
    }
}
