//! The kernel of [`super::run_phased`]'s products: the path's microkernel tile without its
//! partial tiles, bias, activation or prefetch (on AVX-512 the microkernel's prefetch of the next
//! panel's A, one line a step, cost 5–10 % there: its k blocks read the same A again soon).
// The microkernel module itself, not gemm_f32 (whose mod.rs imports dispatch, which imports the
// transforms that name this kernel).
pub(crate) use crate::kernels::gemm_f32::micro::Tile;
use crate::kernels::simd::{F32Vec, RegAct};

/// Runs one full tile of C (+)= A·B as the microkernel's [`Tile`] describes it, without its bias
/// and activation (C starts at zero, or continues its sums when `accumulate`). Unsafe: the CPU
/// must run the path, and the pointers be valid for the tile's sizes.
pub(crate) type ProdFn = unsafe fn(&Tile);

#[inline(always)]
pub(crate) unsafe fn prod<V: F32Vec, const MR: usize, const NV: usize>(t: &Tile) {
    debug_assert!(t.rows == MR && t.cols == NV * V::LANES && matches!(t.act, RegAct::None));
    let Tile { kc, a, lda, b, ldb, c, ldc, accumulate, .. } = *t;
    unsafe {
        let mut acc = [[V::zero(); NV]; MR];
        if accumulate {
            for (i, row) in acc.iter_mut().enumerate() {
                for (v, r) in row.iter_mut().enumerate() {
                    *r = V::load(c.add(i * ldc + v * V::LANES));
                }
            }
        }
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let mut bv = [V::zero(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = V::load(b.add(v * V::LANES));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let av = V::splat(*a.add(i));
                for (r, &x) in row.iter_mut().zip(&bv) {
                    *r = V::fma(av, x, *r);
                }
            }
            a = a.add(lda);
            b = b.add(ldb);
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &r) in row.iter().enumerate() {
                r.store(c.add(i * ldc + v * V::LANES));
            }
        }
    }
}
