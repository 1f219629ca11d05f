//! Eltwise: product, (weighted) sum or maximum of two or more blobs of one shape.

use super::{one, take, Context, Op, Params, PAR_CHUNK};
use crate::base::parallel;
use crate::base::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prod,
    Sum,
    Max,
}

struct Eltwise {
    kind: Kind,
    /// Per-input coefficients of the sum; empty = all 1.
    coeffs: Vec<f32>,
}

/// acc[i] = f(acc[i], other[i]), in parallel.
fn zip_inplace(acc: &mut [f32], other: &[f32], f: impl Fn(f32, f32) -> f32 + Sync + Send) {
    parallel::for_each_chunk(acc, PAR_CHUNK, 1, |i, a| {
        a.iter_mut().zip(&other[i * PAR_CHUNK..]).for_each(|(x, &y)| *x = f(*x, y));
    });
}

impl Op for Eltwise {
    fn forward(&self, mut bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        if bottoms.len() < 2 {
            return Err(ctx.shape_error(format!("needs at least 2 inputs, got {}", bottoms.len())));
        }
        let shape = bottoms[0].shape;
        if let Some(other) = bottoms.iter().find(|b| b.shape != shape) {
            return Err(ctx.shape_error(format!("inputs differ in shape: {shape} and {}", other.shape)));
        }
        if !self.coeffs.is_empty() && self.coeffs.len() < bottoms.len() {
            // ncnn reads coefficients past the end of the array here.
            return Err(ctx.shape_error(format!("{} coefficients for {} inputs", self.coeffs.len(), bottoms.len())));
        }
        let rest = bottoms.split_off(1);
        let mut acc = take(bottoms.pop().expect("first bottom"))?;
        let data = acc.f32_mut();
        match self.kind {
            Kind::Prod => rest.iter().for_each(|b| zip_inplace(data, b.f32(), |x, y| x * y)),
            Kind::Max => rest.iter().for_each(|b| zip_inplace(data, b.f32(), |x, y| if x < y { y } else { x })),
            Kind::Sum if self.coeffs.is_empty() => rest.iter().for_each(|b| zip_inplace(data, b.f32(), |x, y| x + y)),
            Kind::Sum => {
                let (c0, c1) = (self.coeffs[0], self.coeffs[1]);
                zip_inplace(data, rest[0].f32(), |x, y| x * c0 + y * c1);
                for (b, &c) in rest.iter().zip(&self.coeffs[1..]).skip(1) {
                    zip_inplace(data, b.f32(), |x, y| x + y * c);
                }
            }
        }
        one(acc)
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let kind = match p.int(0) {
        0 => Kind::Prod,
        1 => Kind::Sum,
        2 => Kind::Max,
        other => return Err(p.invalid(format!("op_type {other} is not 0 (prod), 1 (sum) or 2 (max)"))),
    };
    Ok(Box::new(Eltwise { kind, coeffs: p.floats(1) }))
}
