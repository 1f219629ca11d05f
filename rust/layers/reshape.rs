//! Layers that keep the data and change only the shape: Reshape, Flatten, Squeeze, ExpandDims.
//! The tensor is dense, so each is a relabelling of the same buffer (no copy when the bottom is
//! uniquely owned).
//!
//! Reshape has two paths in ncnn, chosen when it loads: the plain one, and the batch path
//! (`support_batch`) taken when 12=/13= name batch axes or the shape expression reads a batch
//! size (`0n`) or a second bottom. They differ in how 0 and -1 resolve, so both are kept here; a
//! file that sets 12=/13= but loses them (ncnn2int8 drops them) reshapes differently.

use super::shape_expr::{check_one_input, ShapeExpr};
use super::{check_axes, single, take, Context, Op, Params};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

fn relabel(x: Arc<Tensor>, shape: Shape) -> Result<Vec<Arc<Tensor>>> {
    if x.shape == shape {
        return Ok(vec![x]);
    }
    super::one(take(x)?.reshaped(shape))
}

/// The shape with these numpy-order extents (1 to 4 of them).
fn shape_of(extents: &[usize], ctx: &Context) -> Result<Shape> {
    Shape::from_numpy(extents).map_err(|e| ctx.shape_error(e))
}

// ---------------------------------------------------------------------------------------------

/// ncnn's "no batch axis" for Reshape's 12=/13=.
const NO_AXIS: i32 = 233;

enum Target {
    /// w, h, d, c from params 0, 1, 11, 2; -233 = unused.
    Fixed([i32; 4]),
    /// A list of sizes (w, h[, d], c order), evaluated on the bottoms' shapes.
    Expr(ShapeExpr),
}

struct Reshape {
    target: Target,
    /// Number of target entries: the set params, or the expression's list length.
    rank: usize,
    /// ncnn's batch path (`support_batch`): batch axes set, or an expression that reads a batch
    /// size or a second bottom. `None`: the plain path.
    batch: Option<BatchAxes>,
}

/// Reshape's 12=/13=: where the batch sits in the input's and the output's logical shape.
#[derive(Clone, Copy)]
struct BatchAxes {
    input: i32,
    output: i32,
}

impl BatchAxes {
    /// Both unset: each sample is reshaped and the batch kept in front.
    fn implicit(self) -> bool {
        self.input == NO_AXIS && self.output == NO_AXIS
    }
}

impl Reshape {
    /// The target list as evaluated, in ncnn's order (w first).
    fn target_list(&self, bottoms: &[Arc<Tensor>], ctx: &Context) -> Result<Vec<i64>> {
        Ok(match &self.target {
            Target::Fixed(t) => {
                let [w, h, d, c] = t.map(i64::from);
                match self.rank {
                    1 => vec![w],
                    2 => vec![w, h],
                    3 => vec![w, h, c],
                    _ => vec![w, h, d, c],
                }
            }
            Target::Expr(e) => e.eval(bottoms, ctx)?.into_iter().map(i64::from).collect(),
        })
    }

    /// ncnn's plain path: 0 copies the input extent of the same name (w, h, d, c), a -1 is
    /// inferred from the others.
    fn plain(&self, s: &Shape, list: &[i64], ctx: &Context) -> Result<Shape> {
        let total = s.len() as i64;
        let input = [s.w, s.h, s.d, s.c].map(|v| v as i64);
        // An expression list of n values fills w; w, h; w, h, c; w, h, d, c (the rest stay 1).
        let mut out = [1i64; 4];
        let slots: &[usize] = match list.len() {
            1 => &[0],
            2 => &[0, 1],
            3 => &[0, 1, 3],
            _ => &[0, 1, 2, 3],
        };
        for (&i, &v) in slots.iter().zip(list) {
            out[i] = v;
        }
        // The output's rank is the parameter count, which for an expression is its length.
        let slots: &[usize] = match self.rank {
            1 => &[0],
            2 => &[0, 1],
            3 => &[0, 1, 3],
            _ => &[0, 1, 2, 3],
        };
        for &i in slots {
            if out[i] == 0 {
                out[i] = input[i];
            }
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
        Ok(match self.rank {
            1 => Shape::d1(w),
            2 => Shape::d2(w, h),
            3 => Shape::d3(w, h, c),
            _ => Shape::d4(w, h, d, c),
        })
    }

    /// ncnn's batch path with a batch of 1: the shapes are "logical" (numpy order, the batch
    /// inserted at its axis); 0 copies the input's logical extent at the same position, one -1
    /// is inferred (it must divide), and the output's batch axis is dropped again.
    fn batched(axes: BatchAxes, s: &Shape, list: &[i64], ctx: &Context) -> Result<Shape> {
        let fail = |m: String| ctx.shape_error(m);
        let physical: Vec<i64> = s.to_numpy().into_iter().map(|v| v as i64).collect();
        let mut input = physical.clone();
        let input_axis = if axes.implicit() { 0 } else { axes.input };
        if input_axis != NO_AXIS {
            let axis = if input_axis < 0 { input_axis + s.dims as i32 + 1 } else { input_axis };
            if !(0..=s.dims as i32).contains(&axis) {
                return Err(fail(format!("input batch axis {input_axis} is outside a {}-D blob", s.dims)));
            }
            input.insert(axis as usize, 1);
        }
        // The list is in w-first order; logical shapes are outermost first.
        let mut out: Vec<i64> = list.iter().rev().copied().collect();
        if axes.implicit() {
            if out.is_empty() || out.len() > 4 {
                return Err(fail(format!("{} sizes for a per-sample reshape (1 to 4)", out.len())));
            }
            // Zeros copy the input's physical extent counted from the innermost (w, h, then d for
            // 4 sizes, else c).
            let n = out.len();
            for (i, v) in out.iter_mut().enumerate() {
                if *v == 0 {
                    *v = match n - 1 - i {
                        0 => s.w,
                        1 => s.h,
                        2 if n == 4 => s.d,
                        _ => s.c,
                    } as i64;
                }
            }
            out.insert(0, 1);
        }
        if out.is_empty() || out.len() > 5 {
            return Err(fail(format!("{} output sizes (1 to 5 with the batch)", out.len())));
        }
        let mut output_axis = if axes.implicit() { 0 } else { axes.output };
        if output_axis < 0 {
            output_axis += out.len() as i32;
        }
        if output_axis != NO_AXIS && !(0..out.len() as i32).contains(&output_axis) {
            return Err(fail(format!("output batch axis {} is outside {} sizes", axes.output, out.len())));
        }
        let total: i64 = input.iter().product();
        let mut known = 1i64;
        let mut inferred = None;
        for (i, v) in out.iter_mut().enumerate() {
            if *v == 0 {
                *v = *input
                    .get(i)
                    .ok_or_else(|| fail(format!("size {i} is 0 but the input has {} axes", input.len())))?;
            }
            if *v == -1 {
                if inferred.replace(i).is_some() {
                    return Err(fail("more than one size is -1".into()));
                }
                continue;
            }
            if *v <= 0 {
                return Err(fail(format!("size {v} at axis {i}")));
            }
            known *= *v;
        }
        if let Some(i) = inferred {
            if known == 0 || total % known != 0 {
                return Err(fail(format!("{total} values do not divide into {known}")));
            }
            out[i] = total / known;
            known *= out[i];
        }
        if known != total {
            return Err(fail(format!("cannot reshape {s} ({total} values) to {out:?}")));
        }
        if output_axis != NO_AXIS {
            let n = out.remove(output_axis as usize);
            if n != 1 {
                return Err(fail(format!("the output's batch would be {n}; ncnnq runs a batch of 1")));
            }
        }
        let extents: Vec<usize> = out.iter().map(|&v| v as usize).collect();
        shape_of(&extents, ctx)
    }
}

impl Op for Reshape {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let list = self.target_list(&bottoms, ctx)?;
        let x = bottoms.into_iter().next().ok_or_else(|| ctx.shape_error("no input"))?;
        let s = x.shape;
        if s.dims == 0 {
            return Err(ctx.shape_error("cannot reshape an empty blob"));
        }
        let shape = match self.batch {
            Some(axes) => Self::batched(axes, &s, &list, ctx)?,
            None => self.plain(&s, &list, ctx)?,
        };
        relabel(x, shape)
    }
}

pub fn build_reshape(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (w, h, d, c) = (p.int(0), p.int(1), p.int(11), p.int(2));
    let axes = BatchAxes { input: p.int(12), output: p.int(13) };
    let expr = ShapeExpr::read(&p, 6)?;
    // The rank is the number of leading entries of w, h, c, d that are not -233.
    let mut rank = if w == -233 {
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
    let mut batch = !axes.implicit();
    let target = if let Some(e) = expr {
        let max = if axes.output == NO_AXIS { 4 } else { 5 };
        rank = e.expression().len();
        if rank > max {
            return Err(p.invalid(format!("parameter 6 lists {rank} sizes; at most {max} here")));
        }
        // A batch size or a second bottom in the expression takes ncnn's batch path.
        batch |= e.expression().reads_batch() || e.expression().blob_count() > 1;
        if e.expression().blob_count() > layer.bottoms.len() {
            return Err(p.invalid(format!(
                "parameter 6 reads input {} but the layer has {}",
                e.expression().blob_count() - 1,
                layer.bottoms.len()
            )));
        }
        Target::Expr(e)
    } else {
        for (v, name) in [(w, "w"), (h, "h"), (d, "d"), (c, "c")] {
            if v < -1 && v != -233 {
                return Err(p.invalid(format!("{name} = {v} (only 0, -1, -233 or a positive size)")));
            }
        }
        Target::Fixed([w, h, d, c])
    };
    if rank == 0 {
        return Err(p.invalid("no target shape (w is -233)"));
    }
    let reads_second = matches!(&target, Target::Expr(e) if e.expression().blob_count() > 1);
    check_one_input(&p, !reads_second, layer.bottoms.len(), "unless its shape expression reads another")?;
    Ok(Box::new(Reshape { target, rank, batch: batch.then_some(axes) }))
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
