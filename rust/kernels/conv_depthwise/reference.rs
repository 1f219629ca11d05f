//! Portable reference: one output at a time, in ncnn's summation order (bias, then the kernel
//! taps row by row).

use super::plane::Plane;
use crate::kernels::simd::RegAct;

pub fn channel(p: &Plane, input: &[f32], weights: &[f32], bias: f32, out: &mut [f32]) {
    let (kw, kh) = p.kernel;
    let (dw, dh) = p.dilation;
    let (sw, sh) = p.stride;
    for oy in 0..p.oh {
        for ox in 0..p.ow {
            let mut sum = bias;
            for ky in 0..kh {
                let row = &input[(oy * sh + ky * dh) * p.pw..];
                for kx in 0..kw {
                    sum += row[ox * sw + kx * dw] * weights[ky * kw + kx];
                }
            }
            out[oy * p.ow + ox] = sum;
        }
    }
}

/// The reference path's kernel: [`channel`], then the in-register part of the activation.
pub(crate) fn channel_act(p: &Plane, input: &[f32], weights: &[f32], bias: f32, act: RegAct, out: &mut [f32]) {
    channel(p, input, weights, bias, out);
    for v in out.iter_mut() {
        *v = act.apply_scalar(*v);
    }
}
