//! The portable reference: plain loops over an explicit im2col matrix. It defines the results
//! every SIMD path must reproduce bit for bit, and it is the `reference` path itself.

use super::epilogue::{self, Epilogue, Out};
use super::pack::{Buf, PackedWeights};
use super::source::ConvSource;
use crate::base::parallel;

/// C (m×n) = A (m×k) · B (k×n), int32, all row-major.
pub fn gemm_i32(a: &[i8], m: usize, k: usize, b: &[i8], n: usize) -> Vec<i32> {
    assert_eq!(a.len(), m * k);
    assert_eq!(b.len(), k * n);
    let mut c = vec![0i32; m * n];
    for (p, row) in c.chunks_mut(n.max(1)).enumerate().take(m) {
        accumulate_row(&a[p * k..(p + 1) * k], b, n, row);
    }
    c
}

fn accumulate_row(a_row: &[i8], b: &[i8], n: usize, acc: &mut [i32]) {
    acc.fill(0);
    for (kk, &w) in a_row.iter().enumerate() {
        let w = i32::from(w);
        for (c, &x) in acc.iter_mut().zip(&b[kk * n..(kk + 1) * n]) {
            *c += w * i32::from(x);
        }
    }
}

/// The im2col matrix of a convolution source: rows (c, ky, kx), columns (oy, ox).
pub fn im2col(src: &ConvSource) -> Vec<i8> {
    let n = src.n();
    let mut col = vec![0i8; src.k() * n];
    for (r, row) in col.chunks_mut(n.max(1)).enumerate().take(src.k()) {
        for (j, v) in row.iter_mut().enumerate() {
            *v = src.at(r, j);
        }
    }
    col
}

/// The whole convolution GEMM with the epilogue, row by row.
pub fn conv_gemm(a: &[i8], m: usize, k: usize, src: &ConvSource, ep: &Epilogue, out: &mut Out) {
    let n = src.n();
    let col = im2col(src);
    let finish = |p: usize, acc: &[i32], out: super::epilogue::OutPtr| {
        // SAFETY: `out` addresses row p of the output, n elements, owned by this task.
        unsafe { epilogue::finish_row_body(acc, 0, p, ep, out) }
    };
    match out {
        Out::F32(o) => parallel::for_each_chunk(&mut o[..m * n], n, 1, |p, orow| {
            let mut acc = vec![0i32; n];
            accumulate_row(&a[p * k..(p + 1) * k], &col, n, &mut acc);
            finish(p, &acc, super::epilogue::OutPtr::F32(orow.as_mut_ptr()));
        }),
        Out::I8(o) => parallel::for_each_chunk(&mut o[..m * n], n, 1, |p, orow| {
            let mut acc = vec![0i32; n];
            accumulate_row(&a[p * k..(p + 1) * k], &col, n, &mut acc);
            finish(p, &acc, super::epilogue::OutPtr::I8(orow.as_mut_ptr()));
        }),
    }
}

/// The reference path's "packing": the row-major weights as they are.
pub(crate) fn pack_a(w: &[i8], m: usize, k: usize) -> PackedWeights {
    let mut data = Buf::zeroed::<i8>(w.len());
    data.view_mut::<i8>().copy_from_slice(w);
    PackedWeights { m, k, kp: k, data, comp: Vec::new() }
}

/// [`conv_gemm`] on weights from [`pack_a`]: the reference path's GEMM.
pub(crate) fn packed_gemm(a: &PackedWeights, src: &ConvSource, ep: &Epilogue, out: &mut Out) {
    conv_gemm(a.data.view::<i8>(), a.m, a.k, src, ep, out);
}

/// Dot products of the rows of `w` (each `kp` long) with `x` (kp values, int8 as bytes) into `acc`.
pub(crate) fn dot_rows(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]) {
    for (a, row) in acc.iter_mut().zip(w.chunks(kp)) {
        *a = row.iter().zip(x).map(|(&w, &x)| i32::from(w) * i32::from(x as i8)).sum();
    }
}

/// `out = q(x · scale)`.
pub fn quantize(x: &[f32], scale: f32, out: &mut [i8]) {
    epilogue::quantize_body(x, scale, out);
}
