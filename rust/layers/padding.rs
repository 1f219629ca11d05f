//! Padding: constant / replicate / reflect borders on w and h, and on channels (3-D) or depth
//! (4-D) through `front`/`behind`; constant pads may take a value per channel from the weights.

use super::{unsupported, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq)]
enum Border {
    Constant,
    Replicate,
    Reflect,
}

impl Border {
    /// The source index an output index `i` (already shifted by the leading pad) reads, or `None`
    /// for the constant border. Reflect mirrors about the edge element without repeating it.
    fn source(self, i: i64, n: usize) -> Option<i64> {
        let n = n as i64;
        if (0..n).contains(&i) {
            return Some(i);
        }
        match self {
            Border::Constant => None,
            Border::Replicate => Some(i.clamp(0, n - 1)),
            Border::Reflect => Some(if i < 0 { -i } else { 2 * (n - 1) - i }),
        }
    }
}

struct Padding {
    /// top, bottom, left, right, front, behind
    pads: [i32; 6],
    border: Border,
    value: f32,
    per_channel: Option<Vec<f32>>,
}

/// Pads one w×h plane into `out` (`ow`×`oh`).
#[allow(clippy::too_many_arguments)]
fn pad_plane(
    src: &[f32],
    w: usize,
    h: usize,
    top: i64,
    left: i64,
    border: Border,
    value: f32,
    out: &mut [f32],
    ow: usize,
) {
    let cols: Vec<Option<usize>> = (0..ow as i64).map(|x| border.source(x - left, w).map(|v| v as usize)).collect();
    for (oy, row) in out.chunks_mut(ow).enumerate() {
        match border.source(oy as i64 - top, h) {
            None => row.fill(value),
            Some(sy) => {
                let srow = &src[sy as usize * w..(sy as usize + 1) * w];
                for (o, c) in row.iter_mut().zip(&cols) {
                    *o = c.map_or(value, |x| srow[x]);
                }
            }
        }
    }
}

impl Padding {
    fn check_reach(&self, pads: &[(i32, usize)], ctx: &Context) -> Result<()> {
        // Reflection reaches at most n-1 elements beyond an edge; ncnn reads outside the blob past that.
        for &(pad, n) in pads {
            if self.border == Border::Reflect && pad > 0 && pad as usize >= n {
                return Err(ctx.shape_error(format!("reflect padding of {pad} needs an extent above {pad}, got {n}")));
            }
        }
        Ok(())
    }

    fn pad_value(&self, q: usize, ctx: &Context) -> Result<f32> {
        match &self.per_channel {
            None => Ok(self.value),
            Some(v) => v
                .get(q)
                .copied()
                .ok_or_else(|| ctx.shape_error(format!("channel {q} has no pad value ({} given)", v.len()))),
        }
    }
}

impl Op for Padding {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = super::single(bottoms, ctx)?;
        let [top, bottom, left, right, front, behind] = self.pads;
        if self.pads.iter().all(|&p| p == 0) {
            return Ok(vec![x]);
        }
        let s = x.shape;
        let (top, bottom) = if s.dims == 1 { (0, 0) } else { (top, bottom) };
        let (front, behind) = if s.dims <= 2 { (0, 0) } else { (front, behind) };
        let size = |n: usize, a: i32, b: i32| -> Result<usize> {
            let v = n as i64 + i64::from(a) + i64::from(b);
            usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| ctx.shape_error(format!("padded extent {v}")))
        };
        let ow = size(s.w, left, right)?;
        let oh = size(s.h, top, bottom)?;
        self.check_reach(&[(left, s.w), (right, s.w), (top, s.h), (bottom, s.h)], ctx)?;
        let src = x.f32();
        let plane = s.w * s.h;
        let (top, left) = (i64::from(top), i64::from(left));
        match s.dims {
            1 | 2 => {
                let mut out = alloc::zeroed(ow * oh)?;
                pad_plane(src, s.w, s.h, top, left, self.border, self.value, &mut out, ow);
                let shape = if s.dims == 1 { Shape::d1(ow) } else { Shape::d2(ow, oh) };
                super::one(Tensor::new(shape, out))
            }
            3 => {
                let oc = size(s.c, front, behind)?;
                self.check_reach(&[(front, s.c), (behind, s.c)], ctx)?;
                let mut out = alloc::zeroed(ow * oh * oc)?;
                for (q, o) in out.chunks_mut(ow * oh).enumerate() {
                    let value = self.pad_value(q, ctx)?;
                    match self.border.source(q as i64 - i64::from(front), s.c) {
                        None => o.fill(value),
                        Some(sq) => {
                            let sq = sq as usize;
                            pad_plane(
                                &src[sq * plane..(sq + 1) * plane],
                                s.w,
                                s.h,
                                top,
                                left,
                                self.border,
                                value,
                                o,
                                ow,
                            );
                        }
                    }
                }
                super::one(Tensor::new(Shape::d3(ow, oh, oc), out))
            }
            _ => {
                let od = size(s.d, front, behind)?;
                self.check_reach(&[(front, s.d), (behind, s.d)], ctx)?;
                let mut out = alloc::zeroed(ow * oh * od * s.c)?;
                for (q, oq) in out.chunks_mut(ow * oh * od).enumerate() {
                    let value = self.pad_value(q, ctx)?;
                    for (z, o) in oq.chunks_mut(ow * oh).enumerate() {
                        match self.border.source(z as i64 - i64::from(front), s.d) {
                            None => o.fill(value),
                            Some(sz) => {
                                let start = (q * s.d + sz as usize) * plane;
                                pad_plane(&src[start..start + plane], s.w, s.h, top, left, self.border, value, o, ow);
                            }
                        }
                    }
                }
                super::one(Tensor::new(Shape::d4(ow, oh, od, s.c), out))
            }
        }
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let pads = [p.int(0), p.int(1), p.int(2), p.int(3), p.int(7), p.int(8)];
    if pads[..4].iter().all(|&v| v == -233) || pads[..4].iter().all(|&v| v == -234) {
        return Err(unsupported(layer, "pads read from a second input's values (-233/-234)"));
    }
    let border = match p.int(4) {
        0 => Border::Constant,
        1 => Border::Replicate,
        2 => Border::Reflect,
        other => return Err(p.invalid(format!("type {other} is not 0 (constant), 1 (replicate) or 2 (reflect)"))),
    };
    if pads.iter().any(|&v| v < 0) {
        return Err(unsupported(layer, "negative pads (cropping)"));
    }
    let per_channel = if p.int(6) > 0 { Some(p.weight_f32("pad_values")?) } else { None };
    Ok(Box::new(Padding { pads, border, value: p.float(5), per_channel }))
}
