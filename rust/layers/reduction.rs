//! Reduction over all axes or a list of axes, with ncnn's eleven operations, `keepdims` and a
//! final `coeff` factor.

use super::{check_axes, single, Context, Op, Params};
use crate::base::alloc;
use crate::base::tensor::resolve_axis;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Operation {
    Sum,
    Asum,
    Sumsq,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
}

impl Operation {
    fn from_code(code: i32) -> Option<Self> {
        use Operation::{Asum, LogSum, LogSumExp, Max, Mean, Min, Prod, Sum, Sumsq, L1, L2};
        [Sum, Asum, Sumsq, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp].get(usize::try_from(code).ok()?).copied()
    }

    fn init(self) -> f32 {
        match self {
            Operation::Max => -f32::MAX,
            Operation::Min => f32::MAX,
            Operation::Prod => 1.0,
            _ => 0.0,
        }
    }

    fn fold(self, acc: f32, x: f32) -> f32 {
        match self {
            Operation::Sum | Operation::Mean | Operation::LogSum => acc + x,
            Operation::Asum | Operation::L1 => acc + x.abs(),
            Operation::Sumsq | Operation::L2 => acc + x * x,
            Operation::Max => acc.max(x),
            Operation::Min => acc.min(x),
            Operation::Prod => acc * x,
            Operation::LogSumExp => acc + x.exp(),
        }
    }
}

struct Reduction {
    operation: Operation,
    reduce_all: bool,
    axes: Vec<i32>,
    keepdims: bool,
    coeff: f32,
}

impl Reduction {
    /// Which numpy-order axes are reduced. A 1-D blob is always reduced whole.
    fn flags(&self, dims: usize, ctx: &Context) -> Result<Vec<bool>> {
        if self.reduce_all || dims == 1 {
            return Ok(vec![true; dims]);
        }
        let mut flags = vec![false; dims];
        for &a in &self.axes {
            let axis = resolve_axis(a, dims)
                .ok_or_else(|| ctx.shape_error(format!("axis {a} is out of range for {dims} dims")))?;
            flags[axis] = true;
        }
        if !flags.contains(&true) {
            // ncnn would return an uninitialized blob.
            return Err(ctx.shape_error("reduce_all is 0 and axes names no axis"));
        }
        Ok(flags)
    }
}

impl Op for Reduction {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let extents = s.to_numpy();
        let flags = self.flags(s.dims, ctx)?;

        // Output strides per input axis (0 on reduced axes), in numpy order.
        let mut out_stride = vec![0usize; s.dims];
        let mut n = 1;
        for i in (0..s.dims).rev() {
            if !flags[i] {
                out_stride[i] = n;
                n *= extents[i];
            }
        }
        let mut acc = alloc::filled(n, self.operation.init())?;
        let mut coord = vec![0usize; s.dims];
        let mut o = 0usize;
        for &v in x.f32() {
            acc[o] = self.operation.fold(acc[o], v);
            // Advance the innermost coordinate, carrying outwards.
            for i in (0..s.dims).rev() {
                coord[i] += 1;
                o += out_stride[i];
                if coord[i] < extents[i] {
                    break;
                }
                o -= out_stride[i] * extents[i];
                coord[i] = 0;
            }
        }

        let reduced: usize = extents.iter().zip(&flags).filter(|(_, &f)| f).map(|(&e, _)| e).product();
        let mut coeff = self.coeff;
        match self.operation {
            Operation::LogSum | Operation::LogSumExp => acc.iter_mut().for_each(|v| *v = v.ln()),
            // ncnn flushes subnormal sums to 0 before the square root.
            Operation::L2 => acc.iter_mut().for_each(|v| *v = if *v < f32::MIN_POSITIVE { 0.0 } else { v.sqrt() }),
            Operation::Mean => coeff /= reduced as f32,
            _ => {}
        }
        if coeff != 1.0 {
            for v in &mut acc {
                *v *= coeff;
            }
        }

        let out_extents: Vec<usize> = if self.keepdims {
            extents.iter().zip(&flags).map(|(&e, &f)| if f { 1 } else { e }).collect()
        } else {
            extents.iter().zip(&flags).filter(|(_, &f)| !f).map(|(&e, _)| e).collect()
        };
        let shape = if out_extents.is_empty() {
            Shape::d1(1)
        } else {
            Shape::from_numpy(&out_extents).map_err(|e| ctx.shape_error(e))?
        };
        super::one(Tensor::new(shape, acc))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let operation = Operation::from_code(p.int(0))
        .ok_or_else(|| p.invalid(format!("operation {} is not one of 0..10", p.int(0))))?;
    let axes = p.ints(3);
    check_axes(&p, "axis", &axes)?;
    // ncnn refuses axes written before it stopped counting a batch axis (formats.md §1.8).
    if !axes.is_empty() && p.int(5) == 0 {
        return Err(p.invalid("axes (3) without 5=1 (fixbug0): param is too old, regenerate it"));
    }
    Ok(Box::new(Reduction { operation, reduce_all: p.int(1) != 0, axes, keepdims: p.int(4) != 0, coeff: p.float(2) }))
}
