//! aarch64 int8 kernels: the GEMM's NEON (`smlal` by lane on int16) and dotprod (`sdot` by
//! element, written as inline assembly because Rust's `vdotq_laneq_s32` is not stable) tiles, and
//! the GEMV's row dot products.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use super::epilogue::{self, Epilogue, OutPtr};
use super::pack::{self, Segments};
use super::source::ConvSource;
use super::tiling::Kernel;
use std::arch::aarch64::*;
use std::arch::asm;

/// NEON: 8 rows × 8 columns; per k, one int16 vector of 8 weights (one per row) multiplies a vector
/// of 8 pixels lane by lane.
pub(crate) struct Neon;

impl Kernel for Neon {
    const MR: usize = 8;
    const NR: usize = 8;
    const G: usize = 1;
    const OFFSET: bool = false;
    type A = i16;
    type B = i16;
    fn a_of(v: i8) -> i16 {
        i16::from(v)
    }
    unsafe fn micro(kg: usize, a: *const i16, b: *const i16, c: *mut i32) {
        unsafe { micro_neon(kg, a, b, c) }
    }
    unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
        unsafe { finish_row_neon(acc, comp, row, ep, out) }
    }
    unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [i16]) {
        unsafe { pack_b_neon_i16(src, rows, j0, kp, panel) }
    }
}

#[target_feature(enable = "neon")]
unsafe fn micro_neon(kk: usize, a: *const i16, b: *const i16, c: *mut i32) {
    unsafe {
        let mut acc = [vdupq_n_s32(0); 16];
        for k in 0..kk {
            let bv = vld1q_s16(b.add(k * 8));
            let av = vld1q_s16(a.add(k * 8));
            let bl = vget_low_s16(bv);
            macro_rules! row {
                ($r:literal) => {
                    acc[2 * $r] = vmlal_laneq_s16::<$r>(acc[2 * $r], bl, av);
                    acc[2 * $r + 1] = vmlal_high_laneq_s16::<$r>(acc[2 * $r + 1], bv, av);
                };
            }
            row!(0);
            row!(1);
            row!(2);
            row!(3);
            row!(4);
            row!(5);
            row!(6);
            row!(7);
        }
        for (r, v) in acc.iter().enumerate() {
            vst1q_s32(c.add(r * 4), *v);
        }
    }
}

/// dotprod: 8 rows × 8 columns; `sdot` by element multiplies 4 pixels × 4 k by one row's 4 k.
pub(crate) struct Dotprod;

impl Kernel for Dotprod {
    const MR: usize = 8;
    const NR: usize = 8;
    const G: usize = 4;
    const OFFSET: bool = false;
    type A = i8;
    type B = i8;
    fn a_of(v: i8) -> i8 {
        v
    }
    unsafe fn micro(kg: usize, a: *const i8, b: *const i8, c: *mut i32) {
        unsafe { micro_dotprod(kg, a, b, c) }
    }
    unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
        unsafe { finish_row_neon(acc, comp, row, ep, out) }
    }
    unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [i8]) {
        unsafe { pack_b_dotprod(src, rows, j0, kp, panel) }
    }
}

/// `acc[i] += Σ_j b[4i+j] · a[4·L+j]`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn sdot_lane<const L: i32>(acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
    unsafe {
        let mut acc = acc;
        asm!(
            "sdot {acc:v}.4s, {b:v}.16b, {a:v}.4b[{l}]",
            acc = inout(vreg) acc,
            b = in(vreg) b,
            a = in(vreg) a,
            l = const L,
            options(pure, nomem, nostack, preserves_flags)
        );
        acc
    }
}

/// `acc[i] += Σ_j b[4i+j] · a[4i+j]`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn sdot(acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
    unsafe {
        let mut acc = acc;
        asm!(
            "sdot {acc:v}.4s, {b:v}.16b, {a:v}.16b",
            acc = inout(vreg) acc,
            b = in(vreg) b,
            a = in(vreg) a,
            options(pure, nomem, nostack, preserves_flags)
        );
        acc
    }
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn micro_dotprod(kg: usize, a: *const i8, b: *const i8, c: *mut i32) {
    unsafe {
        let mut acc = [vdupq_n_s32(0); 16];
        for g in 0..kg {
            let b0 = vld1q_s8(b.add(g * 32));
            let b1 = vld1q_s8(b.add(g * 32 + 16));
            let a0 = vld1q_s8(a.add(g * 32));
            let a1 = vld1q_s8(a.add(g * 32 + 16));
            macro_rules! row {
                ($r:literal, $a:ident, $l:literal) => {
                    acc[2 * $r] = sdot_lane::<$l>(acc[2 * $r], b0, $a);
                    acc[2 * $r + 1] = sdot_lane::<$l>(acc[2 * $r + 1], b1, $a);
                };
            }
            row!(0, a0, 0);
            row!(1, a0, 1);
            row!(2, a0, 2);
            row!(3, a0, 3);
            row!(4, a1, 0);
            row!(5, a1, 1);
            row!(6, a1, 2);
            row!(7, a1, 3);
        }
        for (r, v) in acc.iter().enumerate() {
            vst1q_s32(c.add(r * 4), *v);
        }
    }
}

#[target_feature(enable = "neon")]
pub(crate) unsafe fn finish_row_neon(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
    unsafe { epilogue::finish_row_body(acc, comp, row, ep, out) }
}

/// Row `r` of B for an 8-column panel: one load when the panel is a single stride-1 run inside
/// the data, else gathered through a small buffer.
#[inline(always)]
unsafe fn gather8(src: &ConvSource, seg: &Segments, rows: &[usize], r: usize) -> int8x8_t {
    unsafe {
        let Some(&row) = rows.get(r) else { return vdup_n_s8(0) };
        let sw = src.stride.0;
        if seg.len == 1 && seg.runs[0].0 == 0 && seg.runs[0].1 == 8 && sw == 1 {
            let at = row + seg.runs[0].2;
            if at + 8 <= src.data.len() {
                return vld1_s8(src.data.as_ptr().add(at));
            }
        }
        let mut buf = [0i8; 8];
        pack::gather_runs(src, seg, row, &mut buf);
        vld1_s8(buf.as_ptr())
    }
}

/// The NEON B panel: 8 columns of int16 per row, `[k][8]`.
#[target_feature(enable = "neon")]
unsafe fn pack_b_neon_i16(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [i16]) {
    unsafe {
        debug_assert_eq!(panel.len(), kp * 8);
        let seg = Segments::of(src, j0, 8);
        for k in 0..kp {
            vst1q_s16(panel.as_mut_ptr().add(8 * k), vmovl_s8(gather8(src, &seg, rows, k)));
        }
    }
}

/// The dotprod B panel: 8 columns, groups of 4 rows `[k/4][8][4]`.
#[target_feature(enable = "neon")]
unsafe fn pack_b_dotprod(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [i8]) {
    unsafe {
        debug_assert_eq!(panel.len(), kp * 8);
        let seg = Segments::of(src, j0, 8);
        for kg in 0..kp / 4 {
            let r0 = gather8(src, &seg, rows, 4 * kg);
            let r1 = gather8(src, &seg, rows, 4 * kg + 1);
            let r2 = gather8(src, &seg, rows, 4 * kg + 2);
            let r3 = gather8(src, &seg, rows, 4 * kg + 3);
            // t0/t1: pixels 0-3 / 4-7 as (row 0, row 1) byte pairs; t2/t3 the same for rows 2, 3.
            let t0 = vreinterpret_s16_s8(vzip1_s8(r0, r1));
            let t1 = vreinterpret_s16_s8(vzip2_s8(r0, r1));
            let t2 = vreinterpret_s16_s8(vzip1_s8(r2, r3));
            let t3 = vreinterpret_s16_s8(vzip2_s8(r2, r3));
            let o = panel.as_mut_ptr().add(32 * kg);
            vst1_s8(o, vreinterpret_s8_s16(vzip1_s16(t0, t2)));
            vst1_s8(o.add(8), vreinterpret_s8_s16(vzip2_s16(t0, t2)));
            vst1_s8(o.add(16), vreinterpret_s8_s16(vzip1_s16(t1, t3)));
            vst1_s8(o.add(24), vreinterpret_s8_s16(vzip2_s16(t1, t3)));
        }
    }
}

// GEMV: four rows of the (k-padded, row-major) weights against one pass over x.
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn rows_dotprod(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
    unsafe {
        let xp = x.as_ptr().cast::<i8>();
        for (rows, out) in w.chunks(4 * kp).zip(acc.chunks_mut(4)) {
            let mut s = [vdupq_n_s32(0); 4];
            let nrow = out.len();
            for i in (0..kp).step_by(16) {
                let xv = vld1q_s8(xp.add(i));
                for (r, sr) in s.iter_mut().enumerate().take(nrow) {
                    *sr = sdot(*sr, xv, vld1q_s8(rows.as_ptr().add(r * kp + i)));
                }
            }
            for (o, sr) in out.iter_mut().zip(s) {
                *o = vaddvq_s32(sr);
            }
        }
    }
}

#[target_feature(enable = "neon")]
pub(crate) unsafe fn rows_neon(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
    unsafe {
        let xp = x.as_ptr().cast::<i8>();
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
