//! aarch64 GEMM kernels: NEON (`smlal` by lane on int16) and dotprod (`sdot` by element, written
//! as inline assembly because Rust's `vdotq_laneq_s32` is not stable).

use super::epilogue::{self, Epilogue, OutPtr};
use super::layout::{ConvSource, Kernel};
use super::pack;
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
    fn b_of(v: i8) -> i16 {
        i16::from(v)
    }
    unsafe fn micro(kg: usize, a: *const i16, b: *const i16, c: *mut i32) {
        micro_neon(kg, a, b, c)
    }
    unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
        finish_row_neon(acc, comp, row, ep, out)
    }
    unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [i16], scratch: &mut [i8]) {
        pack_b_neon::<Self>(src, rows, j0, kp, panel, scratch)
    }
}

#[target_feature(enable = "neon")]
unsafe fn micro_neon(kk: usize, a: *const i16, b: *const i16, c: *mut i32) {
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
    fn b_of(v: i8) -> i8 {
        v
    }
    unsafe fn micro(kg: usize, a: *const i8, b: *const i8, c: *mut i32) {
        micro_dotprod(kg, a, b, c)
    }
    unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
        finish_row_neon(acc, comp, row, ep, out)
    }
    unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [i8], scratch: &mut [i8]) {
        pack_b_neon::<Self>(src, rows, j0, kp, panel, scratch)
    }
}

/// `acc[i] += Σ_j b[4i+j] · a[4·L+j]`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn sdot_lane<const L: i32>(acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
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

/// `acc[i] += Σ_j b[4i+j] · a[4i+j]`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn sdot(acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
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

#[target_feature(enable = "neon,dotprod")]
unsafe fn micro_dotprod(kg: usize, a: *const i8, b: *const i8, c: *mut i32) {
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

#[target_feature(enable = "neon")]
pub(crate) unsafe fn finish_row_neon(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
    epilogue::finish_row_body(acc, comp, row, ep, out)
}

#[target_feature(enable = "neon")]
unsafe fn pack_b_neon<K: Kernel>(
    src: &ConvSource,
    rows: &[usize],
    j0: usize,
    kp: usize,
    panel: &mut [K::B],
    scratch: &mut [i8],
) {
    pack::pack_b_body::<K>(src, rows, j0, kp, panel, scratch)
}
