//! Element-wise math layers: UnaryOp (every `op_type` 0..27 of ncnn), Power, Exp and Log.

use super::{map_op, Op, Params};
use crate::error::Result;
use crate::model::Layer;

/// sign with ncnn's convention: 0 (and NaN) map to 0.
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

pub fn build_unaryop(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    match p.int(0) {
        0 => map_op(f32::abs),
        1 => map_op(|x: f32| -x),
        2 => map_op(f32::floor),
        3 => map_op(f32::ceil),
        4 => map_op(|x: f32| x * x),
        5 => map_op(f32::sqrt),
        6 => map_op(|x: f32| 1.0 / x.sqrt()),
        7 => map_op(f32::exp),
        8 => map_op(f32::ln),
        9 => map_op(f32::sin),
        10 => map_op(f32::cos),
        11 => map_op(f32::tan),
        12 => map_op(f32::asin),
        13 => map_op(f32::acos),
        14 => map_op(f32::atan),
        15 => map_op(|x: f32| 1.0 / x),
        16 => map_op(f32::tanh),
        17 => map_op(f32::log10),
        // ncnn rounds with the FE_TONEAREST mode: halves go to even.
        18 => map_op(f32::round_ties_even),
        19 => map_op(f32::trunc),
        20 => map_op(sign),
        21 => map_op(f32::exp_m1),
        22 => map_op(f32::sinh),
        23 => map_op(f32::asinh),
        24 => map_op(f32::cosh),
        25 => map_op(f32::acosh),
        26 => map_op(f32::atanh),
        27 => map_op(f32::ln_1p),
        // ncnn's load_param rejects other codes.
        other => Err(p.invalid(format!("op_type {other} is not one of ncnn's unary ops 0..27"))),
    }
}

/// (shift + x·scale)^power.
pub fn build_power(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (power, scale, shift) = (p.float(0), p.float(1), p.float(2));
    map_op(move |x: f32| (shift + x * scale).powf(power))
}

/// base^(shift + x·scale); base −1 means e.
pub fn build_exp(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (base, scale, shift) = (p.float(0), p.float(1), p.float(2));
    if base == -1.0 {
        map_op(move |x: f32| (shift + x * scale).exp())
    } else {
        map_op(move |x: f32| base.powf(shift + x * scale))
    }
}

/// `log_base(shift + x·scale)`; base −1 means e.
pub fn build_log(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (base, scale, shift) = (p.float(0), p.float(1), p.float(2));
    if base == -1.0 {
        map_op(move |x: f32| (shift + x * scale).ln())
    } else {
        let inv_ln_base = 1.0 / base.ln();
        map_op(move |x: f32| (shift + x * scale).ln() * inv_ln_base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_maps_zero_to_zero() {
        assert_eq!(sign(-0.0), 0.0);
        assert_eq!(sign(0.0), 0.0);
        assert_eq!(sign(-3.5), -1.0);
        assert_eq!(sign(1e-30), 1.0);
    }
}
