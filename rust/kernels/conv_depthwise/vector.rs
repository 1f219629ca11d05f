//! The vector body of a depthwise channel, generic over [`F32Vec`] and specialised for 3×3 and 5×5
//! kernels at stride 1 and 2, and each path's entry point.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use super::plane::Plane;
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

/// One stride-1 channel as a single span over the padded width: output (oy, ox) is span position
/// oy·pw + ox, whose taps are at fixed offsets ky·dh·pw + kx·dw from it, so the whole plane runs
/// in full vectors (the pw − ow extra positions per row are computed into a stack buffer and
/// dropped when the rows are copied out). Requires [`wide_pays`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn wide<V: F32Vec>(
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
                    let row = xp.add(j + ky * dh * p.pw);
                    for kx in 0..kw {
                        acc = V::fma(wv[ky * kw + kx], V::load(row.add(kx * dw)), acc);
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

/// Dispatches to a body with the common geometries as constants (so their loops unroll).
#[inline(always)]
unsafe fn specialised<V: F32Vec>(p: &Plane, x: &[f32], w: &[f32], bias: f32, act: RegAct, out: &mut [f32]) {
    unsafe {
        let (kw, kh) = p.kernel;
        let (dw, dh) = p.dilation;
        let (sw, sh) = p.stride;
        if wide_pays(p, V::LANES) {
            return match (kw, kh, dw, dh) {
                (3, 3, 1, 1) => wide::<V>(p, 3, 3, 1, 1, x, w, bias, act, out),
                (5, 5, 1, 1) => wide::<V>(p, 5, 5, 1, 1, x, w, bias, act, out),
                _ => wide::<V>(p, kw, kh, dw, dh, x, w, bias, act, out),
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
                _ if wide_pays(p, 16) => specialised::<Avx512>(p, x, w, b, act, out),
                16.. => specialised::<Avx512>(p, x, w, b, act, out),
                8.. => specialised::<Avx2>(p, x, w, b, act, out),
                _ => specialised::<Sse>(p, x, w, b, act, out),
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
}
