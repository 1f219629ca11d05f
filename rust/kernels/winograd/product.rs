//! The kernel of [`super::run_phased`]'s products: the path's microkernel tile without its
//! partial tiles, bias, activation or prefetch (on AVX-512 the microkernel's prefetch of the next
//! panel's A, one line a step, cost 5–10 % there: its k blocks read the same A again soon).
use crate::kernels::simd::F32Vec;

/// C (MR × NV·LANES, `ldc` apart) (+)= Σ over kc steps of `A[k][0..MR]` · `B[k][..]`, full tiles only.
pub(crate) type ProdFn = unsafe fn(usize, *const f32, usize, *const f32, usize, *mut f32, usize, bool);

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn prod<V: F32Vec, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
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
