//! Slice: splits one blob along an axis into as many tops as the layer has, by sizes (`slices`,
//! −233 = an equal share of what is left) or by split points (`indices`, negative counts from the
//! end; the last top takes the rest).

use super::{check_axes, Context, Op, Params};
use crate::base::alloc;
use crate::base::tensor::{resolve_axis, split_at_axis, with_axis_len};
use crate::base::Tensor;
use crate::error::Result;
use crate::kernels::copy;
use crate::model::Layer;
use std::sync::Arc;

struct Slice {
    slices: Vec<i32>,
    indices: Vec<i32>,
    axis: i32,
    tops: usize,
}

impl Slice {
    /// The extent of each top along the sliced axis of length `n`.
    fn sizes(&self, n: usize, ctx: &Context) -> Result<Vec<usize>> {
        let n = n as i64;
        let mut sizes = Vec::with_capacity(self.tops);
        let mut start = 0i64;
        for i in 0..self.tops {
            let size = if self.indices.is_empty() {
                let slice = i64::from(*self.slices.get(i).ok_or_else(|| {
                    ctx.shape_error(format!("{} tops need {} slices, got {i}", self.tops, self.tops))
                })?);
                if slice == -233 {
                    (n - start) / (self.tops - i) as i64
                } else {
                    slice
                }
            } else if i + 1 == self.tops {
                n - start
            } else {
                let index = i64::from(*self.indices.get(i).ok_or_else(|| {
                    ctx.shape_error(format!("{} tops need {} indices, got {}", self.tops, self.tops - 1, i))
                })?);
                (if index < 0 { n + index } else { index }) - start
            };
            // ncnn fails on an empty top (it cannot allocate a zero-sized blob).
            if size <= 0 || start + size > n {
                return Err(
                    ctx.shape_error(format!("top {i} would take [{start}, {}) of an axis of length {n}", start + size))
                );
            }
            sizes.push(size as usize);
            start += size;
        }
        Ok(sizes)
    }
}

impl Op for Slice {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = super::single(bottoms, ctx)?;
        let shape = x.shape;
        // ncnn slices a 1-D blob along w whatever the axis says.
        let axis = if shape.dims == 1 {
            0
        } else {
            resolve_axis(self.axis, shape.dims)
                .ok_or_else(|| ctx.shape_error(format!("axis {} is out of range for {shape}", self.axis)))?
        };
        let (outer, n, inner) = split_at_axis(&shape, axis);
        let src = x.f32();
        let mut start = 0;
        let mut tops = Vec::with_capacity(self.tops);
        for size in self.sizes(n, ctx)? {
            let out = if outer == 1 {
                // One run of the input (channels of a 3-D blob): copied on the pool's threads.
                let piece = &src[start * inner..(start + size) * inner];
                // SAFETY: the piece is as long as the output, every value written once.
                unsafe { alloc::overwritten(size * inner, |out| copy::concat_into(out, &[piece])) }?
            } else {
                let mut out = alloc::with_capacity(outer * size * inner)?;
                for o in 0..outer {
                    let base = (o * n + start) * inner;
                    out.extend_from_slice(&src[base..base + size * inner]);
                }
                out
            };
            tops.push(Arc::new(Tensor::new(with_axis_len(&shape, axis, size), out)));
            start += size;
        }
        Ok(tops)
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let slices = p.ints(0);
    let indices = p.ints(2);
    if slices.is_empty() && indices.is_empty() {
        return Err(p.invalid("neither slices (0) nor indices (2) is given"));
    }
    check_axes(&p, "axis", &[p.int(1)])?;
    Ok(Box::new(Slice { slices, indices, axis: p.int(1), tops: layer.tops.len() }))
}
