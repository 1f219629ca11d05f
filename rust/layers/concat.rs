//! Concat along one axis.

use super::{one, Chain, Context, Op, Params};
use crate::base::alloc::{self, Zeroable};
use crate::base::tensor::{resolve_axis, split_at_axis, with_axis_len};
use crate::base::{Shape, Tensor, TensorData};
use crate::error::{Error, Result};
use crate::kernels::copy;
use crate::model::Layer;
use std::sync::Arc;

struct Concat {
    axis: i32,
}

impl Concat {
    /// The bottoms joined, their values read by `data` (floats, or int8 in a chain).
    fn join<T: Zeroable + Copy + Send + Sync>(
        &self,
        bottoms: &[Arc<Tensor>],
        ctx: &Context,
        data: impl Fn(&Tensor) -> Result<&[T]>,
    ) -> Result<(Shape, Vec<T>)> {
        let first = bottoms.first().ok_or_else(|| ctx.shape_error("no inputs"))?.shape;
        // ncnn joins 1-D blobs along w whatever the axis says.
        let axis = if first.dims == 1 {
            0
        } else {
            resolve_axis(self.axis, first.dims)
                .ok_or_else(|| ctx.shape_error(format!("axis {} is out of range for {first}", self.axis)))?
        };
        let (outer, _, inner) = split_at_axis(&first, axis);
        let mut total = 0;
        for b in bottoms {
            let (o, n, i) = if b.shape.dims == first.dims { split_at_axis(&b.shape, axis) } else { (0, 0, 0) };
            if o != outer || i != inner {
                return Err(ctx.shape_error(format!("cannot concat {} with {} on axis {}", first, b.shape, self.axis)));
            }
            total += n;
        }
        let shape = with_axis_len(&first, axis, total);
        let pieces = bottoms.iter().map(|b| data(b)).collect::<Result<Vec<&[T]>>>()?;
        if outer == 1 {
            // The inputs one after another (channels of 3-D blobs): copied on the pool's threads.
            // SAFETY: the pieces' lengths sum to the output's (checked above), and each value is
            // written once.
            let out = unsafe { alloc::overwritten(shape.len(), |out| copy::concat_into(out, &pieces)) }?;
            return Ok((shape, out));
        }
        let mut out = alloc::with_capacity(shape.len())?;
        for o in 0..outer {
            for (b, piece) in bottoms.iter().zip(&pieces) {
                let (_, n, _) = split_at_axis(&b.shape, axis);
                out.extend_from_slice(&piece[o * n * inner..(o + 1) * n * inner]);
            }
        }
        Ok((shape, out))
    }
}

impl Op for Concat {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let (shape, out) = self.join(&bottoms, ctx, |b| Ok(b.f32()))?;
        one(Tensor::new(shape, out))
    }

    fn chain(&self) -> Chain {
        Chain::Select
    }

    fn forward_chained(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, _s: f32) -> Result<Vec<Arc<Tensor>>> {
        let (shape, out) = self.join(&bottoms, ctx, |b| match &b.data {
            TensorData::I8(v) => Ok(v.as_slice()),
            TensorData::F32(_) => Err(Error::layer(ctx.layer, ctx.layer_type, "a float input in an int8 chain")),
        })?;
        one(Tensor::new_i8(shape, out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(Concat { axis: p.int(0) }))
}
