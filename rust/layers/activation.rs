//! The stand-alone activation layers: ReLU, Sigmoid, Swish, HardSwish, HardSigmoid, GELU, Clip,
//! ELU, CELU, SELU, Mish, TanH, AbsVal, Softplus, BNLL, Erf, Threshold and PReLU. The fused
//! `activation_type` of conv-like layers, which kernels apply too, is `base::activation`.

use super::channelwise::{channel_view, for_each_channel};
use super::{map_op, one, single, take, Context, Op, Params};
use crate::base::activation::{hardswish, mish, sigmoid, softplus};
use crate::base::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

/// Complementary error function, relative error below 1.2e-7 everywhere (the Chebyshev fit of
/// Numerical Recipes §6.2), evaluated in f64.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Error function: its Maclaurin series near 0 (where 1 − erfc would lose relative precision),
/// else 1 − erfc.
pub fn erf(x: f64) -> f64 {
    if x.abs() < 0.5 {
        // erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)); |x| < 0.5 converges fast.
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        for n in 1..20 {
            term *= -x2 / f64::from(n);
            let add = term / f64::from(2 * n + 1);
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        1.0 - erfc(x)
    }
}

pub fn build_relu(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let slope = p.float(0);
    if slope == 0.0 {
        map_op(|x: f32| x.max(0.0))
    } else {
        map_op(move |x: f32| if x > 0.0 { x } else { x * slope })
    }
}

pub fn build_sigmoid(_: &Layer) -> Result<Box<dyn Op>> {
    map_op(sigmoid)
}

pub fn build_swish(_: &Layer) -> Result<Box<dyn Op>> {
    map_op(|x: f32| x / (1.0 + (-x).exp()))
}

pub fn build_hardswish(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (alpha, beta) = (p.float(0), p.float(1));
    map_op(move |x| hardswish(x, alpha, beta))
}

pub fn build_hardsigmoid(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (alpha, beta) = (p.float(0), p.float(1));
    let lower = -beta / alpha;
    let upper = 1.0 / alpha + lower;
    map_op(move |x| {
        if x < lower {
            0.0
        } else if x > upper {
            1.0
        } else {
            x * alpha + beta
        }
    })
}

pub fn build_gelu(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(0) != 0 {
        // The tanh approximation with ncnn's rounded constant sqrt(2/pi).
        map_op(|x: f32| 0.5 * x * (1.0 + (0.797_884_5 * (x + 0.044_715 * x * x * x)).tanh()))
    } else {
        map_op(|x: f32| 0.5 * x * erfc(-std::f64::consts::FRAC_1_SQRT_2 * f64::from(x)) as f32)
    }
}

pub fn build_clip(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (min, max) = (p.float(0), p.float(1));
    map_op(move |x| {
        if x < min {
            min
        } else if x > max {
            max
        } else {
            x
        }
    })
}

pub fn build_elu(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let alpha = p.float(0);
    map_op(move |x: f32| if x < 0.0 { alpha * (x.exp() - 1.0) } else { x })
}

pub fn build_celu(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let alpha = p.float(0);
    map_op(move |x: f32| if x < 0.0 { ((x / alpha).exp() - 1.0) * alpha } else { x })
}

pub fn build_selu(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (alpha, lambda) = (p.float(0), p.float(1));
    let alpha_lambda = alpha * lambda;
    map_op(move |x: f32| if x < 0.0 { (x.exp() - 1.0) * alpha_lambda } else { x * lambda })
}

pub fn build_mish(_: &Layer) -> Result<Box<dyn Op>> {
    map_op(mish)
}

pub fn build_tanh(_: &Layer) -> Result<Box<dyn Op>> {
    map_op(f32::tanh)
}

pub fn build_absval(_: &Layer) -> Result<Box<dyn Op>> {
    map_op(f32::abs)
}

pub fn build_softplus(_: &Layer) -> Result<Box<dyn Op>> {
    map_op(softplus)
}

pub fn build_bnll(_: &Layer) -> Result<Box<dyn Op>> {
    // Both branches are log(1 + e^x); the split keeps exp from overflowing for large x.
    map_op(|x: f32| if x > 0.0 { x + (-x).exp().ln_1p() } else { x.exp().ln_1p() })
}

pub fn build_erf(_: &Layer) -> Result<Box<dyn Op>> {
    map_op(|x: f32| erf(f64::from(x)) as f32)
}

pub fn build_threshold(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let threshold = p.float(0);
    map_op(move |x: f32| if x > threshold { 1.0 } else { 0.0 })
}

/// Leaky ReLU with one slope, or one slope per channel (ncnn's per-rank channel, see
/// `channelwise`).
struct PRelu(Vec<f32>);

impl Op for PRelu {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?)?;
        if let [slope] = self.0[..] {
            super::map_inplace(t.f32_mut(), |x| if x < 0.0 { x * slope } else { x });
            return one(t);
        }
        let (channels, inner) = channel_view(&t.shape);
        if self.0.len() < channels {
            return Err(ctx.shape_error(format!(
                "{} slopes for an input {} of {channels} channels",
                self.0.len(),
                t.shape
            )));
        }
        for_each_channel(t.f32_mut(), inner, |q, ch| {
            let slope = self.0[q];
            for x in ch.iter_mut() {
                if *x < 0.0 {
                    *x *= slope;
                }
            }
        });
        one(t)
    }
}

pub fn build_prelu(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(0) <= 0 {
        return Err(p.invalid(format!("num_slope must be positive, got {}", p.int(0))));
    }
    Ok(Box::new(PRelu(p.weight_f32("slope")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its everywhere-positive series 2/sqrt(pi)·e^(−x²)·Σ 2^n x^(2n+1)/(2n+1)!!, which
    /// has no cancellation and so serves as an oracle for moderate |x|.
    fn erf_series(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= 2.0 * x * x / f64::from(2 * n + 1);
            sum += term;
        }
        sum * (-x * x).exp() * std::f64::consts::FRAC_2_SQRT_PI
    }

    #[test]
    fn erf_and_erfc_match_the_series() {
        for i in -400..=400 {
            let x = f64::from(i) / 100.0;
            let want = erf_series(x);
            assert!(
                (erf(x) - want).abs() <= 2e-7 * want.abs().max(1e-30) + 1e-12,
                "erf({x}) = {}, want {want}",
                erf(x)
            );
            let want_c = 1.0 - want;
            assert!((erfc(x) - want_c).abs() <= 2e-7 * want_c.abs() + 1e-14, "erfc({x}) = {}, want {want_c}", erfc(x));
        }
        assert!((erf(1.0) - 0.842_700_792_949_714_9).abs() < 1e-7);
    }
}
