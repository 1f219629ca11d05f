//! `MatMul` (`torch.matmul` as pnnx exports it): numpy's matmul on two blobs, B optionally
//! transposed (0=transB).
//!
//! ncnn's rules are numpy's, in numpy order ([c, d, h, w]): the last two axes multiply (M×K by
//! K×N; with transB, B holds N×K), the axes before them are batches that broadcast (equal, or
//! 1 on one side; a lower-rank operand gets leading 1s), a 1-D A is a row and a 1-D B a column
//! whose axis is dropped from the output. Two 1-D blobs give their dot product as a 1-D [1].
//! Shapes ncnn would read out of bounds on (K or a batch that differs) are an error here.

use super::{Context, Op, Params};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::kernels::gemm_f32::{self, Epilogue, PackedA};
use crate::model::Layer;
use std::sync::Arc;

struct MatMul {
    trans_b: bool,
}

/// One operand as a stack of matrices: batch extents (numpy order), rows, cols.
struct Operand<'a> {
    data: &'a [f32],
    batch: Vec<usize>,
    rows: usize,
    cols: usize,
}

impl<'a> Operand<'a> {
    fn of(t: &'a Tensor, vector_as_row: bool) -> Operand<'a> {
        let ext = t.shape.to_numpy();
        let (batch, rows, cols) = match ext.len() {
            1 if vector_as_row => (vec![], 1, ext[0]),
            1 => (vec![], ext[0], 1),
            n => (ext[..n - 2].to_vec(), ext[n - 2], ext[n - 1]),
        };
        Operand { data: t.f32(), batch, rows, cols }
    }

    fn matrix(&self, index: usize) -> &'a [f32] {
        let size = self.rows * self.cols;
        &self.data[index * size..(index + 1) * size]
    }
}

/// Index of batch `flat` (over `out` extents) in an operand with extents `own`, right-aligned,
/// size-1 axes broadcasting.
fn batch_index(flat: usize, out: &[usize], own: &[usize]) -> usize {
    let mut rest = flat;
    let mut index = 0;
    let mut stride = 1;
    let offset = out.len() - own.len();
    for axis in (0..out.len()).rev() {
        let coord = rest % out[axis];
        rest /= out[axis];
        if axis >= offset {
            let n = own[axis - offset];
            index += if n == 1 { 0 } else { coord } * stride;
            stride *= n;
        }
    }
    index
}

fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

impl Op for MatMul {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let [a, b] = &bottoms[..] else {
            return Err(ctx.shape_error(format!("expects 2 inputs, got {}", bottoms.len())));
        };
        let (sa, sb) = (a.shape, b.shape);
        let ma = Operand::of(a, true);
        let mut mb = Operand::of(b, false);
        if self.trans_b && sb.dims > 1 {
            std::mem::swap(&mut mb.rows, &mut mb.cols);
        }
        if ma.cols != mb.rows {
            return Err(
                ctx.shape_error(format!("cannot multiply {sa} by {sb}: K differs ({} vs {})", ma.cols, mb.rows))
            );
        }
        let rank = ma.batch.len().max(mb.batch.len());
        let mut batch = vec![1usize; rank];
        for (i, e) in batch.iter_mut().enumerate() {
            let pick = |own: &[usize]| (i + own.len()).checked_sub(rank).map_or(1, |j| own[j]);
            let (x, y) = (pick(&ma.batch), pick(&mb.batch));
            if x != y && x != 1 && y != 1 {
                return Err(ctx.shape_error(format!("batch extents of {sa} and {sb} do not broadcast")));
            }
            *e = x.max(y);
        }
        let (m, k, n) = (ma.rows, ma.cols, mb.cols);
        let count: usize = batch.iter().product();
        let mut out = vec![0.0f32; count * m * n];
        for (p, c) in out.chunks_mut((m * n).max(1)).enumerate().take(count) {
            let a_mat = ma.matrix(batch_index(p, &batch, &ma.batch));
            let raw_b = mb.matrix(batch_index(p, &batch, &mb.batch));
            let b_mat = if self.trans_b && sb.dims > 1 { transpose(raw_b, n, k) } else { raw_b.to_vec() };
            gemm_f32::gemm(&PackedA::new(a_mat, m, k), &b_mat, n, c, Epilogue::NONE);
        }
        let mut ext = batch;
        if sa.dims > 1 {
            ext.push(m);
        }
        if sb.dims > 1 {
            ext.push(n);
        }
        if ext.is_empty() {
            ext.push(1); // two vectors: ncnn returns their dot product as [1]
        }
        let shape = Shape::from_numpy(&ext).map_err(|e| ctx.shape_error(e))?;
        super::one(Tensor::new(shape, out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(MatMul { trans_b: p.int(0) != 0 }))
}
