//! aarch64 depthwise rows: NEON, 8 pixels widened to int16 and multiply-accumulated into int32.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use super::row::{row_scalar, Row};
use std::arch::aarch64::*;

#[target_feature(enable = "neon")]
pub(crate) unsafe fn row_neon(row: &Row, acc: &mut [i32]) {
    unsafe {
        const L: usize = 8;
        let s = row.stride;
        let n = acc.len();
        let len = row.data.len();
        let last_tap = row.origin + row.reach;
        // In bounds: `row.origin` lies in `data` (the full-vector checks use `last_tap`).
        let p = row.data.as_ptr().add(row.origin);
        let mut ox = 0;
        if s == 1 || s == 2 {
            while ox + L <= n && last_tap + (ox + L) * s <= len {
                let mut lo = vdupq_n_s32(0);
                let mut hi = vdupq_n_s32(0);
                for (&t, &w) in row.taps.iter().zip(row.weights) {
                    let x = if s == 1 { vld1_s8(p.add(t + ox)) } else { vld2_s8(p.add(t + 2 * ox)).0 };
                    let x = vmovl_s8(x);
                    lo = vmlal_n_s16(lo, vget_low_s16(x), i16::from(w));
                    hi = vmlal_high_n_s16(hi, x, i16::from(w));
                }
                vst1q_s32(acc.as_mut_ptr().add(ox), lo);
                vst1q_s32(acc.as_mut_ptr().add(ox + 4), hi);
                ox += L;
            }
        }
        row_scalar(row, ox, acc);
    }
}
