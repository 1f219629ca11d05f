//! Softmax along one axis.

use super::{one, single, take, Context, Op, Params};
use crate::base::tensor::{resolve_axis, split_at_axis};
use crate::base::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

struct Softmax {
    axis: i32,
}

impl Op for Softmax {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?)?;
        // ncnn normalizes a 1-D blob whole whatever the axis says.
        let axis = if t.shape.dims == 1 {
            0
        } else {
            resolve_axis(self.axis, t.shape.dims)
                .ok_or_else(|| ctx.shape_error(format!("axis {} is out of range for {}", self.axis, t.shape)))?
        };
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
    // ncnn refuses a non-zero axis written before its 3-D axis fix (formats.md §1.8).
    if p.int(0) != 0 && p.int(1) == 0 {
        return Err(p.invalid("axis != 0 without 1=1 (fixbug0): param is too old, regenerate it"));
    }
    Ok(Box::new(Softmax { axis: p.int(0) }))
}
