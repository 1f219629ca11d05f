//! GLU (`F.glu`): the blob split in two halves along an axis, `a · sigmoid(b)`. As in ncnn, the
//! halves are `n/2` long (an odd extent's last element is unused) and a 1-D blob is split along
//! w whatever the axis.

use super::{single, Context, Op, Params};
use crate::base::tensor::{resolve_axis, split_at_axis, with_axis_len};
use crate::base::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

struct Glu {
    axis: i32,
}

impl Op for Glu {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let axis = if s.dims == 1 {
            0
        } else {
            resolve_axis(self.axis, s.dims)
                .ok_or_else(|| ctx.shape_error(format!("axis {} is out of range for {s}", self.axis)))?
        };
        let (outer, n, inner) = split_at_axis(&s, axis);
        let half = n / 2;
        if half == 0 {
            return Err(ctx.shape_error(format!("cannot halve axis {axis} of {s}")));
        }
        let src = x.f32();
        let mut out = Vec::with_capacity(outer * half * inner);
        for o in 0..outer {
            let base = o * n * inner;
            for i in 0..half * inner {
                let (a, b) = (src[base + i], src[base + half * inner + i]);
                out.push(a * (1.0 / (1.0 + (-b).exp())));
            }
        }
        super::one(Tensor::new(with_axis_len(&s, axis, half), out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(Glu { axis: p.int(0) }))
}
