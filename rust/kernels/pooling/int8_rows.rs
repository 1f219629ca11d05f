//! The int8 max pooling kernels of one channel ([`super::int8`]): the reference, the row body and
//! each path's entry points, which dispatch picks from (no import of dispatch here).

use super::window::Window;

/// What padding stands for: `q(-FLT_MAX)`.
pub const PAD: i8 = -127;

/// One channel, element by element: the truth the row body is tested against.
pub fn plane_reference(win: &Window, x: &[i8], out: &mut [i8], _row: &mut Vec<i8>) {
    let (kw, kh) = win.kernel;
    let (sw, sh) = win.stride;
    let at = |px: usize, py: usize| win.at(x, px, py, PAD);
    for oy in 0..win.oh {
        for ox in 0..win.ow {
            let (x0, y0) = (ox * sw, oy * sh);
            let mut acc = PAD;
            for ky in 0..kh {
                for kx in 0..kw {
                    acc = acc.max(at(x0 + kx, y0 + ky));
                }
            }
            out[oy * win.ow + ox] = acc;
        }
    }
}

/// One channel by rows: each output row's window rows reduced into `row` (the padded width,
/// padding −127), then the windows along it. Plain loops on fixed-size chunks that the compiler
/// vectorizes per instruction set ([`x86`]); stride 2 reads the row as even and odd halves so those
/// loops are contiguous too. No closures: they would not inherit the caller's target features.
#[inline(always)]
pub(crate) fn plane_rows_body<R: Rows>(win: &Window, x: &[i8], out: &mut [i8], scratch: &mut Vec<i8>) {
    let (kw, kh) = win.kernel;
    if kw > MAX_KERNEL || kh > MAX_KERNEL {
        return plane_reference(win, x, out, scratch);
    }
    let (sw, sh) = win.stride;
    let (w, h, left, top) = (win.w, win.h, win.left, win.top);
    let span = win.span();
    // The row, then its even and odd columns (stride 2), each with a spare value.
    let half = span.div_ceil(2) + 1;
    scratch.clear();
    scratch.resize(span + if sw == 2 { 2 * half } else { 0 }, PAD);
    let (row, split) = scratch.split_at_mut(span);
    // Where each window column starts in `row` (stride 1) or in `split` (stride 2): window ox
    // covers columns 2·ox + kx, even[ox + kx/2] for even kx and odd[ox + kx/2] for odd.
    let mut cols = [0; MAX_KERNEL];
    for (kx, c) in cols[..kw].iter_mut().enumerate() {
        *c = if sw == 2 && kx % 2 == 1 {
            half + kx / 2
        } else if sw == 2 {
            kx / 2
        } else {
            kx
        };
    }
    let mut rows = [0; MAX_KERNEL];
    for oy in 0..win.oh {
        let y0 = oy * sh;
        let (r0, r1) = (y0.max(top), (y0 + kh).min(top + h));
        let mid = &mut row[left..left + w];
        if r0 < r1 {
            for (r, py) in rows.iter_mut().zip(r0..r1) {
                *r = (py - top) * w;
            }
            R::max_of(mid, x, &rows[..r1 - r0]);
        } else {
            mid.fill(PAD);
        }
        let o = &mut out[oy * win.ow..(oy + 1) * win.ow];
        if sw == 1 {
            R::max_of(o, row, &cols[..kw]);
        } else if sw == 2 {
            R::deinterleave(row, split, half);
            R::max_of(o, split, &cols[..kw]);
        } else {
            for (ox, d) in o.iter_mut().enumerate() {
                *d = row[ox * sw..ox * sw + kw].iter().copied().fold(PAD, i8::max);
            }
        }
    }
}

/// The largest window side the row body takes: its offsets live on the stack (one allocation per
/// channel was a visible part of small planes' time); larger windows take the reference.
const MAX_KERNEL: usize = 16;

/// The two row operations of [`plane_rows_body`], portable or on one instruction set.
pub(crate) trait Rows {
    /// `d[i] = max_j src[starts[j] + i]`.
    fn max_of(d: &mut [i8], src: &[i8], starts: &[usize]);
    /// `split[i] = row[2i]`, `split[half + i] = row[2i + 1]` for the row's columns.
    fn deinterleave(row: &[i8], split: &mut [i8], half: usize);
}

/// Plain loops the compiler vectorizes.
pub(crate) struct Portable;

impl Rows for Portable {
    #[inline(always)]
    fn max_of(d: &mut [i8], src: &[i8], starts: &[usize]) {
        max_of(d, src, starts);
    }
    #[inline(always)]
    fn deinterleave(row: &[i8], split: &mut [i8], half: usize) {
        deinterleave(row, split, half);
    }
}

/// `d[i] = max_j src[starts[j] + i]` (`starts` not empty), by vectors of 16 (or 8 for short rows):
/// a plain loop is vectorized 64 or 256 values at a time on AVX-512, and the rows here (113, 56,
/// 14 values) would run in its scalar remainder. Each vector of `d` is computed in registers and
/// stored once: a read-modify-write pass per source loads what was just stored at another offset,
/// which store forwarding cannot serve (that made a first version slower than the float kernel).
/// A row's tail is one more vector ending at its end (the values it recomputes do not change).
#[inline(always)]
fn max_of(d: &mut [i8], src: &[i8], starts: &[usize]) {
    let n = d.len();
    if n >= 16 {
        max_chunks::<16>(d, src, starts);
    } else if n >= 8 {
        max_chunks::<8>(d, src, starts);
    } else {
        for (i, d) in d.iter_mut().enumerate() {
            *d = starts.iter().map(|&s| src[s + i]).fold(PAD, i8::max);
        }
    }
}

#[inline(always)]
fn max_chunks<const N: usize>(d: &mut [i8], src: &[i8], starts: &[usize]) {
    let n = d.len();
    let mut at = 0;
    loop {
        let at_ = if at + N <= n { at } else { n - N };
        let mut acc = [PAD; N];
        for &s in starts {
            let v: &[i8; N] = src[s + at_..s + at_ + N].try_into().expect("one chunk");
            for i in 0..N {
                acc[i] = acc[i].max(v[i]);
            }
        }
        d[at_..at_ + N].copy_from_slice(&acc);
        at += N;
        if at >= n {
            break;
        }
    }
}

/// `split[i] = row[2i]`, `split[half + i] = row[2i + 1]` for the row's columns (vectors as in
/// [`max_of`]).
#[inline(always)]
fn deinterleave(row: &[i8], split: &mut [i8], half: usize) {
    let pairs = row.len() / 2;
    if pairs >= 16 {
        deinterleave_chunks::<16>(row, split, half);
    } else if pairs >= 8 {
        deinterleave_chunks::<8>(row, split, half);
    } else {
        for i in 0..pairs {
            split[i] = row[2 * i];
            split[half + i] = row[2 * i + 1];
        }
    }
    if row.len() % 2 == 1 {
        split[pairs] = row[row.len() - 1];
    }
}

#[inline(always)]
fn deinterleave_chunks<const N: usize>(row: &[i8], split: &mut [i8], half: usize) {
    let pairs = row.len() / 2;
    let mut at = 0;
    loop {
        let at_ = if at + N <= pairs { at } else { pairs - N };
        let (mut e, mut o) = ([0i8; N], [0i8; N]);
        for i in 0..N {
            e[i] = row[2 * (at_ + i)];
            o[i] = row[2 * (at_ + i) + 1];
        }
        split[at_..at_ + N].copy_from_slice(&e);
        split[half + at_..half + at_ + N].copy_from_slice(&o);
        at += N;
        if at >= pairs {
            break;
        }
    }
}

/// The row body as is, for paths whose baseline vectorizes it (aarch64's NEON).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn plane_rows(win: &Window, x: &[i8], out: &mut [i8], row: &mut Vec<i8>) {
    plane_rows_body::<Portable>(win, x, out, row);
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{deinterleave, max_of, plane_rows_body, Rows, Window};
    use std::arch::x86_64::*;

    /// 16- and 32-byte vectors (SSE4.1 / AVX2 integer max): what LLVM made of the portable loops
    /// on these short rows (byte shifts and widening moves, bounds checks) ran slower than the
    /// float kernel on four times the bytes.
    struct Avx2Rows;

    impl Rows for Avx2Rows {
        #[inline(always)]
        fn max_of(d: &mut [i8], src: &[i8], starts: &[usize]) {
            let n = d.len();
            if n < 8 {
                return max_of(d, src, starts);
            }
            assert!(starts.iter().all(|&s| s + n <= src.len()), "sources within src");
            let (dp, sp) = (d.as_mut_ptr(), src.as_ptr());
            // SAFETY: the path's CPU has AVX2 (every caller is compiled with it); every load reads
            // `src[s + at..s + at + 16 or 32]` with `at + 16 or 32 <= n` and `s + n <= src.len()`,
            // every store `d[at..at + 16 or 32]`.
            unsafe {
                let mut at = 0;
                if n >= 32 {
                    loop {
                        let a = if at + 32 <= n { at } else { n - 32 };
                        let mut acc = _mm256_loadu_si256(sp.add(starts[0] + a).cast());
                        for &s in &starts[1..] {
                            acc = _mm256_max_epi8(acc, _mm256_loadu_si256(sp.add(s + a).cast()));
                        }
                        _mm256_storeu_si256(dp.add(a).cast(), acc);
                        at += 32;
                        if at >= n {
                            return;
                        }
                    }
                }
                if n >= 16 {
                    loop {
                        let a = if at + 16 <= n { at } else { n - 16 };
                        let mut acc = _mm_loadu_si128(sp.add(starts[0] + a).cast());
                        for &s in &starts[1..] {
                            acc = _mm_max_epi8(acc, _mm_loadu_si128(sp.add(s + a).cast()));
                        }
                        _mm_storeu_si128(dp.add(a).cast(), acc);
                        at += 16;
                        if at >= n {
                            return;
                        }
                    }
                }
                loop {
                    let a = if at + 8 <= n { at } else { n - 8 };
                    let mut acc = _mm_loadl_epi64(sp.add(starts[0] + a).cast());
                    for &s in &starts[1..] {
                        acc = _mm_max_epi8(acc, _mm_loadl_epi64(sp.add(s + a).cast()));
                    }
                    _mm_storel_epi64(dp.add(a).cast(), acc);
                    at += 8;
                    if at >= n {
                        return;
                    }
                }
            }
        }

        #[inline(always)]
        fn deinterleave(row: &[i8], split: &mut [i8], half: usize) {
            let pairs = row.len() / 2;
            if pairs < 8 {
                return deinterleave(row, split, half);
            }
            assert!(split.len() >= half + pairs && half >= pairs, "even and odd halves within split");
            let (rp, dp) = (row.as_ptr(), split.as_mut_ptr());
            // SAFETY: AVX2 as above; loads read `row[2a..2a + 2m]` with `a + m <= pairs` (m = 8 or 16),
            // stores write `split[a..a + m]` and `split[half + a..half + a + m]`.
            unsafe {
                let mask = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
                let mut at = 0;
                if pairs < 16 {
                    loop {
                        let a = if at + 8 <= pairs { at } else { pairs - 8 };
                        let v = _mm_shuffle_epi8(_mm_loadu_si128(rp.add(2 * a).cast()), mask);
                        _mm_storel_epi64(dp.add(a).cast(), v);
                        _mm_storel_epi64(dp.add(half + a).cast(), _mm_unpackhi_epi64(v, v));
                        at += 8;
                        if at >= pairs {
                            break;
                        }
                    }
                } else {
                    loop {
                        let a = if at + 16 <= pairs { at } else { pairs - 16 };
                        let lo = _mm_shuffle_epi8(_mm_loadu_si128(rp.add(2 * a).cast()), mask);
                        let hi = _mm_shuffle_epi8(_mm_loadu_si128(rp.add(2 * a + 16).cast()), mask);
                        _mm_storeu_si128(dp.add(a).cast(), _mm_unpacklo_epi64(lo, hi));
                        _mm_storeu_si128(dp.add(half + a).cast(), _mm_unpackhi_epi64(lo, hi));
                        at += 16;
                        if at >= pairs {
                            break;
                        }
                    }
                }
            }
            if row.len() % 2 == 1 {
                split[pairs] = row[row.len() - 1];
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
    pub(crate) unsafe fn plane_avx512(win: &Window, x: &[i8], out: &mut [i8], row: &mut Vec<i8>) {
        plane_rows_body::<Avx2Rows>(win, x, out, row);
    }

    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn plane_avx2(win: &Window, x: &[i8], out: &mut [i8], row: &mut Vec<i8>) {
        plane_rows_body::<Avx2Rows>(win, x, out, row);
    }
}
