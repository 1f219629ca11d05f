//! Tile: repeats a blob `tiles` times along one axis, or numpy-style by `repeats` (which may add
//! leading axes: the output rank is the larger of the two).

use super::{single, unsupported, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

struct Tile {
    axis: i32,
    tiles: i32,
    repeats: Vec<i32>,
}

impl Tile {
    /// Repeat counts for w, h, d, c.
    fn factors(&self, dims: usize) -> [i32; 4] {
        let mut f = [1i32; 4];
        if self.repeats.is_empty() {
            // Axis over numpy order (0..3, checked at build); past the blob's rank it tiles nothing.
            let slot = match (dims, self.axis) {
                (1, _) => Some(0),
                (2, 0) => Some(1),
                (2, 1) => Some(0),
                (3 | 4, 0) => Some(3),
                (3, 1) | (4, 2) => Some(1),
                (3, 2) | (4, 3) => Some(0),
                (4, 1) => Some(2),
                _ => None,
            };
            if let Some(s) = slot {
                f[s] = self.tiles;
            }
            return f;
        }
        let r = &self.repeats;
        match r.len() {
            1 => f[0] = r[0],
            2 => [f[1], f[0]] = [r[0], r[1]],
            // Three repeats are d, h, w for a 4-D blob and c, h, w otherwise.
            3 if dims == 4 => [f[2], f[1], f[0]] = [r[0], r[1], r[2]],
            3 => [f[3], f[1], f[0]] = [r[0], r[1], r[2]],
            _ => [f[3], f[2], f[1], f[0]] = [r[0], r[1], r[2], r[3]],
        }
        f
    }
}

impl Op for Tile {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let f = self.factors(s.dims);
        let out_dims = s.dims.max(self.repeats.len());
        if f == [1; 4] && (self.repeats.is_empty() || self.repeats.len() == s.dims) {
            return Ok(vec![x]);
        }
        let f = f.map(|v| v as usize);
        let (w, h, d, c) = (s.w, s.h, s.d, s.c);
        let (ow, oh, od, oc) = (w * f[0], h * f[1], d * f[2], c * f[3]);
        let src = x.f32();
        let mut out = alloc::with_capacity(alloc::count(&[ow, oh, od, oc])?)?;
        for q in 0..oc {
            for z in 0..od {
                for y in 0..oh {
                    let row = (((q % c) * d + z % d) * h + y % h) * w;
                    for _ in 0..f[0] {
                        out.extend_from_slice(&src[row..row + w]);
                    }
                }
            }
        }
        let shape = match out_dims {
            1 => Shape::d1(ow),
            2 => Shape::d2(ow, oh),
            3 => Shape::d3(ow, oh, oc),
            _ => Shape::d4(ow, oh, od, oc),
        };
        super::one(Tensor::new(shape, out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if layer.bottoms.len() > 1 {
        return Err(unsupported(layer, "repeats from a second input"));
    }
    let repeats = p.ints(2);
    if repeats.len() > 4 || repeats.iter().any(|&r| r < 1) {
        return Err(p.invalid(format!("repeats {repeats:?}: at most 4, each at least 1")));
    }
    let (axis, tiles) = (p.int(0), p.int(1));
    if !(0..=3).contains(&axis) || tiles < 1 {
        return Err(p.invalid(format!("axis {axis} (0..3) or tiles {tiles} (at least 1) is out of range")));
    }
    Ok(Box::new(Tile { axis, tiles, repeats }))
}
