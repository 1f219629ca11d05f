//! InnerProduct: a fully connected layer. A 2-D input whose width equals `num_input` is treated as
//! independent rows; anything else is flattened (c, h, w order) into one vector.

use super::{one, single, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Activation, Shape, Tensor};
use crate::error::Result;
use crate::kernels::dispatch::{self, F32Path};
use crate::kernels::gemm_f32::{self, Epilogue};
use crate::model::Layer;
use std::sync::Arc;

struct InnerProduct {
    num_output: usize,
    num_input: usize,
    /// Row-major `num_output` × `num_input`: every form is a matrix-vector product.
    weights: Vec<f32>,
    isa: F32Path,
    bias: Option<Vec<f32>>,
    activation: Activation,
}

impl Op for InnerProduct {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let epilogue = Epilogue { bias: self.bias.as_deref(), activation: self.activation };
        if s.dims == 2 && s.w == self.num_input {
            // rows × num_input -> rows × num_output, one product per row.
            let rows = s.h;
            let mut y = alloc::zeroed(rows * self.num_output)?;
            for (xr, yr) in x.f32().chunks(self.num_input).zip(y.chunks_mut(self.num_output)) {
                gemm_f32::gemv(self.isa, &self.weights, self.num_input, xr, yr, epilogue);
            }
            return one(Tensor::new(Shape::d2(self.num_output, rows), y));
        }
        if s.len() != self.num_input {
            return Err(ctx.shape_error(format!(
                "input {s} has {} values, the weights expect {}",
                s.len(),
                self.num_input
            )));
        }
        let mut out = alloc::zeroed(self.num_output)?;
        gemm_f32::gemv(self.isa, &self.weights, self.num_input, x.f32(), &mut out, epilogue);
        one(Tensor::new(Shape::d1(self.num_output), out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(8) != 0 {
        return super::innerproduct_int8::build(layer);
    }
    let num_output = p.int(0);
    let weight_size = p.int(2);
    if num_output <= 0 || weight_size <= 0 || weight_size % num_output != 0 {
        return Err(p.invalid(format!("weight_data_size {weight_size} is not a multiple of num_output {num_output}")));
    }
    let num_output = num_output as usize;
    let num_input = weight_size as usize / num_output;
    let weights = p.weight_f32("weight")?;
    let bias = if p.int(1) != 0 { Some(p.weight_f32("bias")?) } else { None };
    Ok(Box::new(InnerProduct {
        num_output,
        num_input,
        weights,
        isa: dispatch::F32.selected(),
        bias,
        activation: Activation::of_layer(&p),
    }))
}
