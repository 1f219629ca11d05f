//! Flip (`torch.flip`): reverses the listed axes (numpy order, negative from the end); a 1-D
//! blob is reversed whatever the list says, as in ncnn, and an empty list passes the blob on.

use super::{check_axes, single, Context, Op, Params};
use crate::base::tensor::{resolve_axis, split_at_axis};
use crate::base::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

struct Flip {
    axes: Vec<i32>,
}

/// `data`, viewed as [outer, n, inner], with the middle axis reversed.
fn reverse_axis(data: &[f32], outer: usize, n: usize, inner: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len());
    for o in 0..outer {
        for i in (0..n).rev() {
            let start = (o * n + i) * inner;
            out.extend_from_slice(&data[start..start + inner]);
        }
    }
    out
}

impl Op for Flip {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        if self.axes.is_empty() {
            return Ok(vec![x]);
        }
        let s = x.shape;
        let mut flags = vec![false; s.dims];
        for &a in &self.axes {
            let axis = resolve_axis(a, s.dims)
                .ok_or_else(|| ctx.shape_error(format!("axis {a} is out of range for {} dims", s.dims)))?;
            flags[axis] = true;
        }
        if s.dims == 1 {
            flags[0] = true;
        }
        let mut data = x.f32().to_vec();
        for (axis, _) in flags.iter().enumerate().filter(|(_, &f)| f) {
            let (outer, n, inner) = split_at_axis(&s, axis);
            data = reverse_axis(&data, outer, n, inner);
        }
        super::one(Tensor::new(s, data))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let axes = p.ints(0);
    check_axes(&p, "axis", &axes)?;
    if axes.len() > 4 {
        return Err(p.invalid(format!("{} axes (at most 4)", axes.len())));
    }
    Ok(Box::new(Flip { axes }))
}
