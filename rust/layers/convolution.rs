//! Convolution: 2-D convolution with dilation, stride, explicit or SAME padding, pad_value,
//! optional bias and fused activation; the 1-D input form that ncnn runs as an InnerProduct.
//! Computed as im2col + the f32 GEMM kernel.

use super::activation::Activation;
use super::{one, single, Context, Op, Params};
use crate::engine::{Shape, Tensor};
use crate::error::Result;
use crate::kernels::gemm_f32::{self, Epilogue, PackedA};
use crate::model::Layer;
use std::sync::Arc;

/// Kernel geometry shared by the convolution family.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub stride: (usize, usize),
    /// left, right, top, bottom; -233 / -234 mean SAME_UPPER / SAME_LOWER.
    pub pads: [i32; 4],
    pub pad_value: f32,
}

/// Padding resolved for one input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    pub left: usize,
    pub right: usize,
    pub top: usize,
    pub bottom: usize,
}

impl Geometry {
    pub fn from_params(p: &Params) -> Result<Geometry> {
        let positive = |id: u32, what: &str| -> Result<usize> {
            let v = p.int(id);
            if v <= 0 {
                return Err(p.invalid(format!("{what} must be positive, got {v}")));
            }
            Ok(v as usize)
        };
        Ok(Geometry {
            kernel: (positive(1, "kernel_w")?, positive(11, "kernel_h")?),
            dilation: (positive(2, "dilation_w")?, positive(12, "dilation_h")?),
            stride: (positive(3, "stride_w")?, positive(13, "stride_h")?),
            pads: [p.int(4), p.int(15), p.int(14), p.int(16)],
            pad_value: p.float(18),
        })
    }

    pub fn extent(&self) -> (usize, usize) {
        (self.dilation.0 * (self.kernel.0 - 1) + 1, self.dilation.1 * (self.kernel.1 - 1) + 1)
    }

    /// ncnn's `make_padding`: explicit pads if any is positive, else the SAME rules.
    pub fn padding(&self, w: usize, h: usize) -> Padding {
        let [l, r, t, b] = self.pads;
        if l > 0 || r > 0 || t > 0 || b > 0 {
            let z = |v: i32| v.max(0) as usize;
            return Padding { left: z(l), right: z(r), top: z(t), bottom: z(b) };
        }
        let same = |lower: bool| {
            let (ew, eh) = self.extent();
            let wpad = (ew + (w.max(1) - 1) / self.stride.0 * self.stride.0).saturating_sub(w);
            let hpad = (eh + (h.max(1) - 1) / self.stride.1 * self.stride.1).saturating_sub(h);
            if lower {
                Padding { left: wpad - wpad / 2, right: wpad / 2, top: hpad - hpad / 2, bottom: hpad / 2 }
            } else {
                Padding { left: wpad / 2, right: wpad - wpad / 2, top: hpad / 2, bottom: hpad - hpad / 2 }
            }
        };
        if self.pads.iter().all(|&p| p == -233) {
            same(false)
        } else if self.pads.iter().all(|&p| p == -234) {
            same(true)
        } else {
            Padding { left: 0, right: 0, top: 0, bottom: 0 }
        }
    }

    /// Output (w, h) for an input of (w, h), or None when the kernel does not fit.
    pub fn output_size(&self, w: usize, h: usize) -> Option<(usize, usize, Padding)> {
        let pad = self.padding(w, h);
        let (ew, eh) = self.extent();
        let pw = w + pad.left + pad.right;
        let ph = h + pad.top + pad.bottom;
        if pw < ew || ph < eh {
            return None;
        }
        Some(((pw - ew) / self.stride.0 + 1, (ph - eh) / self.stride.1 + 1, pad))
    }

    /// Copies the input into a padded buffer filled with pad_value.
    pub fn pad_input(&self, src: &[f32], w: usize, h: usize, c: usize, pad: Padding) -> (Vec<f32>, usize, usize) {
        if pad == (Padding { left: 0, right: 0, top: 0, bottom: 0 }) {
            return (src.to_vec(), w, h);
        }
        let pw = w + pad.left + pad.right;
        let ph = h + pad.top + pad.bottom;
        let mut out = vec![self.pad_value; pw * ph * c];
        for ch in 0..c {
            for y in 0..h {
                let s = &src[(ch * h + y) * w..(ch * h + y + 1) * w];
                let d0 = (ch * ph + y + pad.top) * pw + pad.left;
                out[d0..d0 + w].copy_from_slice(s);
            }
        }
        (out, pw, ph)
    }

    /// im2col: rows (c, ky, kx), columns (oy, ox), from a padded input.
    pub fn im2col(&self, padded: &[f32], pw: usize, ph: usize, c: usize, ow: usize, oh: usize) -> Vec<f32> {
        let (kw, kh) = self.kernel;
        let (dw, dh) = self.dilation;
        let (sw, sh) = self.stride;
        let n = ow * oh;
        let mut col = vec![0.0f32; c * kh * kw * n];
        for ch in 0..c {
            let plane = &padded[ch * pw * ph..(ch + 1) * pw * ph];
            for ky in 0..kh {
                for kx in 0..kw {
                    let row = ((ch * kh + ky) * kw + kx) * n;
                    let dst = &mut col[row..row + n];
                    for oy in 0..oh {
                        let srow = &plane[(oy * sh + ky * dh) * pw + kx * dw..];
                        let drow = &mut dst[oy * ow..(oy + 1) * ow];
                        if sw == 1 {
                            drow.copy_from_slice(&srow[..ow]);
                        } else {
                            for (ox, d) in drow.iter_mut().enumerate() {
                                *d = srow[ox * sw];
                            }
                        }
                    }
                }
            }
        }
        col
    }
}

struct Convolution {
    geometry: Geometry,
    num_output: usize,
    /// num_input · kh · kw
    k: usize,
    weights: PackedA,
    bias: Option<Vec<f32>>,
    activation: Activation,
}

impl Op for Convolution {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let (kw, kh) = self.geometry.kernel;
        if s.dims == 1 && kw == 1 && kh == 1 && s.w == self.k {
            // ncnn runs a 1x1 convolution of a flat blob as an InnerProduct.
            let mut out = vec![0.0; self.num_output];
            gemm_f32::gemm(&self.weights, x.f32(), 1, &mut out, self.epilogue());
            return one(Tensor::new(Shape::d1(self.num_output), out));
        }
        if s.dims == 4 {
            return Err(ctx.shape_error(format!("Convolution takes 1-D to 3-D input, got {s}")));
        }
        let (w, h, c) = (s.w, s.h, s.c);
        if c * kw * kh != self.k {
            return Err(
                ctx.shape_error(format!("input {s} has {c} channels but the weights expect {}", self.k / (kw * kh)))
            );
        }
        let (ow, oh, pad) =
            self.geometry.output_size(w, h).ok_or_else(|| ctx.shape_error(format!("kernel does not fit input {s}")))?;
        let (padded, pw, ph) = self.geometry.pad_input(x.f32(), w, h, c, pad);
        drop(x);
        let mut out = vec![0.0; self.num_output * ow * oh];
        let col = if kw == 1 && kh == 1 && self.geometry.stride == (1, 1) {
            padded
        } else {
            self.geometry.im2col(&padded, pw, ph, c, ow, oh)
        };
        gemm_f32::gemm(&self.weights, &col, ow * oh, &mut out, self.epilogue());
        one(Tensor::new(Shape::d3(ow, oh, self.num_output), out))
    }
}

impl Convolution {
    fn epilogue(&self) -> Epilogue<'_> {
        Epilogue { bias: self.bias.as_deref(), activation: self.activation }
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(19) != 0 {
        return Err(super::unsupported(layer, "dynamic_weight=1"));
    }
    if p.int(8) != 0 {
        return Err(super::unsupported(layer, "int8 convolution"));
    }
    let geometry = Geometry::from_params(&p)?;
    let num_output = p.int(0);
    let weight_size = p.int(6);
    if num_output <= 0 || weight_size <= 0 || weight_size % num_output != 0 {
        return Err(p.invalid(format!("weight_data_size {weight_size} is not a multiple of num_output {num_output}")));
    }
    let num_output = num_output as usize;
    let k = weight_size as usize / num_output;
    if !k.is_multiple_of(geometry.kernel.0 * geometry.kernel.1) {
        return Err(p.invalid("weight_data_size does not match kernel size"));
    }
    let weights = PackedA::new(&p.weight_f32("weight")?, num_output, k);
    let bias = if p.int(5) != 0 { Some(p.weight_f32("bias")?) } else { None };
    Ok(Box::new(Convolution { geometry, num_output, k, weights, bias, activation: Activation::of_layer(&p) }))
}
