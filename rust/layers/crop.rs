//! Crop: a box of the input, given by offsets and sizes (`woffset`…, `outw`… with −233 = the rest,
//! `woffset2`… = what to leave at the far end), by numpy-style `starts`/`ends`/`axes` as numbers
//! or as shape expressions (19=/20=/21=, evaluated on the bottoms' shapes; further bottoms only
//! lend their shapes), or by the size of a second (reference) bottom.

use super::shape_expr::{check_one_input, ShapeExpr};
use super::{check_axes, unsupported, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

/// Extents in ncnn order: w, h, d, c.
type Whdc = [usize; 4];

fn extents(s: &Shape) -> Whdc {
    [s.w, s.h, s.d, s.c]
}

/// Which of w, h, d, c an axis (numpy order over `dims`, already non-negative) names.
fn whdc_index(axis: usize, dims: usize) -> Option<usize> {
    match (dims, axis) {
        (1, 0) => Some(0),
        (2, 0) => Some(1),
        (2, 1) => Some(0),
        (3 | 4, 0) => Some(3),
        (3, 1) | (4, 2) => Some(1),
        (3, 2) | (4, 3) => Some(0),
        (4, 1) => Some(2),
        _ => None,
    }
}

/// The box `[offset, offset + len)` of `x` on every extent, as a tensor of the same rank.
fn copy_box(x: &Tensor, offset: Whdc, len: Whdc) -> Result<Tensor> {
    let s = x.shape;
    let [w, h, d, _] = extents(&s);
    let src = x.f32();
    let mut out = alloc::with_capacity(alloc::count(&len)?)?;
    for q in offset[3]..offset[3] + len[3] {
        for z in offset[2]..offset[2] + len[2] {
            for y in offset[1]..offset[1] + len[1] {
                let row = ((q * d + z) * h + y) * w + offset[0];
                out.extend_from_slice(&src[row..row + len[0]]);
            }
        }
    }
    let shape = Shape { dims: s.dims, w: len[0], h: len[1], d: len[2], c: len[3] };
    Ok(Tensor::new(shape, out))
}

enum Mode {
    /// offsets, out sizes (0 = nothing, −233 = the rest), far-end offsets; all w, h, d, c.
    Offsets { offset: [i32; 4], out: [i32; 4], offset2: [i32; 4] },
    /// numpy-style slice.
    Numpy { starts: Vec<i32>, ends: Vec<i32>, axes: Vec<i32> },
    /// Size from the second bottom, offsets from params.
    Reference { offset: [i32; 4] },
    /// numpy-style slice with starts, ends and axes computed from the bottoms' shapes.
    Expr { starts: ShapeExpr, ends: ShapeExpr, axes: ShapeExpr },
}

struct Crop {
    mode: Mode,
}

/// Checks that a box lies inside `full`.
fn to_box(offset: [i64; 4], len: [i64; 4], full: Whdc, ctx: &Context) -> Result<(Whdc, Whdc)> {
    for i in 0..4 {
        if offset[i] < 0 || len[i] <= 0 || offset[i] + len[i] > full[i] as i64 {
            return Err(
                ctx.shape_error(format!("crop box offset {offset:?} size {len:?} (w,h,d,c) does not fit in {full:?}"))
            );
        }
    }
    Ok((offset.map(|v| v as usize), len.map(|v| v as usize)))
}

/// The box of the offsets form: on each extent the blob has, from the offset to the far-end
/// offset, capped at the out size unless that is -233.
fn offsets_box(s: &Shape, offset: [i32; 4], out: [i32; 4], offset2: [i32; 4]) -> ([i64; 4], [i64; 4]) {
    let full = extents(s);
    let mut off = [0i64; 4];
    let mut len = full.map(|v| v as i64);
    // Only the extents the blob has are cropped: w; w,h; w,h,c; w,h,d,c.
    let active: &[usize] = match s.dims {
        1 => &[0],
        2 => &[0, 1],
        3 => &[0, 1, 3],
        _ => &[0, 1, 2, 3],
    };
    for &i in active {
        off[i] = i64::from(offset[i]);
        len[i] = full[i] as i64 - i64::from(offset[i]) - i64::from(offset2[i]);
        if out[i] != -233 {
            len[i] = len[i].min(i64::from(out[i]));
        }
    }
    (off, len)
}

/// The box of numpy-style starts/ends (-233 = from the start / to the end, negative counts from
/// the end, an end of 0 means the end) on the listed axes, or on every axis in order.
fn numpy_box(s: &Shape, starts: &[i32], ends: &[i32], axes: &[i32], ctx: &Context) -> Result<([i64; 4], [i64; 4])> {
    let full = extents(s);
    let mut off = [0i64; 4];
    let mut len = full.map(|v| v as i64);
    let dims = s.dims;
    let count = if axes.is_empty() { dims } else { axes.len() };
    if count > 4 || starts.len() < count || ends.len() < count {
        return Err(ctx.shape_error(format!(
            "{count} axes need as many starts and ends, got {} and {}",
            starts.len(),
            ends.len()
        )));
    }
    for i in 0..count {
        let axis = match axes.get(i) {
            Some(&a) if a < 0 => a + dims as i32,
            Some(&a) => a,
            None => i as i32,
        };
        // ncnn crops a 1-D blob along w whatever the axis; other unknown axes are skipped.
        let Some(k) = (if dims == 1 { Some(0) } else { usize::try_from(axis).ok().and_then(|a| whdc_index(a, dims)) })
        else {
            continue;
        };
        let n = full[k] as i64;
        let start = if starts[i] == -233 { 0 } else { i64::from(starts[i]) };
        let end = if ends[i] == -233 { n } else { i64::from(ends[i]) };
        off[k] = if start >= 0 { start } else { n + start };
        len[k] = n.min(if end > 0 { end } else { n + end }) - off[k];
    }
    Ok((off, len))
}

/// The box at the offsets with the reference blob's w, h (and d for 4-D) and, when the reference
/// has the input's rank, its channels.
fn reference_box(s: &Shape, r: &Shape, offset: [i32; 4]) -> ([i64; 4], [i64; 4]) {
    let full = extents(s);
    let mut len = full.map(|v| v as i64);
    let mut off = [0i64; 4];
    let reference = extents(r);
    let take: &[usize] = match s.dims {
        1 => &[0],
        2 => &[0, 1],
        3 => &[0, 1],
        _ => &[0, 1, 2],
    };
    for &i in take {
        off[i] = i64::from(offset[i]);
        len[i] = reference[i] as i64;
    }
    // Channels follow the reference only when it has as many dims as the input.
    if s.dims >= 3 {
        off[3] = i64::from(offset[3]);
        if r.dims == s.dims {
            len[3] = reference[3] as i64;
        }
    }
    (off, len)
}

impl Op for Crop {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = bottoms.first().ok_or_else(|| ctx.shape_error("no input"))?.clone();
        let s = x.shape;
        let (off, len) = match &self.mode {
            Mode::Offsets { offset, out, offset2 } => offsets_box(&s, *offset, *out, *offset2),
            Mode::Numpy { starts, ends, axes } => numpy_box(&s, starts, ends, axes, ctx)?,
            Mode::Expr { starts, ends, axes } => {
                let (starts, ends, axes) =
                    (starts.eval(&bottoms, ctx)?, ends.eval(&bottoms, ctx)?, axes.eval(&bottoms, ctx)?);
                numpy_box(&s, &starts, &ends, &axes, ctx)?
            }
            Mode::Reference { offset } => {
                let r = bottoms.get(1).ok_or_else(|| {
                    ctx.shape_error("without out sizes or starts/ends, Crop takes its size from a second input")
                })?;
                reference_box(&s, &r.shape, *offset)
            }
        };
        let (off, len) = to_box(off, len, extents(&s), ctx)?;
        if len == extents(&s) {
            return Ok(vec![x]);
        }
        super::one(copy_box(&x, off, len)?)
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (starts, ends, axes) = (ShapeExpr::read(&p, 19)?, ShapeExpr::read(&p, 20)?, ShapeExpr::read(&p, 21)?);
    match (starts, ends, axes) {
        (Some(starts), Some(ends), Some(axes)) => {
            let n = axes.expression().len();
            if n > 4 || starts.expression().len() < n || ends.expression().len() < n {
                return Err(p.invalid(format!(
                    "{n} axes (21=) need as many starts (19=) and ends (20=), got {} and {}",
                    starts.expression().len(),
                    ends.expression().len()
                )));
            }
            let refs = [&starts, &ends, &axes].iter().map(|e| e.expression().blob_count()).max().unwrap_or(0);
            if refs > layer.bottoms.len() {
                return Err(p.invalid(format!(
                    "the expressions read input {} but the layer has {}",
                    refs - 1,
                    layer.bottoms.len()
                )));
            }
            check_one_input(&p, refs <= 1, layer.bottoms.len(), "unless its expressions read another")?;
            return Ok(Box::new(Crop { mode: Mode::Expr { starts, ends, axes } }));
        }
        (None, None, None) => {}
        // ncnn ignores one of starts/ends without the other, and crashes (an empty expression's
        // value is read off an empty stack) when axes are missing.
        (s, e, a) => {
            let missing: Vec<&str> =
                [(s.is_none(), "19 (starts_expr)"), (e.is_none(), "20 (ends_expr)"), (a.is_none(), "21 (axes_expr)")]
                    .iter()
                    .filter(|(m, _)| *m)
                    .map(|(_, n)| *n)
                    .collect();
            return Err(p.invalid(format!(
                "expression slicing needs starts, ends and axes; parameter {} is missing (ncnn ignores or crashes on this)",
                missing.join(" and ")
            )));
        }
    }
    let starts = p.ints(9);
    let ends = p.ints(10);
    let offset = [p.int(0), p.int(1), p.int(13), p.int(2)];
    let mode = if !starts.is_empty() && !ends.is_empty() {
        let axes = p.ints(11);
        check_axes(&p, "axis", &axes)?;
        check_one_input(&p, true, layer.bottoms.len(), "with starts/ends")?;
        Mode::Numpy { starts, ends, axes }
    } else {
        let out = [p.int(3), p.int(4), p.int(14), p.int(5)];
        let offset2 = [p.int(6), p.int(7), p.int(15), p.int(8)];
        if out.iter().all(|&v| v == 0) && offset2.iter().all(|&v| v == 0) {
            if offset.contains(&-233) {
                return Err(unsupported(layer, "offsets read from the reference blob's values (-233)"));
            }
            Mode::Reference { offset }
        } else {
            check_one_input(&p, true, layer.bottoms.len(), "with out sizes or far-end offsets")?;
            Mode::Offsets { offset, out, offset2 }
        }
    };
    Ok(Box::new(Crop { mode }))
}
