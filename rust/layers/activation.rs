//! Activations: the fused `activation_type` of conv-like layers (formats.md §5) and the
//! stand-alone activation layers.

use super::{one, single, take, Context, Op, Params};
use crate::engine::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

/// A fused activation, applied in float32 after bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu(f32),
    Clip(f32, f32),
    Sigmoid,
    Mish,
    HardSwish { alpha: f32, beta: f32 },
}

/// ncnn clamps the sigmoid argument to avoid exp overflow.
const SIGMOID_CLAMP: f32 = 88.376_26;

impl Activation {
    /// From `activation_type` / `activation_params` (ids 9 and 10 of conv-like layers).
    pub fn from_params(kind: i32, params: &[f32]) -> Activation {
        let p = |i: usize, default: f32| params.get(i).copied().unwrap_or(default);
        match kind {
            1 => Activation::Relu,
            2 => Activation::LeakyRelu(p(0, 0.0)),
            3 => Activation::Clip(p(0, -f32::MAX), p(1, f32::MAX)),
            4 => Activation::Sigmoid,
            5 => Activation::Mish,
            6 => Activation::HardSwish { alpha: p(0, 0.2), beta: p(1, 0.5) },
            // ncnn treats every other code as identity.
            _ => Activation::Identity,
        }
    }

    pub fn of_layer(params: &Params) -> Activation {
        Activation::from_params(params.int(9), &params.floats(10))
    }

    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(slope) => {
                if x > 0.0 {
                    x
                } else {
                    x * slope
                }
            }
            Activation::Clip(lo, hi) => x.max(lo).min(hi),
            Activation::Sigmoid => sigmoid(x),
            Activation::Mish => x * (x.exp().ln_1p()).tanh(),
            Activation::HardSwish { alpha, beta } => {
                let lower = -beta / alpha;
                let upper = 1.0 / alpha + lower;
                if x < lower {
                    0.0
                } else if x > upper {
                    x
                } else {
                    x * (x * alpha + beta)
                }
            }
        }
    }

    pub fn apply_slice(self, xs: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
            other => xs.iter_mut().for_each(|x| *x = other.apply(*x)),
        }
    }
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let x = x.clamp(-SIGMOID_CLAMP, SIGMOID_CLAMP);
    1.0 / (1.0 + (-x).exp())
}

/// An element-wise activation layer that works in place.
struct Elementwise(Activation);

impl Op for Elementwise {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?);
        self.0.apply_slice(t.f32_mut());
        one(t)
    }
}

pub fn build_relu(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let slope = p.float(0);
    Ok(Box::new(Elementwise(if slope == 0.0 { Activation::Relu } else { Activation::LeakyRelu(slope) })))
}
