//! Permute: reorders the axes of a 2-D, 3-D or 4-D blob (a 1-D blob passes through).

use super::{single, Context, Op, Params};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

/// ncnn's order types: the input axis that becomes output w, h, (d,) c, innermost first
/// (formats.md, Permute).
const ORDERS_3D: [&str; 6] = ["whc", "hwc", "wch", "cwh", "hcw", "chw"];
const ORDERS_4D: [&str; 24] = [
    "whdc", "hwdc", "wdhc", "dwhc", "hdwc", "dhwc", "whcd", "hwcd", "wchd", "cwhd", "hcwd", "chwd", "wdch", "dwch",
    "wcdh", "cwdh", "dcwh", "cdwh", "hdcw", "dhcw", "hcdw", "chdw", "dchw", "cdhw",
];

struct Permute {
    order_type: i32,
}

/// Position of an axis letter in w, h, d, c.
fn slot(letter: u8) -> usize {
    match letter {
        b'w' => 0,
        b'h' => 1,
        b'd' => 2,
        _ => 3,
    }
}

impl Op for Permute {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let order: &str = match s.dims {
            1 => return Ok(vec![x]),
            2 => match self.order_type {
                0 => "wh",
                1 => "hw",
                _ => "",
            },
            3 => ORDERS_3D.get(self.order_type as usize).copied().unwrap_or(""),
            _ => ORDERS_4D.get(self.order_type as usize).copied().unwrap_or(""),
        };
        if order.is_empty() || self.order_type < 0 {
            return Err(ctx.shape_error(format!("order_type {} is not defined for {s}", self.order_type)));
        }
        if self.order_type == 0 {
            return Ok(vec![x]);
        }
        let extent = [s.w, s.h, s.d, s.c];
        let stride = [1, s.w, s.w * s.h, s.w * s.h * s.d];
        // Output axes in w, h, d, c order; a 3-D blob's c letter lands in the c slot.
        let out_slots: Vec<usize> = match s.dims {
            2 => vec![0, 1],
            3 => vec![0, 1, 3],
            _ => vec![0, 1, 2, 3],
        };
        let mut out_extent = [1usize; 4];
        let mut out_stride = [0usize; 4];
        for (&letter, &o) in order.as_bytes().iter().zip(&out_slots) {
            out_extent[o] = extent[slot(letter)];
            out_stride[o] = stride[slot(letter)];
        }
        let src = x.f32();
        let mut out = Vec::with_capacity(s.len());
        for q in 0..out_extent[3] {
            for z in 0..out_extent[2] {
                for y in 0..out_extent[1] {
                    let base = q * out_stride[3] + z * out_stride[2] + y * out_stride[1];
                    out.extend((0..out_extent[0]).map(|i| src[base + i * out_stride[0]]));
                }
            }
        }
        let [w, h, d, c] = out_extent;
        let shape = Shape { dims: s.dims, w, h, d, c };
        super::one(Tensor::new(shape, out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let order_type = p.int(0);
    if !(0..24).contains(&order_type) {
        return Err(p.invalid(format!("order_type {order_type} is not one of 0..23")));
    }
    Ok(Box::new(Permute { order_type }))
}
