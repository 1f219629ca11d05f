//! The fused activation of conv-like layers (`activation_type` and `activation_params`, ids 9 and
//! 10; formats.md §5) with ncnn's scalar semantics. Kernels apply it in their epilogues and layers
//! read it from params (`layers::conv_params`), so it lives at the ground.

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
            Activation::Mish => mish(x),
            Activation::HardSwish { alpha, beta } => hardswish(x, alpha, beta),
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

#[inline(always)]
pub fn mish(x: f32) -> f32 {
    x * softplus(x).tanh()
}

#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    x.exp().ln_1p()
}

#[inline(always)]
pub fn hardswish(x: f32, alpha: f32, beta: f32) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_branch_points_follow_ncnn() {
        assert_eq!(hardswish(-3.0, 0.2, 0.5), 0.0);
        assert_eq!(hardswish(3.0, 0.2, 0.5), 3.0);
        assert_eq!(hardswish(1.0, 0.2, 0.5), 0.7);
        assert_eq!(Activation::from_params(3, &[-1.0, 2.0]).apply(5.0), 2.0);
    }
}
