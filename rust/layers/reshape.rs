//! Layers that keep the data and change only the shape: Reshape, Flatten, Squeeze, ExpandDims.
//! The tensor is dense, so each is a relabelling of the same buffer (no copy when the bottom is
//! uniquely owned).

use super::{check_axes, single, take, unsupported, Context, Op, Params};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

fn relabel(x: Arc<Tensor>, shape: Shape) -> Result<Vec<Arc<Tensor>>> {
    if x.shape == shape {
        return Ok(vec![x]);
    }
    super::one(take(x).reshaped(shape))
}

/// The shape with these numpy-order extents (1 to 4 of them).
fn shape_of(extents: &[usize], ctx: &Context) -> Result<Shape> {
    Shape::from_numpy(extents).map_err(|e| ctx.shape_error(e))
}

// ---------------------------------------------------------------------------------------------

struct Reshape {
    /// Target w, h, d, c in ncnn order, `rank` of them used; 0 copies the input's extent of the
    /// same name, -1 is inferred.
    target: [i32; 4],
    rank: usize,
}

impl Op for Reshape {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let total = s.len() as i64;
        let input = [s.w, s.h, s.d, s.c].map(|v| v as i64);
        // ncnn's slots for rank 3 are w, h, c (d stays 1).
        let slots: &[usize] = match self.rank {
            1 => &[0],
            2 => &[0, 1],
            3 => &[0, 1, 3],
            _ => &[0, 1, 2, 3],
        };
        let mut out = [1i64; 4];
        for &i in slots {
            out[i] = if self.target[i] == 0 { input[i] } else { i64::from(self.target[i]) };
        }
        // -1 entries are resolved in w, h, d, c order, each from the others as they stand.
        for &i in slots {
            if out[i] == -1 {
                let others: i64 = slots.iter().filter(|&&j| j != i).map(|&j| out[j]).product();
                out[i] = if others > 0 { total / others } else { 0 };
            }
        }
        if out.iter().any(|&v| v <= 0) || out.iter().product::<i64>() != total {
            return Err(ctx.shape_error(format!(
                "cannot reshape {s} ({total} values) to w,h,d,c = {:?}",
                slots.iter().map(|&i| out[i]).collect::<Vec<_>>()
            )));
        }
        let [w, h, d, c] = out.map(|v| v as usize);
        let shape = match self.rank {
            1 => Shape::d1(w),
            2 => Shape::d2(w, h),
            3 => Shape::d3(w, h, c),
            _ => Shape::d4(w, h, d, c),
        };
        relabel(x, shape)
    }
}

pub fn build_reshape(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if !p.string(6).is_empty() {
        return Err(unsupported(layer, "shape given as an expression (6=shape_expr)"));
    }
    let (w, h, d, c) = (p.int(0), p.int(1), p.int(11), p.int(2));
    // The rank is the number of leading entries of w, h, c, d that are not -233.
    let rank = if w == -233 {
        0
    } else if h == -233 {
        1
    } else if c == -233 {
        2
    } else if d == -233 {
        3
    } else {
        4
    };
    if rank == 0 {
        return Err(p.invalid("no target shape (w is -233)"));
    }
    for (v, name) in [(w, "w"), (h, "h"), (d, "d"), (c, "c")] {
        if v < -1 && v != -233 {
            return Err(p.invalid(format!("{name} = {v} (only 0, -1, -233 or a positive size)")));
        }
    }
    Ok(Box::new(Reshape { target: [w, h, d, c], rank }))
}

// ---------------------------------------------------------------------------------------------

struct Flatten;

impl Op for Flatten {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let n = x.shape.len();
        relabel(x, Shape::d1(n))
    }
}

pub fn build_flatten(_: &Layer) -> Result<Box<dyn Op>> {
    Ok(Box::new(Flatten))
}

// ---------------------------------------------------------------------------------------------

/// Flags in numpy order of a blob's dims: which axes an axes list names (negative from the end).
fn axis_flags(axes: &[i32], dims: usize, ctx: &Context) -> Result<Vec<bool>> {
    let mut flags = vec![false; dims];
    for &a in axes {
        let axis = crate::base::tensor::resolve_axis(a, dims)
            .ok_or_else(|| ctx.shape_error(format!("axis {a} is out of range for {dims} dims")))?;
        flags[axis] = true;
    }
    Ok(flags)
}

struct Squeeze {
    /// `squeeze_w`, `squeeze_h`, `squeeze_d`, `squeeze_c`
    flags: [bool; 4],
    axes: Vec<i32>,
}

impl Op for Squeeze {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let extents = s.to_numpy();
        let drop: Vec<bool> = if self.axes.is_empty() {
            // numpy order of the flags over this rank: w; h w; c h w; c d h w
            let order: &[usize] = match s.dims {
                1 => &[0],
                2 => &[1, 0],
                3 => &[3, 1, 0],
                _ => &[3, 2, 1, 0],
            };
            order.iter().map(|&f| self.flags[f]).collect()
        } else {
            axis_flags(&self.axes, s.dims, ctx)?
        };
        // Only extents of 1 go; ncnn leaves a named axis of any other size in place.
        let kept: Vec<usize> = extents.iter().zip(&drop).filter(|(&e, &d)| !(d && e == 1)).map(|(&e, _)| e).collect();
        let shape = if kept.is_empty() { Shape::d1(1) } else { shape_of(&kept, ctx)? };
        relabel(x, shape)
    }
}

pub fn build_squeeze(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let flags = [p.int(0) != 0, p.int(1) != 0, p.int(11) != 0, p.int(2) != 0];
    let axes = p.ints(3);
    check_axes(&p, "axis", &axes)?;
    Ok(Box::new(Squeeze { flags, axes }))
}

// ---------------------------------------------------------------------------------------------

struct ExpandDims {
    axes: Vec<i32>,
}

impl Op for ExpandDims {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let out_dims = s.dims + self.axes.len();
        if out_dims > 4 {
            return Err(ctx.shape_error(format!("{s} with {} more axes exceeds 4 dims", self.axes.len())));
        }
        let inserted = axis_flags(&self.axes, out_dims, ctx)?;
        // The remaining slots take the input's extents, innermost last; a repeated axis leaves
        // more slots than input extents, which (as in ncnn) become leading 1s.
        let slots = inserted.iter().filter(|&&f| !f).count();
        let mut source = vec![1usize; slots.saturating_sub(s.dims)];
        source.extend(s.to_numpy());
        let mut source = source.into_iter();
        let extents: Vec<usize> = inserted.iter().map(|&f| if f { 1 } else { source.next().unwrap_or(1) }).collect();
        relabel(x, shape_of(&extents, ctx)?)
    }
}

pub fn build_expanddims(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let axes = p.ints(3);
    check_axes(&p, "axis", &axes)?;
    Ok(Box::new(ExpandDims { axes }))
}
