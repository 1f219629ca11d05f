//! Cast between ncnn's storage types (1 float32, 2 float16, 3 int8, 4 bfloat16) in the fp32
//! engine, where every float blob is stored as f32.
//!
//! A cast to or from a 16-bit float type rounds each value through that type (to nearest, ties
//! to even, as ncnn's F16C and bf16 conversions do), so the values equal what ncnn stores. int8 →
//! float32 converts an int8 blob exactly. Casts ncnn does not compute (float → int8, type 0,
//! anything between two 16-bit types) are rejected when the layer is built.

use super::{one, single, take, Context, Op, Params};
use crate::base::Tensor;
use crate::error::Result;
use crate::model::Layer;
use half::{bf16, f16};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cast {
    Identity,
    ThroughF16,
    ThroughBf16,
    Int8ToF32,
}

impl Op for Cast {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let t = single(bottoms, ctx)?;
        match self {
            Cast::Identity => Ok(vec![t]),
            Cast::Int8ToF32 => {
                if !t.is_i8() {
                    return Err(ctx.shape_error("casts int8 to float32 but its input is a float32 blob"));
                }
                let t = take(t)?;
                let shape = t.shape;
                one(Tensor::new(shape, t.into_f32()))
            }
            Cast::ThroughF16 => {
                let mut t = take(t)?;
                super::map_inplace(t.f32_mut(), |x| f16::from_f32(x).to_f32());
                one(t)
            }
            Cast::ThroughBf16 => {
                let mut t = take(t)?;
                super::map_inplace(t.f32_mut(), |x| bf16::from_f32(x).to_f32());
                one(t)
            }
        }
    }

    fn accepts_int8(&self) -> bool {
        matches!(self, Cast::Identity | Cast::Int8ToF32)
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (from, to) = (p.int(0), p.int(1));
    let cast = match (from, to) {
        (a, b) if a == b => Cast::Identity,
        (1, 2) | (2, 1) => Cast::ThroughF16,
        (1, 4) | (4, 1) => Cast::ThroughBf16,
        (3, 1) => Cast::Int8ToF32,
        _ => {
            return Err(super::unsupported(
                layer,
                &format!("Cast from type {from} to type {to} (ncnn computes only 1↔2, 1↔4 and 3→1)"),
            ))
        }
    };
    Ok(Box::new(cast))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Shape;

    fn cast_layer(params: &str) -> Layer {
        let text = format!("7767517\n2 2\nInput in 0 1 in\nCast c 1 1 in out {params}\n");
        let graph = crate::model::parse_param(text.as_bytes(), "test").expect("parses");
        graph.layers[1].clone()
    }

    #[test]
    fn int8_to_float32_converts_an_int8_blob_exactly() {
        let op = build(&cast_layer("0=3 1=1")).expect("builds");
        assert!(op.accepts_int8());
        let ctx = Context { layer: "c", layer_type: "Cast" };
        let input = Tensor::new_i8(Shape::d2(3, 1), vec![-128, 0, 127]);
        let out = op.forward(vec![Arc::new(input)], &ctx).expect("runs");
        assert_eq!(out[0].f32(), &[-128.0, 0.0, 127.0]);
        let float_input = Tensor::new(Shape::d1(1), vec![1.0]);
        assert!(op.forward(vec![Arc::new(float_input)], &ctx).is_err());
    }

    #[test]
    fn casts_ncnn_does_not_compute_are_rejected() {
        for params in ["0=1 1=3", "0=0 1=2", "0=2 1=4", "0=4 1=3"] {
            assert!(build(&cast_layer(params)).is_err(), "{params}");
        }
    }

    #[test]
    fn rounding_through_16_bit_floats_is_to_nearest_even() {
        // 1 + 1.5 ulp(f16) rounds up to 1 + 2 ulp; 1 + 0.5 ulp ties to even (1).
        assert_eq!(f16::from_f32(1.0 + 1.5 * 2f32.powi(-10)).to_f32(), 1.0 + 2.0 * 2f32.powi(-10));
        assert_eq!(f16::from_f32(1.0 + 0.5 * 2f32.powi(-10)).to_f32(), 1.0);
        assert_eq!(f16::from_f32(65520.0).to_f32(), f32::INFINITY);
        // bf16 keeps 8 bits of mantissa: 65519 rounds up to 65536 (truncation would give 65280).
        assert_eq!(bf16::from_f32(65519.0).to_f32(), 65536.0);
        assert!(bf16::from_f32(f32::NAN).to_f32().is_nan());
    }
}
