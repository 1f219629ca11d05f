//! Softmax along one axis.

use super::{one, single, take, Context, Op, Params};
use crate::engine::tensor::{resolve_axis, split_at_axis};
use crate::engine::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

struct Softmax {
    axis: i32,
}

impl Op for Softmax {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?);
        let axis = resolve_axis(self.axis, t.shape.dims)
            .ok_or_else(|| ctx.shape_error(format!("axis {} is out of range for {}", self.axis, t.shape)))?;
        let (outer, n, inner) = split_at_axis(&t.shape, axis);
        let data = t.f32_mut();
        for o in 0..outer {
            let block = &mut data[o * n * inner..(o + 1) * n * inner];
            for i in 0..inner {
                let mut max = f32::NEG_INFINITY;
                for k in 0..n {
                    max = max.max(block[k * inner + i]);
                }
                let mut sum = 0.0f32;
                for k in 0..n {
                    let e = (block[k * inner + i] - max).exp();
                    block[k * inner + i] = e;
                    sum += e;
                }
                for k in 0..n {
                    block[k * inner + i] /= sum;
                }
            }
        }
        one(t)
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(Softmax { axis: p.int(0) }))
}
