//! The vector body of a depthwise channel, generic over [`F32Vec`] and specialised for 3×3 and 5×5
//! kernels at stride 1 and 2, and each path's entry point.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use super::plane::{Plane, Unpadded};
use crate::kernels::simd::{F32Vec, RegAct};

/// One channel: each output row in vectors of LANES outputs, the tail scalar. Stride is 1 or 2.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn body<V: F32Vec>(
    p: &Plane,
    kw: usize,
    kh: usize,
    dw: usize,
    dh: usize,
    sw: usize,
    sh: usize,
    x: &[f32],
    w: &[f32],
    bias: f32,
    act: RegAct,
    out: &mut [f32],
) {
    unsafe {
        let l = V::LANES;
        // A vector at output ox reads the row up to (excluding) sw·(ox+l) + (kw-1)·dw; the
        // stride-2 deinterleave reads 2l values per tap. Keep the reads inside the row.
        let fits = |ox: usize| ox + l <= p.ow && sw * (ox + l) + (kw - 1) * dw <= p.pw;
        let mut vec_end = 0;
        while fits(vec_end) {
            vec_end += l;
        }
        // The tail as one more vector overlapping the last: outputs are recomputed identically.
        let overlap = (vec_end < p.ow && p.ow >= l && fits(p.ow - l)).then(|| p.ow - l);
        let scalar_from = if overlap.is_some() { p.ow } else { vec_end };
        let mut wv = [V::zero(); 25];
        if kw * kh <= 25 {
            for (v, &s) in wv.iter_mut().zip(w) {
                *v = V::splat(s);
            }
        }
        let xp = x.as_ptr();
        // Taps of output row `$oy`'s vector at `$ox` added to `$acc` in (ky, kx) order.
        // A macro, not a closure: closures do not inherit the entry point's target features.
        macro_rules! taps {
            ($acc:ident, $oy:expr, $ox:expr) => {{
                macro_rules! wk {
                    ($k:expr) => {
                        if kw * kh <= 25 {
                            wv[$k]
                        } else {
                            V::splat(w[$k])
                        }
                    };
                }
                for ky in 0..kh {
                    let row = xp.add(($oy * sh + ky * dh) * p.pw + $ox * sw);
                    if sw == 2 && dw == 1 {
                        // Taps kx and kx+1 are the even and odd lanes of the same two loads.
                        let mut kx = 0;
                        while kx + 1 < kw {
                            let (even, odd) = V::load_even_odd(row.add(kx));
                            $acc = V::fma(wk!(ky * kw + kx), even, $acc);
                            $acc = V::fma(wk!(ky * kw + kx + 1), odd, $acc);
                            kx += 2;
                        }
                        if kx < kw {
                            $acc = V::fma(wk!(ky * kw + kx), V::load_even(row.add(kx)), $acc);
                        }
                        continue;
                    }
                    for kx in 0..kw {
                        let q = row.add(kx * dw);
                        let v = if sw == 1 { V::load(q) } else { V::load_even(q) };
                        $acc = V::fma(wk!(ky * kw + kx), v, $acc);
                    }
                }
            }};
        }
        // Output rows in groups of up to four: independent accumulation chains per vector (one
        // chain of kh·kw dependent FMAs left the FMA units mostly idle), whose rows share input rows.
        let mut oy = 0;
        while oy < p.oh {
            let rows = (p.oh - oy).min(4);
            let group = if rows == 3 { 2 } else { rows };
            macro_rules! vector {
                ($ox:expr) => {{
                    let ox = $ox;
                    macro_rules! rows {
                        ($n:literal) => {{
                            let mut acc = [V::splat(bias); $n];
                            for (r, a) in acc.iter_mut().enumerate() {
                                let mut v = *a;
                                taps!(v, oy + r, ox);
                                *a = v;
                            }
                            for (r, a) in acc.iter().enumerate() {
                                act.apply(*a).store(out.as_mut_ptr().add((oy + r) * p.ow + ox));
                            }
                        }};
                    }
                    match group {
                        4 => rows!(4),
                        2 => rows!(2),
                        _ => rows!(1),
                    }
                }};
            }
            let mut ox = 0;
            while ox < vec_end {
                vector!(ox);
                ox += l;
            }
            if let Some(ox) = overlap {
                vector!(ox);
            }
            for y in oy..oy + group {
                let orow = &mut out[y * p.ow..(y + 1) * p.ow];
                for (ox, o) in orow.iter_mut().enumerate().skip(scalar_from) {
                    let mut sum = bias;
                    for ky in 0..kh {
                        let row = &x[(y * sh + ky * dh) * p.pw..];
                        for kx in 0..kw {
                            sum += row[ox * sw + kx * dw] * w[ky * kw + kx];
                        }
                    }
                    *o = act.apply_scalar(sum);
                }
            }
            oy += group;
        }
    }
}

/// Most outputs of a [`wide`] span (8 KB on the stack).
const WIDE_MAX: usize = 2048;

/// Whether a stride-1 channel runs as one [`wide`] span of `lanes`-wide vectors: narrow planes
/// (7×7, 14×14) leave most of each row's last vector empty, a span over the padded width does not.
#[inline(always)]
pub(crate) fn wide_pays(p: &Plane, lanes: usize) -> bool {
    let (ew, eh) = ((p.kernel.0 - 1) * p.dilation.0 + 1, (p.kernel.1 - 1) * p.dilation.1 + 1);
    if p.stride != (1, 1) || p.oh == 0 || p.ow + ew - 1 != p.pw || p.oh + eh - 1 != p.ph || p.kernel.0 * p.kernel.1 > 25
    {
        return false;
    }
    let span = (p.oh - 1) * p.pw + p.ow;
    span >= lanes && span <= WIDE_MAX && span.div_ceil(lanes) < p.oh * p.ow.div_ceil(lanes)
}

/// One channel as a single span over the padded width: output (oy, ox) is span position
/// j = oy·pw + ox, whose taps are at fixed offsets ky·dh·pw + kx·dw from position STRIDE·j, so
/// the whole plane runs in full vectors (the pw − ow extra positions per row are computed into a
/// stack buffer and dropped when the rows are copied out). STRIDE 1 requires [`wide_pays`];
/// STRIDE 2 (input row 2·oy, column 2·ox; dw = dh = 1) requires [`wide2_pays`] and reads each
/// pair of taps kx, kx+1 as the even and odd lanes of the same two loads.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn wide<V: F32Vec, const STRIDE: usize>(
    p: &Plane,
    kw: usize,
    kh: usize,
    dw: usize,
    dh: usize,
    x: &[f32],
    w: &[f32],
    bias: f32,
    act: RegAct,
    out: &mut [f32],
) {
    unsafe {
        let l = V::LANES;
        let span = (p.oh - 1) * p.pw + p.ow;
        debug_assert!(span >= l && span <= WIDE_MAX && x.len() >= p.pw * p.ph);
        debug_assert!(
            STRIDE == 1 || ((dw, dh) == (1, 1) && 2 * (span - l) + (kh - 1) * p.pw + (kw - 1) + 2 * l <= x.len())
        );
        let mut wv = [V::zero(); 25];
        for (v, &s) in wv.iter_mut().zip(&w[..kw * kh]) {
            *v = V::splat(s);
        }
        let mut buf = [std::mem::MaybeUninit::<f32>::uninit(); WIDE_MAX];
        let tmp = buf.as_mut_ptr().cast::<f32>();
        let xp = x.as_ptr();
        // A macro, not a closure: closures do not inherit the entry point's target features.
        macro_rules! vector {
            ($j:expr) => {{
                let j = $j;
                let mut acc = V::splat(bias);
                for ky in 0..kh {
                    let row = xp.add(STRIDE * j + ky * dh * p.pw);
                    if STRIDE == 1 {
                        for kx in 0..kw {
                            acc = V::fma(wv[ky * kw + kx], V::load(row.add(kx * dw)), acc);
                        }
                    } else {
                        let mut kx = 0;
                        while kx + 1 < kw {
                            let (even, odd) = V::load_even_odd(row.add(kx));
                            acc = V::fma(wv[ky * kw + kx], even, acc);
                            acc = V::fma(wv[ky * kw + kx + 1], odd, acc);
                            kx += 2;
                        }
                        if kx < kw {
                            acc = V::fma(wv[ky * kw + kx], V::load_even(row.add(kx)), acc);
                        }
                    }
                }
                act.apply(acc).store(tmp.add(j));
            }};
        }
        let mut j = 0;
        while j + l <= span {
            vector!(j);
            j += l;
        }
        if j < span {
            // The tail as one more vector overlapping the last: positions are recomputed identically.
            vector!(span - l);
        }
        // Every position below `span` was stored above; row oy's outputs are oy·pw .. oy·pw + ow.
        let done = std::slice::from_raw_parts(tmp, span);
        for (oy, row) in out.chunks_exact_mut(p.ow).enumerate() {
            crate::kernels::row_copy::copy_row(row, &done[oy * p.pw..oy * p.pw + p.ow]);
        }
    }
}

/// Whether a stride-2 channel runs as one [`wide`] span of `lanes`-wide vectors: a 7×7 output
/// (the 14×14 → 7×7 layers of mobilenet and mobilenet v2) fills no vector of 8 a row, so the row body
/// ran them in two overlapping 4-lane vectors a row; a span over the padded width wastes about half
/// its positions but runs 16-lane vectors (so only the AVX-512 path takes it).
#[inline(always)]
pub(crate) fn wide2_pays(p: &Plane, lanes: usize) -> bool {
    let (kw, kh) = p.kernel;
    if p.stride != (2, 2) || p.dilation != (1, 1) || p.oh == 0 || p.ow == 0 || kw * kh > 25 {
        return false;
    }
    if 2 * (p.ow - 1) + kw > p.pw || 2 * (p.oh - 1) + kh > p.ph {
        return false;
    }
    let span = (p.oh - 1) * p.pw + p.ow;
    if span < lanes || span > WIDE_MAX {
        return false;
    }
    // The last vector (at span − lanes) reads 2·lanes values from 2·j + (kh−1)·pw + kw − 1 at most.
    let end = 2 * (span - lanes) + (kh - 1) * p.pw + (kw - 1) + 2 * lanes;
    // Against the row body at the width it would take (half or a quarter of `lanes`): at most half
    // as many vectors, since about half the span's positions are thrown away.
    let narrow = if 2 * p.ow >= lanes { lanes / 2 } else { lanes / 4 }.max(1);
    end <= p.pw * p.ph && p.ow < lanes && 2 * span.div_ceil(lanes) <= p.oh * p.ow.div_ceil(narrow)
}

/// Output rows a band of [`split`] holds at most.
const BAND_OUT_ROWS: usize = 4;

/// The padded rows one band of [`split`] reads, and the band buffer's length for them (even
/// columns ⌈pw/2⌉ a row, then odd ones ⌊pw/2⌋).
pub(crate) fn split_band(p: &Plane) -> (usize, usize) {
    let rows = (BAND_OUT_ROWS - 1) * p.stride.1 + (p.kernel.1 - 1) * p.dilation.1 + 1;
    (rows, rows * (p.pw.div_ceil(2) + p.pw / 2))
}

/// `src`'s even elements into `even` (⌈n/2⌉) and its odd ones into `odd` (⌊n/2⌋): vectors of
/// 2·LANES inputs, the last overlapping (it rewrites the same values), then scalars (at most one,
/// or all of a row shorter than 2·LANES).
#[inline(always)]
unsafe fn deinterleave<V: F32Vec>(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    unsafe {
        let (n, l) = (src.len(), V::LANES);
        debug_assert!(even.len() == n.div_ceil(2) && odd.len() == n / 2);
        let (s, e, o) = (src.as_ptr(), even.as_mut_ptr(), odd.as_mut_ptr());
        let mut c = 0;
        while c + 2 * l <= n {
            let (a, b) = V::load_even_odd(s.add(c));
            a.store(e.add(c / 2));
            b.store(o.add(c / 2));
            c += 2 * l;
        }
        if c < n && n >= 2 * l {
            let last = (n - 2 * l) & !1;
            let (a, b) = V::load_even_odd(s.add(last));
            a.store(e.add(last / 2));
            b.store(o.add(last / 2));
            c = last + 2 * l;
        }
        for i in c..n {
            if i.is_multiple_of(2) {
                even[i / 2] = src[i];
            } else {
                odd[i / 2] = src[i];
            }
        }
    }
}

/// One horizontally stride-2, dilation-1 channel read straight from its unpadded input
/// ([`SplitChannelFn`](super::plane::SplitChannelFn)): up to four output rows at a time, whose
/// padded input rows are first written into `band` split into even and odd columns (pad values
/// included), so that each tap is a plain load from a small, cache-hot buffer where the
/// interleaved plane needs a deinterleave per tap and a padded copy of the whole plane first.
/// Tap kx of output column ox is column ox + kx/2 of the even rows (kx even) or the odd ones.
/// Same (ky, kx) order as [`body`]; every vector holds only real outputs (the last overlaps).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn split<V: F32Vec>(
    p: &Plane,
    kw: usize,
    kh: usize,
    dh: usize,
    sh: usize,
    x: &Unpadded,
    band: &mut [f32],
    w: &[f32],
    bias: f32,
    act: RegAct,
    out: &mut [f32],
) {
    unsafe {
        let l = V::LANES;
        let (pe, po) = (p.pw.div_ceil(2), p.pw / 2);
        let (band_rows, band_len) = split_band(p);
        debug_assert!(p.pw >= 2 * (p.ow - 1) + kw && band.len() >= band_len);
        debug_assert!(x.data.len() >= x.w * x.h && x.left + x.w <= p.pw);
        let (eb, ob) = band[..band_len].split_at_mut(band_rows * pe);
        // Input column c is padded column left + c: with `left` even the input's even columns
        // are even ones of the plane, with `left` odd they are odd ones.
        let (even_first, lo) = (x.left.is_multiple_of(2), x.left / 2);
        let (n0, n1) = (x.w.div_ceil(2), x.w / 2);
        // Padded row `$pr` into band row `$r`. A macro, not a closure: closures do not inherit
        // the entry point's target features.
        macro_rules! fill {
            ($r:expr, $pr:expr) => {{
                let (r, pr) = ($r, $pr);
                let (er, or) = (&mut eb[r * pe..(r + 1) * pe], &mut ob[r * po..(r + 1) * po]);
                if pr < x.top || pr >= x.top + x.h {
                    er.fill(x.value);
                    or.fill(x.value);
                } else {
                    let row = &x.data[(pr - x.top) * x.w..(pr - x.top + 1) * x.w];
                    // (plane row, where the input's columns start in it): evens, then odds.
                    let ((a, a0), (b, b0)) = if even_first { ((er, lo), (or, lo)) } else { ((or, lo), (er, lo + 1)) };
                    // The pad columns: a few values each, stored one by one (no library call).
                    for i in (0..a0).chain(a0 + n0..a.len()) {
                        a[i] = x.value;
                    }
                    for i in (0..b0).chain(b0 + n1..b.len()) {
                        b[i] = x.value;
                    }
                    deinterleave::<V>(row, &mut a[a0..a0 + n0], &mut b[b0..b0 + n1]);
                }
            }};
        }
        let vec_end = if p.ow >= l { p.ow / l * l } else { 0 };
        let overlap = (vec_end < p.ow && p.ow >= l).then(|| p.ow - l);
        let scalar_from = if p.ow >= l { p.ow } else { 0 };
        let mut wv = [V::zero(); 25];
        if kw * kh <= 25 {
            for (v, &s) in wv.iter_mut().zip(w) {
                *v = V::splat(s);
            }
        }
        // A macro, not a closure: closures do not inherit the entry point's target features.
        macro_rules! wk {
            ($k:expr) => {
                if kw * kh <= 25 {
                    wv[$k]
                } else {
                    V::splat(w[$k])
                }
            };
        }
        let mut oy = 0;
        while oy < p.oh {
            let rows = (p.oh - oy).min(BAND_OUT_ROWS);
            let group = if rows == 3 { 2 } else { rows };
            let need = (group - 1) * sh + (kh - 1) * dh + 1;
            for r in 0..need {
                fill!(r, oy * sh + r);
            }
            let (ep, op) = (eb.as_ptr(), ob.as_ptr());
            // Tap (ky, kx) of band output row r at column ox.
            let tap = |r: usize, ox: usize, ky: usize, kx: usize| {
                let row = r * sh + ky * dh;
                if kx.is_multiple_of(2) {
                    ep.add(row * pe + ox + kx / 2)
                } else {
                    op.add(row * po + ox + kx / 2)
                }
            };
            macro_rules! vector {
                ($ox:expr) => {{
                    let ox = $ox;
                    macro_rules! rows {
                        ($n:literal) => {{
                            let mut acc = [V::splat(bias); $n];
                            for (r, a) in acc.iter_mut().enumerate() {
                                let mut v = *a;
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        v = V::fma(wk!(ky * kw + kx), V::load(tap(r, ox, ky, kx)), v);
                                    }
                                }
                                *a = v;
                            }
                            for (r, a) in acc.iter().enumerate() {
                                act.apply(*a).store(out.as_mut_ptr().add((oy + r) * p.ow + ox));
                            }
                        }};
                    }
                    match group {
                        4 => rows!(4),
                        2 => rows!(2),
                        _ => rows!(1),
                    }
                }};
            }
            let mut ox = 0;
            while ox < vec_end {
                vector!(ox);
                ox += l;
            }
            if let Some(ox) = overlap {
                vector!(ox);
            }
            for r in 0..group {
                for ox in scalar_from..p.ow {
                    let mut sum = bias;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            sum += *tap(r, ox, ky, kx) * w[ky * kw + kx];
                        }
                    }
                    out[(oy + r) * p.ow + ox] = act.apply_scalar(sum);
                }
            }
            oy += group;
        }
    }
}

/// [`split`] with the common geometries as constants (so their loops unroll).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn specialised_split<V: F32Vec>(
    p: &Plane,
    x: &Unpadded,
    band: &mut [f32],
    w: &[f32],
    bias: f32,
    act: RegAct,
    out: &mut [f32],
) {
    unsafe {
        debug_assert!(p.stride.0 == 2 && p.dilation.0 == 1);
        let (kw, kh) = p.kernel;
        match (kw, kh, p.dilation.1, p.stride.1) {
            (3, 3, 1, 2) => split::<V>(p, 3, 3, 1, 2, x, band, w, bias, act, out),
            (5, 5, 1, 2) => split::<V>(p, 5, 5, 1, 2, x, band, w, bias, act, out),
            (_, _, dh, sh) => split::<V>(p, kw, kh, dh, sh, x, band, w, bias, act, out),
        }
    }
}

/// Dispatches to a body with the common geometries as constants (so their loops unroll).
#[inline(always)]
unsafe fn specialised<V: F32Vec>(p: &Plane, x: &[f32], w: &[f32], bias: f32, act: RegAct, out: &mut [f32]) {
    unsafe {
        let (kw, kh) = p.kernel;
        let (dw, dh) = p.dilation;
        let (sw, sh) = p.stride;
        if wide_pays(p, V::LANES) {
            return match (kw, kh, dw, dh) {
                (3, 3, 1, 1) => wide::<V, 1>(p, 3, 3, 1, 1, x, w, bias, act, out),
                (5, 5, 1, 1) => wide::<V, 1>(p, 5, 5, 1, 1, x, w, bias, act, out),
                _ => wide::<V, 1>(p, kw, kh, dw, dh, x, w, bias, act, out),
            };
        }
        if wide2_pays(p, V::LANES) {
            return match (kw, kh) {
                (3, 3) => wide::<V, 2>(p, 3, 3, 1, 1, x, w, bias, act, out),
                (5, 5) => wide::<V, 2>(p, 5, 5, 1, 1, x, w, bias, act, out),
                _ => wide::<V, 2>(p, kw, kh, 1, 1, x, w, bias, act, out),
            };
        }
        match (kw, kh, dw, dh, sw, sh) {
            (3, 3, 1, 1, 1, 1) => body::<V>(p, 3, 3, 1, 1, 1, 1, x, w, bias, act, out),
            (3, 3, 1, 1, 2, 2) => body::<V>(p, 3, 3, 1, 1, 2, 2, x, w, bias, act, out),
            (5, 5, 1, 1, 1, 1) => body::<V>(p, 5, 5, 1, 1, 1, 1, x, w, bias, act, out),
            (5, 5, 1, 1, 2, 2) => body::<V>(p, 5, 5, 1, 1, 2, 2, x, w, bias, act, out),
            _ => body::<V>(p, kw, kh, dw, dh, sw, sh, x, w, bias, act, out),
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;
    use crate::kernels::simd::x86::{Avx2, Avx512, Sse};
    use std::arch::x86_64::*;

    // Narrow planes use fewer lanes: a wide vector would leave most of each row to the scalar
    // tail.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn channel_avx2(p: &Plane, x: &[f32], w: &[f32], b: f32, act: RegAct, out: &mut [f32]) {
        unsafe {
            if p.ow >= 8 || wide_pays(p, 8) {
                specialised::<Avx2>(p, x, w, b, act, out);
            } else {
                specialised::<Sse>(p, x, w, b, act, out);
            }
        }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn channel_avx512(p: &Plane, x: &[f32], w: &[f32], b: f32, act: RegAct, out: &mut [f32]) {
        unsafe {
            match p.ow {
                _ if wide_pays(p, 16) || wide2_pays(p, 16) => specialised::<Avx512>(p, x, w, b, act, out),
                16.. => specialised::<Avx512>(p, x, w, b, act, out),
                8.. => specialised::<Avx2>(p, x, w, b, act, out),
                _ => specialised::<Sse>(p, x, w, b, act, out),
            }
        }
    }
    /// [`direct3x3_avx512`]'s output rows `oy..oy + R` of the 16-lane column block at `ox` (`valid`:
    /// its real lanes) at stride `S`. Input rows S·oy − 1 .. S·(oy + R − 1) + 1 are each read once
    /// and serve every output row whose window holds them; lanes outside the row hold the pad
    /// value, and rows outside the plane are all pad. Stride 1 reads taps kx = 0, 1, 2 as three
    /// masked loads one column apart (`masks[0..3]`); stride 2 reads columns 2·ox − 1 on as two
    /// pairs of masked loads one column apart (`masks`), whose even and odd lanes are taps kx = 0, 1
    /// and 1, 2. Each output adds its taps in (ky, kx) order.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn direct_rows<const R: usize, const S: usize>(
        x: &Unpadded,
        wv: &[__m512; 9],
        bias: f32,
        act: RegAct,
        (oy, ox, ow): (usize, usize, usize),
        valid: u16,
        masks: [u16; 4],
        out: *mut f32,
    ) {
        unsafe {
            let fill = _mm512_set1_ps(x.value);
            let src = x.data.as_ptr();
            let mut acc = [_mm512_set1_ps(bias); R];
            for i in 0..S * (R - 1) + 3 {
                // Input row S·oy + i − 1.
                let row = S * oy + i;
                let taps = if row >= 1 && row - 1 < x.h {
                    // Wrapping: at ox = 0 the loads start one before the row, in a masked lane.
                    let at = src.wrapping_add((row - 1) * x.w + S * ox).wrapping_sub(1);
                    if S == 1 {
                        [
                            _mm512_mask_loadu_ps(fill, masks[0], at),
                            _mm512_mask_loadu_ps(fill, masks[1], at.wrapping_add(1)),
                            _mm512_mask_loadu_ps(fill, masks[2], at.wrapping_add(2)),
                        ]
                    } else {
                        let even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
                        let odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
                        let a = _mm512_mask_loadu_ps(fill, masks[0], at);
                        let b = _mm512_mask_loadu_ps(fill, masks[1], at.wrapping_add(16));
                        let c = _mm512_mask_loadu_ps(fill, masks[2], at.wrapping_add(1));
                        let d = _mm512_mask_loadu_ps(fill, masks[3], at.wrapping_add(17));
                        [
                            _mm512_permutex2var_ps(a, even, b),
                            _mm512_permutex2var_ps(a, odd, b),
                            _mm512_permutex2var_ps(c, odd, d),
                        ]
                    }
                } else {
                    [fill; 3]
                };
                for (r, a) in acc.iter_mut().enumerate() {
                    if i >= S * r && i - S * r < 3 {
                        let ky = i - S * r;
                        for (kx, &t) in taps.iter().enumerate() {
                            *a = _mm512_fmadd_ps(wv[ky * 3 + kx], t, *a);
                        }
                    }
                }
            }
            for (r, &a) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(out.add((oy + r) * ow + ox), valid, act.apply(Avx512(a)).0);
            }
        }
    }

    /// The lanes j of a 16-lane load from column `t` that fall in a row of `w` (0 ≤ t + j < w).
    #[inline(always)]
    fn lanes_in(t: isize, w: usize) -> u16 {
        let lo = (-t).clamp(0, 16) as u32;
        let hi = (w as isize - t).clamp(0, 16) as u32;
        let below = |n: u32| ((1u32 << n) - 1) as u16;
        below(hi) & !below(lo)
    }

    /// One channel of [`direct3x3_avx512`] at stride `S`: column blocks of 16 lanes, each in bands
    /// of four output rows (the last band shorter).
    #[inline(always)]
    unsafe fn direct_channel<const S: usize>(
        p: &Plane,
        x: &Unpadded,
        wv: &[__m512; 9],
        bias: f32,
        act: RegAct,
        dst: *mut f32,
    ) {
        unsafe {
            let (ow, oh) = (p.ow, p.oh);
            let mut ox = 0;
            while ox < ow {
                let n = (ow - ox).min(16);
                let valid = ((1u32 << n) - 1) as u16;
                // The loads' first columns, as `direct_rows` reads them.
                let t = S as isize * ox as isize - 1;
                let masks = if S == 1 {
                    [t, t + 1, t + 2, t].map(|t| lanes_in(t, x.w) & valid)
                } else {
                    [t, t + 16, t + 1, t + 17].map(|t| lanes_in(t, x.w))
                };
                let mut oy = 0;
                while oy + 4 <= oh {
                    direct_rows::<4, S>(x, wv, bias, act, (oy, ox, ow), valid, masks, dst);
                    oy += 4;
                }
                match oh - oy {
                    3 => direct_rows::<3, S>(x, wv, bias, act, (oy, ox, ow), valid, masks, dst),
                    2 => direct_rows::<2, S>(x, wv, bias, act, (oy, ox, ow), valid, masks, dst),
                    1 => direct_rows::<1, S>(x, wv, bias, act, (oy, ox, ow), valid, masks, dst),
                    _ => {}
                }
                ox += n;
            }
        }
    }

    /// 3×3, dilation-1 channels at stride 1 padded by one on every side, or at stride 2 padded by
    /// one at the left and top, read straight from their unpadded input
    /// ([`DirectChannelsFn`](super::super::plane::DirectChannelsFn)): each row in 16-lane column
    /// blocks whose lanes outside the plane are masked loads filled with the pad value, four
    /// output rows at a time, stored masked. No padded copy of the plane and no span
    /// buffer to copy out: on mobilenet v2's 14×14 and 28×28 planes those copies and the span's
    /// setup cost as much as the taps. Several channels a call: on 7×7 planes the per-channel
    /// call and its checks were a fifth of the time.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn direct3x3_avx512(
        p: &Plane,
        x: &Unpadded,
        channels: usize,
        w: &[f32],
        bias: Option<&[f32]>,
        act: RegAct,
        out: &mut [f32],
    ) {
        unsafe {
            let (ow, oh) = (p.ow, p.oh);
            let (plane_in, plane) = (x.w * x.h, ow * oh);
            assert!(x.left == 1 && x.top == 1 && p.kernel == (3, 3) && p.dilation == (1, 1));
            assert!(match p.stride {
                (1, 1) => ow == x.w && oh == x.h,
                (2, 2) => ow > 0 && oh > 0 && 2 * ow < p.pw && 2 * oh < p.ph,
                _ => false,
            });
            assert!(x.data.len() >= plane_in * channels && out.len() >= plane * channels && w.len() >= 9 * channels);
            assert!(bias.is_none_or(|b| b.len() >= channels));
            for c in 0..channels {
                let wv: [__m512; 9] = std::array::from_fn(|k| _mm512_set1_ps(w[9 * c + k]));
                let b = bias.map_or(0.0, |b| b[c]);
                let xc = Unpadded { data: &x.data[c * plane_in..(c + 1) * plane_in], ..*x };
                let dst = out.as_mut_ptr().add(c * plane);
                if p.stride == (2, 2) {
                    direct_channel::<2>(p, &xc, &wv, b, act, dst);
                } else {
                    direct_channel::<1>(p, &xc, &wv, b, act, dst);
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn split_avx2(
        p: &Plane,
        x: &Unpadded,
        band: &mut [f32],
        w: &[f32],
        b: f32,
        act: RegAct,
        out: &mut [f32],
    ) {
        unsafe {
            if p.ow >= 8 {
                specialised_split::<Avx2>(p, x, band, w, b, act, out);
            } else {
                specialised_split::<Sse>(p, x, band, w, b, act, out);
            }
        }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn split_avx512(
        p: &Plane,
        x: &Unpadded,
        band: &mut [f32],
        w: &[f32],
        b: f32,
        act: RegAct,
        out: &mut [f32],
    ) {
        unsafe {
            match p.ow {
                16.. => specialised_split::<Avx512>(p, x, band, w, b, act, out),
                8.. => specialised_split::<Avx2>(p, x, band, w, b, act, out),
                _ => specialised_split::<Sse>(p, x, band, w, b, act, out),
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use super::*;
    use crate::kernels::simd::arm::Neon;

    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn channel_neon(p: &Plane, x: &[f32], w: &[f32], b: f32, act: RegAct, out: &mut [f32]) {
        unsafe { specialised::<Neon>(p, x, w, b, act, out) }
    }

    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn split_neon(
        p: &Plane,
        x: &Unpadded,
        band: &mut [f32],
        w: &[f32],
        b: f32,
        act: RegAct,
        out: &mut [f32],
    ) {
        unsafe { specialised_split::<Neon>(p, x, band, w, b, act, out) }
    }
}
