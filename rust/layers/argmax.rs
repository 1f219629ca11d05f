//! ArgMax: the `topk` largest values of the whole blob (flattened), as their indices, or with
//! `out_max_val` as a 2-row blob (values, then indices). Output is 2-D: topk × 1 or topk × 2.
//!
//! ncnn orders (value, index) pairs descending, so equal values list the larger index first.
//! ncnn flattens a 3-D blob with its channel padding (cstep), which only matters when padding
//! values win; we rank the dense values.

use super::{single, Context, Op, Params};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::cmp::Ordering;
use std::sync::Arc;

struct ArgMax {
    out_max_val: bool,
    topk: usize,
}

impl Op for ArgMax {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let values = x.f32();
        if self.topk > values.len() {
            return Err(ctx.shape_error(format!(
                "topk {} exceeds the {} values of {}",
                self.topk,
                values.len(),
                x.shape
            )));
        }
        let mut order: Vec<usize> = (0..values.len()).collect();
        let descending =
            |&a: &usize, &b: &usize| values[b].partial_cmp(&values[a]).unwrap_or(Ordering::Equal).then(b.cmp(&a));
        if self.topk < order.len() {
            order.select_nth_unstable_by(self.topk, descending);
            order.truncate(self.topk);
        }
        order.sort_unstable_by(descending);
        let indices = order.iter().map(|&i| i as f32);
        let out: Vec<f32> = if self.out_max_val {
            order.iter().map(|&i| values[i]).chain(indices).collect()
        } else {
            indices.collect()
        };
        let rows = if self.out_max_val { 2 } else { 1 };
        super::one(Tensor::new(Shape::d2(self.topk, rows), out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let topk = p.int(1);
    if topk <= 0 {
        return Err(p.invalid(format!("topk must be positive, got {topk}")));
    }
    Ok(Box::new(ArgMax { out_max_val: p.int(0) != 0, topk: topk as usize }))
}
