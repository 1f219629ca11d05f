//! aarch64 paths. NEON: widen 8 lanes to int16 products and pairwise-add them into int32.
//! dotprod (ARMv8.2 SDOT): four int8 products summed into each int32 lane in one instruction. Rust's
//! `vdotq_s32` is still unstable, so SDOT is written as inline assembly.

use std::arch::aarch64::*;
use std::arch::asm;

/// # Safety
/// Needs NEON; `a` and `b` have equal lengths.
#[target_feature(enable = "neon")]
pub unsafe fn dot_neon(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n - n % 16;
    let mut acc = vdupq_n_s32(0);
    let mut i = 0;
    while i < body {
        let va = vld1q_s8(a.as_ptr().add(i));
        let vb = vld1q_s8(b.as_ptr().add(i));
        acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(va), vget_low_s8(vb)));
        // The CI demonstration of a broken NEON kernel (feature `break-neon-for-ci-demo`, never in
        // a real build): drop the upper eight products, so every length >= 16 comes out wrong.
        #[cfg(not(feature = "break-neon-for-ci-demo"))]
        {
            acc = vpadalq_s16(acc, vmull_high_s8(va, vb));
        }
        i += 16;
    }
    vaddvq_s32(acc) + super::reference::dot(&a[body..n], &b[body..n])
}

#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    asm!(
        "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack, preserves_flags)
    );
    acc
}

/// # Safety
/// Needs NEON and dotprod; `a` and `b` have equal lengths.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn dot_dotprod(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n - n % 16;
    let mut acc = vdupq_n_s32(0);
    let mut i = 0;
    while i < body {
        acc = sdot(acc, vld1q_s8(a.as_ptr().add(i)), vld1q_s8(b.as_ptr().add(i)));
        i += 16;
    }
    vaddvq_s32(acc) + super::reference::dot(&a[body..n], &b[body..n])
}
