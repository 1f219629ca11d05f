//! Matrix × vector for InnerProduct (and 1-D Convolution input): `y[p] = Σ_k w[p][k]·x[k]`,
//! then the epilogue per output. Weights stay row-major (k padded to 64 with zeros); each path
//! runs four rows against one pass over x.

use super::epilogue::{self, Epilogue, Out, OutPtr};
use super::layout::Buf;
use super::Path;
use rayon::prelude::*;

/// k is padded to a multiple of this (the widest vector, 64 bytes).
const KPAD: usize = 64;

/// InnerProduct weights for one path.
pub struct PackedRows {
    path: Path,
    pub m: usize,
    pub k: usize,
    kp: usize,
    data: Buf,
    /// 128·Σ w[p] for the u8-offset paths (AVX-512 VNNI, AVX-VNNI), else empty.
    comp: Vec<i32>,
}

fn offset_path(path: Path) -> bool {
    matches!(path, Path::Avx512Vnni | Path::AvxVnni)
}

impl PackedRows {
    pub fn new(path: Path, w: &[i8], m: usize, k: usize) -> PackedRows {
        assert_eq!(w.len(), m * k, "PackedRows: {m}×{k} weights expected");
        assert!(path.available(), "int8 path {path} cannot run on this CPU");
        let kp = k.div_ceil(KPAD) * KPAD;
        let mut data = Buf::zeroed::<i8>(m * kp);
        for (dst, src) in data.view_mut::<i8>().chunks_mut(kp).zip(w.chunks(k.max(1))) {
            dst[..k].copy_from_slice(src);
        }
        let comp = if offset_path(path) {
            w.chunks(k.max(1)).take(m).map(|r| 128 * r.iter().map(|&v| i32::from(v)).sum::<i32>()).collect()
        } else {
            Vec::new()
        };
        PackedRows { path, m, k, kp, data, comp }
    }

    pub fn path(&self) -> Path {
        self.path
    }
}

/// Dot products of rows `rows` of `w` with `x` (both kp long) into `acc`.
type DotRows = unsafe fn(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]);

fn reference_rows(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
    for (a, row) in acc.iter_mut().zip(w.chunks(kp)) {
        *a = row.iter().zip(x).map(|(&w, &x)| i32::from(w) * i32::from(x as i8)).sum();
    }
}

/// `y = epilogue(W·x)` for one quantized input vector `x` (k values).
pub fn gemv(w: &PackedRows, x: &[i8], ep: &Epilogue, mut out: Out) {
    let (m, k, kp) = (w.m, w.k, w.kp);
    assert_eq!(x.len(), k, "gemv: input length");
    assert_eq!(out.len(), m, "gemv: output length");
    assert!(ep.scale.len() >= m && ep.bias.is_none_or(|b| b.len() >= m), "gemv: epilogue per row");
    assert_eq!(matches!(out, Out::I8(_)), ep.requant.is_some(), "gemv: int8 output iff requantized");
    super::counters::count(super::counters::Kind::Gemv, w.path);
    let offset = offset_path(w.path);
    let mut xp = vec![if offset { 0x80u8 } else { 0 }; kp];
    for (d, &v) in xp.iter_mut().zip(x) {
        *d = if offset { (v as u8) ^ 0x80 } else { v as u8 };
    }
    let dot: DotRows = match w.path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => x86::rows_vnni512,
        #[cfg(target_arch = "x86_64")]
        Path::AvxVnni => x86::rows_avxvnni,
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => x86::rows_avx2,
        #[cfg(target_arch = "aarch64")]
        Path::Dotprod => aarch64::rows_dotprod,
        #[cfg(target_arch = "aarch64")]
        Path::Neon => aarch64::rows_neon,
        _ => reference_rows,
    };
    let mut acc = vec![0i32; m];
    let data = w.data.view::<i8>();
    // SAFETY: PackedRows::new checked that this CPU runs `w.path`.
    let run = |(rows, a): (&[i8], &mut [i32])| unsafe { dot(rows, kp, &xp, a) };
    const ROWS: usize = 64;
    if m * kp >= 1 << 17 {
        data.par_chunks(ROWS * kp).zip(acc.par_chunks_mut(ROWS)).for_each(run);
    } else {
        data.chunks(ROWS * kp).zip(acc.chunks_mut(ROWS)).for_each(run);
    }
    let out = out.ptr();
    for (p, &a) in acc.iter().enumerate() {
        let c = if offset { w.comp[p] } else { 0 };
        let dst = match out {
            // SAFETY: element p of the m outputs.
            OutPtr::F32(o) => OutPtr::F32(unsafe { o.add(p) }),
            OutPtr::I8(o) => OutPtr::I8(unsafe { o.add(p) }),
        };
        // SAFETY: one element at dst.
        unsafe { epilogue::finish_row_body(&[a], c, p, ep, dst) };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn rows_vnni512(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
        let xp = x.as_ptr();
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [_mm512_setzero_si512(); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(64) {
                let xv = _mm512_loadu_si512(xp.add(i) as *const _);
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    let wv = _mm512_loadu_si512(rows.as_ptr().add(r * kp + i) as *const _);
                    *sr = _mm512_dpbusd_epi32(*sr, xv, wv);
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = _mm512_reduce_add_epi32(sr);
            }
        }
    }

    #[inline(always)]
    unsafe fn hsum256(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }

    #[target_feature(enable = "avx2,avxvnni")]
    pub unsafe fn rows_avxvnni(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
        let xp = x.as_ptr();
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [_mm256_setzero_si256(); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(32) {
                let xv = _mm256_loadu_si256(xp.add(i) as *const __m256i);
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    let wv = _mm256_loadu_si256(rows.as_ptr().add(r * kp + i) as *const __m256i);
                    *sr = _mm256_dpbusd_avx_epi32(*sr, xv, wv);
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = hsum256(sr);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn rows_avx2(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
        let xp = x.as_ptr();
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [_mm256_setzero_si256(); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(16) {
                let xv = _mm256_cvtepi8_epi16(_mm_loadu_si128(xp.add(i) as *const __m128i));
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(rows.as_ptr().add(r * kp + i) as *const __m128i));
                    *sr = _mm256_add_epi32(*sr, _mm256_madd_epi16(xv, wv));
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = hsum256(sr);
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod aarch64 {
    use std::arch::aarch64::*;

    #[target_feature(enable = "neon,dotprod")]
    pub unsafe fn rows_dotprod(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
        let xp = x.as_ptr() as *const i8;
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [vdupq_n_s32(0); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(16) {
                let xv = vld1q_s8(xp.add(i));
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    *sr = super::super::aarch64::sdot(*sr, xv, vld1q_s8(rows.as_ptr().add(r * kp + i)));
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = vaddvq_s32(sr);
            }
        }
    }

    #[target_feature(enable = "neon")]
    pub unsafe fn rows_neon(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
        let xp = x.as_ptr() as *const i8;
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [vdupq_n_s32(0); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(16) {
                let xv = vld1q_s8(xp.add(i));
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    let wv = vld1q_s8(rows.as_ptr().add(r * kp + i));
                    // One product per int16 lane before the pairwise widening add: exact even for
                    // −128·−128 (two such products would overflow int16).
                    *sr = vpadalq_s16(*sr, vmull_s8(vget_low_s8(xv), vget_low_s8(wv)));
                    *sr = vpadalq_s16(*sr, vmull_high_s8(xv, wv));
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = vaddvq_s32(sr);
            }
        }
    }
}
