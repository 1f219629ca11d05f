//! Embed: a lookup table. ncnn reads the input's 32-bit words as int indices (the bits of the
//! float blob, not its values), clamps them to [0, `input_dim`), and emits one row per word.

use super::{one, single, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

struct Embed {
    num_output: usize,
    input_dim: usize,
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl Op for Embed {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let words = x.shape.w;
        let mut out = alloc::with_capacity(words * self.num_output)?;
        for &v in &x.f32()[..words] {
            let index = (v.to_bits() as i32).clamp(0, self.input_dim as i32 - 1) as usize;
            let row = &self.weight[index * self.num_output..(index + 1) * self.num_output];
            match &self.bias {
                Some(b) => out.extend(row.iter().zip(b).map(|(w, b)| w + b)),
                None => out.extend_from_slice(row),
            }
        }
        one(Tensor::new(Shape::d2(self.num_output, words), out))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(18) != 0 {
        return Err(super::unsupported(layer, "int8 Embed"));
    }
    let (num_output, input_dim) = (p.int(0), p.int(1));
    if num_output <= 0 || input_dim <= 0 {
        return Err(p.invalid(format!("num_output {num_output} and input_dim {input_dim} must be positive")));
    }
    let (num_output, input_dim) = (num_output as usize, input_dim as usize);
    let weight = p.weight_f32("weight")?;
    if weight.len() < num_output * input_dim {
        return Err(p.invalid(format!(
            "weight_data_size {} is smaller than num_output × input_dim = {}",
            weight.len(),
            num_output * input_dim
        )));
    }
    let bias = if p.int(2) != 0 { Some(p.weight_f32("bias")?) } else { None };
    Ok(Box::new(Embed { num_output, input_dim, weight, bias }))
}
