//! x86_64 int8 kernels: the GEMM's AVX-512 VNNI (zmm), AVX-VNNI (ymm, VEX) and AVX2 (int16
//! `vpmaddwd`) tiles, the GEMV's row dot products, and the `#[target_feature]` wrappers that compile
//! the shared epilogue and quantization bodies for each instruction set.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use super::epilogue::{self, Epilogue, OutPtr};
use super::pack::{self, Segments};
use super::source::ConvSource;
use super::tiling::Kernel;
use std::arch::x86_64::*;

/// AVX-512 VNNI: 8 rows × 32 columns (two zmm of 16 int32 per row), `vpdpbusd` against a broadcast
/// weight group.
pub(crate) struct Vnni512;

impl Kernel for Vnni512 {
    const MR: usize = 8;
    const NR: usize = 32;
    const G: usize = 4;
    const OFFSET: bool = true;
    type A = i8;
    type B = u8;
    fn a_of(v: i8) -> i8 {
        v
    }
    unsafe fn micro(kg: usize, a: *const i8, b: *const u8, c: *mut i32) {
        unsafe { micro_vnni512(kg, a, b, c) }
    }
    unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
        unsafe { finish_row_avx512(acc, comp, row, ep, out) }
    }
    unsafe fn quantize_rows(x: &[f32], stride: usize, cols: usize, scale: f32, out: &mut [i8]) {
        unsafe { quantize_rows_avx512(x, stride, cols, scale, out) }
    }
    unsafe fn finish_tile(
        acc: &[i32],
        ld: usize,
        cols: usize,
        comps: &[i32],
        row0: usize,
        ep: &Epilogue,
        out: OutPtr,
        out_ld: usize,
    ) {
        unsafe { finish_tile_avx512(acc, ld, cols, comps, row0, ep, out, out_ld) }
    }
    unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [u8]) {
        unsafe { pack_b_vnni512(src, rows, j0, kp, panel) }
    }
}

/// Every even byte of a 64-byte vector: the pixels of a stride-2 row.
const EVEN_BYTES: u64 = 0x5555_5555_5555_5555;

/// The AVX-512 B panel (32 columns, groups of 4 rows): each row's 32 bytes come from one masked
/// load per run (stride 2: a 64-byte load narrowed to its even bytes; larger strides gather), then
/// four rows are interleaved into 4-byte groups and offset to u8.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn pack_b_vnni512(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [u8]) {
    unsafe {
        debug_assert_eq!(panel.len(), kp * 32);
        let seg = Segments::of(src, j0, 32);
        let sw = src.stride.0;
        let data = src.data.as_ptr();
        let load_row = |r: usize| -> __m256i {
            let Some(&row) = rows.get(r) else { return _mm256_setzero_si256() };
            if sw > 2 {
                let mut buf = [0i8; 32];
                pack::gather_runs(src, &seg, row, &mut buf);
                return _mm256_loadu_si256(buf.as_ptr().cast::<__m256i>());
            }
            let mut v512 = _mm512_setzero_si512();
            let mut v = _mm256_setzero_si256();
            for &(a, b, off) in &seg.runs[..seg.len] {
                // The lanes outside a..b are masked off, so the base may point before the data:
                // only in-range bytes are read.
                let base = data.wrapping_add(row + off);
                if sw == 1 {
                    let mask = ((1u64 << b) - 1) as u32 & !(((1u64 << a) - 1) as u32);
                    v = _mm256_mask_loadu_epi8(v, mask, base.wrapping_sub(a as usize));
                } else {
                    // Only the even bytes (the pixels) are read: the odd byte after the last
                    // pixel may lie past the data.
                    let mask = (if b == 32 { u64::MAX } else { (1u64 << (2 * b)) - 1 }) & !((1u64 << (2 * a)) - 1);
                    v512 = _mm512_mask_loadu_epi8(v512, mask & EVEN_BYTES, base.wrapping_sub(2 * a as usize));
                }
            }
            if sw == 1 {
                v
            } else {
                _mm512_cvtepi16_epi8(v512)
            }
        };
        // The common panel: one run of 32 columns at stride 1 or 2 (a 1×1 or stem convolution,
        // an unpadded plane). Its groups of four real rows are loaded here, inline: through the
        // general closure each row cost a call.
        let single = seg.len == 1 && seg.runs[0].0 == 0 && seg.runs[0].1 == 32 && sw <= 2;
        let direct_groups = if single { rows.len() / 4 } else { 0 };
        let base = data.wrapping_add(seg.runs[0].2);
        let direct = |r: usize| -> __m256i {
            // SAFETY (of the loads): the run's 32 pixels lie inside the data; at stride 2 only
            // their (even) bytes are read.
            let p = base.wrapping_add(rows[r]);
            if sw == 1 {
                _mm256_loadu_si256(p.cast::<__m256i>())
            } else {
                _mm512_cvtepi16_epi8(_mm512_maskz_loadu_epi8(EVEN_BYTES, p))
            }
        };
        let flip = _mm256_set1_epi8(-128);
        let out = panel.as_mut_ptr().cast::<__m256i>();
        for kg in 0..kp / 4 {
            let (r0, r1, r2, r3) = if kg < direct_groups {
                (direct(4 * kg), direct(4 * kg + 1), direct(4 * kg + 2), direct(4 * kg + 3))
            } else {
                (load_row(4 * kg), load_row(4 * kg + 1), load_row(4 * kg + 2), load_row(4 * kg + 3))
            };
            let t0 = _mm256_unpacklo_epi8(r0, r1);
            let t1 = _mm256_unpackhi_epi8(r0, r1);
            let t2 = _mm256_unpacklo_epi8(r2, r3);
            let t3 = _mm256_unpackhi_epi8(r2, r3);
            // Per 128-bit half: u0 pixels 0-3, u1 4-7, u2 8-11, u3 12-15 (and 16-31 in the upper half).
            let u0 = _mm256_unpacklo_epi16(t0, t2);
            let u1 = _mm256_unpackhi_epi16(t0, t2);
            let u2 = _mm256_unpacklo_epi16(t1, t3);
            let u3 = _mm256_unpackhi_epi16(t1, t3);
            let o = out.add(4 * kg);
            _mm256_storeu_si256(o, _mm256_xor_si256(_mm256_permute2x128_si256::<0x20>(u0, u1), flip));
            _mm256_storeu_si256(o.add(1), _mm256_xor_si256(_mm256_permute2x128_si256::<0x20>(u2, u3), flip));
            _mm256_storeu_si256(o.add(2), _mm256_xor_si256(_mm256_permute2x128_si256::<0x31>(u0, u1), flip));
            _mm256_storeu_si256(o.add(3), _mm256_xor_si256(_mm256_permute2x128_si256::<0x31>(u2, u3), flip));
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn micro_vnni512(kg: usize, a: *const i8, b: *const u8, c: *mut i32) {
    unsafe {
        let mut acc = [_mm512_setzero_si512(); 16];
        for g in 0..kg {
            let b0 = _mm512_loadu_si512(b.add(g * 128).cast());
            let b1 = _mm512_loadu_si512(b.add(g * 128 + 64).cast());
            let ap = a.add(g * 32).cast::<i32>();
            for r in 0..8 {
                let w = _mm512_set1_epi32(ap.add(r).read_unaligned());
                acc[2 * r] = _mm512_dpbusd_epi32(acc[2 * r], b0, w);
                acc[2 * r + 1] = _mm512_dpbusd_epi32(acc[2 * r + 1], b1, w);
            }
        }
        for (r, v) in acc.iter().enumerate() {
            _mm512_storeu_si512(c.add(r * 16).cast(), *v);
        }
    }
}

/// The ymm `vpdpbusd` kernel body: 6 rows × 16 columns. Two encodings share it: VEX (AVX-VNNI,
/// the dispatched `avxvnni` path) and EVEX (AVX-512 VNNI + VL, which the tests run on CPUs that
/// lack AVX-VNNI so the body itself is covered).
macro_rules! ymm_vnni_kernel {
    ($name:ident, $micro:ident, $features:literal, $dp:ident) => {
        pub(crate) struct $name;

        impl Kernel for $name {
            const MR: usize = 6;
            const NR: usize = 16;
            const G: usize = 4;
            const OFFSET: bool = true;
            type A = i8;
            type B = u8;
            fn a_of(v: i8) -> i8 {
                v
            }
            unsafe fn micro(kg: usize, a: *const i8, b: *const u8, c: *mut i32) {
                unsafe { $micro(kg, a, b, c) }
            }
            unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
                unsafe { finish_row_avx2(acc, comp, row, ep, out) }
            }
            unsafe fn quantize_rows(x: &[f32], stride: usize, cols: usize, scale: f32, out: &mut [i8]) {
                unsafe { quantize_rows_avx2(x, stride, cols, scale, out) }
            }
            unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [u8]) {
                unsafe { pack_b_ymm_u8(src, rows, j0, kp, panel) }
            }
        }

        #[target_feature(enable = $features)]
        unsafe fn $micro(kg: usize, a: *const i8, b: *const u8, c: *mut i32) {
            unsafe {
                let mut acc = [_mm256_setzero_si256(); 12];
                for g in 0..kg {
                    let b0 = _mm256_loadu_si256(b.add(g * 64).cast::<__m256i>());
                    let b1 = _mm256_loadu_si256(b.add(g * 64 + 32).cast::<__m256i>());
                    let ap = a.add(g * 24).cast::<i32>();
                    for r in 0..6 {
                        let w = _mm256_set1_epi32(ap.add(r).read_unaligned());
                        acc[2 * r] = $dp(acc[2 * r], b0, w);
                        acc[2 * r + 1] = $dp(acc[2 * r + 1], b1, w);
                    }
                }
                for (r, v) in acc.iter().enumerate() {
                    _mm256_storeu_si256(c.add(r * 8).cast::<__m256i>(), *v);
                }
            }
        }
    };
}

ymm_vnni_kernel!(AvxVnni, micro_avxvnni, "avx2,avxvnni", _mm256_dpbusd_avx_epi32);

/// AVX2: 6 rows × 16 columns on int16 pairs with `vpmaddwd` (exact for all int8 values).
pub(crate) struct Avx2;

impl Kernel for Avx2 {
    const MR: usize = 6;
    const NR: usize = 16;
    const G: usize = 2;
    const OFFSET: bool = false;
    type A = i16;
    type B = i16;
    fn a_of(v: i8) -> i16 {
        i16::from(v)
    }
    unsafe fn micro(kg: usize, a: *const i16, b: *const i16, c: *mut i32) {
        unsafe { micro_avx2(kg, a, b, c) }
    }
    unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
        unsafe { finish_row_avx2(acc, comp, row, ep, out) }
    }
    unsafe fn quantize_rows(x: &[f32], stride: usize, cols: usize, scale: f32, out: &mut [i8]) {
        unsafe { quantize_rows_avx2(x, stride, cols, scale, out) }
    }
    unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [i16]) {
        unsafe { pack_b_avx2_i16(src, rows, j0, kp, panel) }
    }
}

#[target_feature(enable = "avx2")]
unsafe fn micro_avx2(kg: usize, a: *const i16, b: *const i16, c: *mut i32) {
    unsafe {
        let mut acc = [_mm256_setzero_si256(); 12];
        for g in 0..kg {
            let b0 = _mm256_loadu_si256(b.add(g * 32).cast::<__m256i>());
            let b1 = _mm256_loadu_si256(b.add(g * 32 + 16).cast::<__m256i>());
            let ap = a.add(g * 12).cast::<i32>();
            for r in 0..6 {
                let w = _mm256_set1_epi32(ap.add(r).read_unaligned());
                acc[2 * r] = _mm256_add_epi32(acc[2 * r], _mm256_madd_epi16(b0, w));
                acc[2 * r + 1] = _mm256_add_epi32(acc[2 * r + 1], _mm256_madd_epi16(b1, w));
            }
        }
        for (r, v) in acc.iter().enumerate() {
            _mm256_storeu_si256(c.add(r * 8).cast::<__m256i>(), *v);
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,fma")]
pub(crate) unsafe fn finish_row_avx512(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
    unsafe { epilogue::finish_row_body(acc, comp, row, ep, out) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn finish_tile_avx512(
    acc: &[i32],
    ld: usize,
    cols: usize,
    comps: &[i32],
    row0: usize,
    ep: &Epilogue,
    out: OutPtr,
    out_ld: usize,
) {
    unsafe { epilogue::finish_tile_body(acc, ld, cols, comps, row0, ep, out, out_ld) }
}

#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn finish_row_avx2(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
    unsafe { epilogue::finish_row_body(acc, comp, row, ep, out) }
}

/// Row `r` of B for a 16-column panel: one unaligned load when the panel is a single stride-1
/// run inside the data, else gathered through a small buffer.
#[inline(always)]
unsafe fn gather16(src: &ConvSource, seg: &Segments, rows: &[usize], r: usize) -> __m128i {
    unsafe {
        let Some(&row) = rows.get(r) else { return _mm_setzero_si128() };
        let sw = src.stride.0;
        if seg.len == 1 && seg.runs[0].0 == 0 && seg.runs[0].1 == 16 && sw == 1 {
            let at = row + seg.runs[0].2;
            if at + 16 <= src.data.len() {
                return _mm_loadu_si128(src.data.as_ptr().add(at).cast::<__m128i>());
            }
        }
        let mut buf = [0i8; 16];
        pack::gather_runs(src, seg, row, &mut buf);
        _mm_loadu_si128(buf.as_ptr().cast::<__m128i>())
    }
}

/// The AVX2 B panel: 16 columns, int16 pairs of rows `[k/2][16][2]`.
#[target_feature(enable = "avx2")]
unsafe fn pack_b_avx2_i16(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [i16]) {
    unsafe {
        debug_assert_eq!(panel.len(), kp * 16);
        let seg = Segments::of(src, j0, 16);
        let out = panel.as_mut_ptr().cast::<__m256i>();
        for kg in 0..kp / 2 {
            let a = _mm256_cvtepi8_epi16(gather16(src, &seg, rows, 2 * kg));
            let b = _mm256_cvtepi8_epi16(gather16(src, &seg, rows, 2 * kg + 1));
            // Per 128-bit half: lo holds pixels 0-3 (and 8-11), hi 4-7 (and 12-15).
            let lo = _mm256_unpacklo_epi16(a, b);
            let hi = _mm256_unpackhi_epi16(a, b);
            _mm256_storeu_si256(out.add(2 * kg), _mm256_permute2x128_si256::<0x20>(lo, hi));
            _mm256_storeu_si256(out.add(2 * kg + 1), _mm256_permute2x128_si256::<0x31>(lo, hi));
        }
    }
}

/// The ymm VNNI B panel: 16 columns, groups of 4 rows `[k/4][16][4]`, offset to u8.
#[target_feature(enable = "avx2")]
unsafe fn pack_b_ymm_u8(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [u8]) {
    unsafe {
        debug_assert_eq!(panel.len(), kp * 16);
        let seg = Segments::of(src, j0, 16);
        let flip = _mm_set1_epi8(-128);
        let out = panel.as_mut_ptr().cast::<__m128i>();
        for kg in 0..kp / 4 {
            let r0 = gather16(src, &seg, rows, 4 * kg);
            let r1 = gather16(src, &seg, rows, 4 * kg + 1);
            let r2 = gather16(src, &seg, rows, 4 * kg + 2);
            let r3 = gather16(src, &seg, rows, 4 * kg + 3);
            let t0 = _mm_unpacklo_epi8(r0, r1);
            let t1 = _mm_unpackhi_epi8(r0, r1);
            let t2 = _mm_unpacklo_epi8(r2, r3);
            let t3 = _mm_unpackhi_epi8(r2, r3);
            let o = out.add(4 * kg);
            _mm_storeu_si128(o, _mm_xor_si128(_mm_unpacklo_epi16(t0, t2), flip));
            _mm_storeu_si128(o.add(1), _mm_xor_si128(_mm_unpackhi_epi16(t0, t2), flip));
            _mm_storeu_si128(o.add(2), _mm_xor_si128(_mm_unpacklo_epi16(t1, t3), flip));
            _mm_storeu_si128(o.add(3), _mm_xor_si128(_mm_unpackhi_epi16(t1, t3), flip));
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) unsafe fn quantize_avx512(x: &[f32], scale: f32, out: &mut [i8]) {
    epilogue::quantize_body(x, scale, out);
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) unsafe fn quantize_rows_avx512(x: &[f32], stride: usize, cols: usize, scale: f32, out: &mut [i8]) {
    epilogue::quantize_rows_body(x, stride, cols, scale, out);
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_rows_avx2(x: &[f32], stride: usize, cols: usize, scale: f32, out: &mut [i8]) {
    epilogue::quantize_rows_body(x, stride, cols, scale, out);
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_avx2(x: &[f32], scale: f32, out: &mut [i8]) {
    epilogue::quantize_body(x, scale, out);
}

// GEMV: four rows of the (k-padded, row-major) weights against one pass over x.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn rows_vnni512(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
    unsafe {
        let xp = x.as_ptr();
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [_mm512_setzero_si512(); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(64) {
                let xv = _mm512_loadu_si512(xp.add(i).cast());
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    let wv = _mm512_loadu_si512(rows.as_ptr().add(r * kp + i).cast());
                    *sr = _mm512_dpbusd_epi32(*sr, xv, wv);
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = _mm512_reduce_add_epi32(sr);
            }
        }
    }
}

#[inline(always)]
unsafe fn hsum256(v: __m256i) -> i32 {
    unsafe {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}

#[target_feature(enable = "avx2,avxvnni")]
pub(crate) unsafe fn rows_avxvnni(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
    unsafe {
        let xp = x.as_ptr();
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [_mm256_setzero_si256(); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(32) {
                let xv = _mm256_loadu_si256(xp.add(i).cast::<__m256i>());
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    let wv = _mm256_loadu_si256(rows.as_ptr().add(r * kp + i).cast::<__m256i>());
                    *sr = _mm256_dpbusd_avx_epi32(*sr, xv, wv);
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = hsum256(sr);
            }
        }
    }
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn rows_avx2(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
    unsafe {
        let xp = x.as_ptr();
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [_mm256_setzero_si256(); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(16) {
                let xv = _mm256_cvtepi8_epi16(_mm_loadu_si128(xp.add(i).cast::<__m128i>()));
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(rows.as_ptr().add(r * kp + i).cast::<__m128i>()));
                    *sr = _mm256_add_epi32(*sr, _mm256_madd_epi16(xv, wv));
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = hsum256(sr);
            }
        }
    }
}

#[cfg(test)]
pub(crate) use evex::EvexYmm;

#[cfg(test)]
mod evex {
    use super::*;
    ymm_vnni_kernel!(EvexYmm, micro_evex_ymm, "avx2,avx512f,avx512vl,avx512vnni", _mm256_dpbusd_epi32);
}
