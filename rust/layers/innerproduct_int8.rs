//! int8 InnerProduct (runtime-int8.md §4): the input quantized with the single input scale, int32
//! dot products per output, de-scale, bias and activation; the output is always float32.

use super::convolution_int8::quantized_vector;
use super::{int8, one, single, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Activation, Shape, Tensor};
use crate::error::Result;
use crate::kernels::dispatch::{self, I8Path};
use crate::kernels::gemm_i8::{self, Epilogue, Out, PackedRows};
use crate::model::Layer;
use std::sync::Arc;

/// ncnn's x86 int8 inner product multiplies, then adds the bias.
pub(crate) const FUSES_BIAS: bool = false;

struct InnerProductInt8 {
    num_output: usize,
    num_input: usize,
    path: I8Path,
    weights: PackedRows,
    s_in: f32,
    scale: Vec<f32>,
    bias: Option<Vec<f32>>,
    activation: Activation,
}

impl Op for InnerProductInt8 {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let ep = Epilogue {
            scale: &self.scale,
            bias: self.bias.as_deref(),
            activation: self.activation,
            requant: None,
            fused: FUSES_BIAS,
        };
        let q = quantized_vector(self.path, &x, self.s_in)?;
        if s.dims == 2 && s.w == self.num_input {
            // Rows × num_input → rows × num_output, each row its own product.
            let mut y = alloc::zeroed(s.h * self.num_output)?;
            for (row, out) in q.chunks(self.num_input).zip(y.chunks_mut(self.num_output)) {
                gemm_i8::gemv(&self.weights, row, &ep, Out::F32(out));
            }
            return one(Tensor::new(Shape::d2(self.num_output, s.h), y));
        }
        if s.len() != self.num_input {
            return Err(ctx.shape_error(format!(
                "input {s} has {} values, the weights expect {}",
                s.len(),
                self.num_input
            )));
        }
        let mut y = alloc::zeroed(self.num_output)?;
        gemm_i8::gemv(&self.weights, &q, &ep, Out::F32(&mut y));
        one(Tensor::new(Shape::d1(self.num_output), y))
    }
}

/// InnerProduct with `int8_scale_term` ≠ 0.
pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let num_output = p.int(0);
    let weight_size = p.int(2);
    if num_output <= 0 || weight_size <= 0 || weight_size % num_output != 0 {
        return Err(p.invalid(format!("weight_data_size {weight_size} is not a multiple of num_output {num_output}")));
    }
    let num_output = num_output as usize;
    let num_input = weight_size as usize / num_output;
    let s_w = int8::array(&p, "weight_int8_scales", num_output)?;
    let s_in = int8::scalar(&p, "bottom_int8_scale")?;
    let weights = int8::weights(&p, num_output, &s_w)?;
    let path = dispatch::I8.selected();
    Ok(Box::new(InnerProductInt8 {
        num_output,
        num_input,
        path,
        weights: PackedRows::new(path, &weights, num_output, num_input),
        s_in,
        scale: int8::descale(s_in, &s_w),
        bias: if p.int(1) != 0 { Some(int8::array(&p, "bias", num_output)?) } else { None },
        activation: Activation::of_layer(&p),
    }))
}
