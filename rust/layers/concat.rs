//! Concat along one axis.

use super::{one, Context, Op, Params};
use crate::base::alloc;
use crate::base::tensor::{resolve_axis, split_at_axis, with_axis_len};
use crate::base::Tensor;
use crate::error::Result;
use crate::kernels::copy;
use crate::model::Layer;
use std::sync::Arc;

struct Concat {
    axis: i32,
}

impl Op for Concat {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
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
        for b in &bottoms {
            let (o, n, i) = if b.shape.dims == first.dims { split_at_axis(&b.shape, axis) } else { (0, 0, 0) };
            if o != outer || i != inner {
                return Err(ctx.shape_error(format!("cannot concat {} with {} on axis {}", first, b.shape, self.axis)));
            }
            total += n;
        }
        let shape = with_axis_len(&first, axis, total);
        if outer == 1 {
            // The inputs one after another (channels of 3-D blobs): copied on the pool's threads.
            let pieces: Vec<&[f32]> = bottoms.iter().map(|b| b.f32()).collect();
            // SAFETY: the pieces' lengths sum to the output's (checked above), and each value is
            // written once.
            let out = unsafe { alloc::overwritten(shape.len(), |out| copy::concat_into(out, &pieces)) }?;
            return one(Tensor::new(shape, out));
        }
        let mut out = alloc::with_capacity(shape.len())?;
        for o in 0..outer {
            for b in &bottoms {
                let (_, n, _) = split_at_axis(&b.shape, axis);
                out.extend_from_slice(&b.f32()[o * n * inner..(o + 1) * n * inner]);
            }
        }
        one(Tensor::new(shape, out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(Concat { axis: p.int(0) }))
}
