//! Portable reference: row by row, accumulating k-outer so the inner loop runs along contiguous
//! rows of B and C (which compilers vectorize).

use super::epilogue::Epilogue;
use crate::base::parallel;

pub fn gemm(a: &[f32], m: usize, k: usize, b: &[f32], n: usize, c: &mut [f32], epilogue: Epilogue) {
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), k * n);
    debug_assert_eq!(c.len(), m * n);
    if n == 0 {
        return;
    }
    parallel::for_each_chunk(c, n, 1, |i, row| {
        for v in row.iter_mut() {
            *v = 0.0;
        }
        let arow = &a[i * k..(i + 1) * k];
        for (p, &av) in arow.iter().enumerate() {
            let brow = &b[p * n..(p + 1) * n];
            row.iter_mut().zip(brow).for_each(|(cv, &bv)| *cv += av * bv);
        }
        epilogue.finish_row(i, row);
    });
}
