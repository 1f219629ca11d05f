//! Deconvolution and DeconvolutionDepthWise: transposed 2-D convolution with dilation, stride,
//! groups, output padding, output cropping (explicit pads, or `output_w/output_h` with the SAME
//! rules), optional bias, fused activation, and weights from the bottoms (`dynamic_weight=1`).
//!
//! Each group is a GEMM (weightsᵀ · input, giving one row per output channel and kernel tap)
//! followed by a col2im scatter-add into a bias-filled plane; depthwise groups skip the GEMM,
//! whose inner dimension would be 1, and scatter the scaled input directly.

use super::{one, Context, Op, Params};
use crate::base::{alloc, parallel};
use crate::base::{Activation, Shape, Tensor};
use crate::error::Result;
use crate::kernels::gemm_f32::{self, Epilogue, PackedA};
use crate::model::Layer;
use std::sync::Arc;

/// ncnn's markers for "crop to `output_w/output_h`, extra at the end / at the start".
const SAME_UPPER: i32 = -233;
const SAME_LOWER: i32 = -234;

/// Everything but the kernel itself (which dynamic weights supply at run time).
#[derive(Debug, Clone, Copy)]
struct Spatial {
    dilation: (usize, usize),
    stride: (usize, usize),
    /// left, right, top, bottom: positive values are cropped from the output.
    pads: [i32; 4],
    output_pad: (usize, usize),
    /// `output_w`, `output_h`: the target size when the pads are -233 / -234.
    output_size: (i32, i32),
}

/// How much to cut from each side of the full ("bordered") output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    left: usize,
    right: usize,
    top: usize,
    bottom: usize,
}

impl Spatial {
    fn from_params(p: &Params) -> Result<Spatial> {
        let positive = |id: u32, what: &str| -> Result<usize> {
            let v = p.int(id);
            if v <= 0 {
                return Err(p.invalid(format!("{what} must be positive, got {v}")));
            }
            Ok(v as usize)
        };
        let non_negative = |id: u32, what: &str| -> Result<usize> {
            let v = p.int(id);
            if v < 0 {
                return Err(p.invalid(format!("{what} must not be negative, got {v}")));
            }
            Ok(v as usize)
        };
        let pads = [p.int(4), p.int(15), p.int(14), p.int(16)];
        // ncnn would cut by the raw values and read outside the output.
        if pads.iter().any(|&v| v > 0) && pads.iter().any(|&v| v < 0) {
            return Err(p.invalid(format!("pads {pads:?} mix positive and negative values")));
        }
        Ok(Spatial {
            dilation: (positive(2, "dilation_w")?, positive(12, "dilation_h")?),
            stride: (positive(3, "stride_w")?, positive(13, "stride_h")?),
            pads,
            output_pad: (non_negative(18, "output_pad_right")?, non_negative(19, "output_pad_bottom")?),
            output_size: (p.int(20), p.int(21)),
        })
    }

    /// The full output size: every input pixel's kernel footprint plus the output padding.
    fn bordered(&self, w: usize, h: usize, kernel: (usize, usize)) -> (usize, usize) {
        let ext_w = self.dilation.0 * (kernel.0 - 1) + 1;
        let ext_h = self.dilation.1 * (kernel.1 - 1) + 1;
        ((w - 1) * self.stride.0 + ext_w + self.output_pad.0, (h - 1) * self.stride.1 + ext_h + self.output_pad.1)
    }

    /// ncnn's `cut_padding`: positive pads win; else `output_w/output_h` with -233 (odd extra cut
    /// at the end) or -234 (at the start); else nothing.
    fn cut(&self, bw: usize, bh: usize) -> std::result::Result<Cut, String> {
        let [l, r, t, b] = self.pads;
        let cut = if self.pads.iter().any(|&v| v > 0) {
            let z = |v: i32| v.max(0) as usize;
            Cut { left: z(l), right: z(r), top: z(t), bottom: z(b) }
        } else if self.output_size.0 > 0 && self.output_size.1 > 0 {
            let (ow, oh) = (self.output_size.0 as usize, self.output_size.1 as usize);
            if ow > bw || oh > bh {
                return Err(format!("output_w/output_h {ow}x{oh} exceed the full output {bw}x{bh}"));
            }
            let (wcut, hcut) = (bw - ow, bh - oh);
            if self.pads.contains(&SAME_UPPER) {
                Cut { left: wcut / 2, right: wcut - wcut / 2, top: hcut / 2, bottom: hcut - hcut / 2 }
            } else if self.pads.contains(&SAME_LOWER) {
                Cut { left: wcut - wcut / 2, right: wcut / 2, top: hcut - hcut / 2, bottom: hcut / 2 }
            } else {
                // ncnn leaves the output empty and the forward fails.
                return Err("output_w/output_h are set but the pads are not -233 or -234".into());
            }
        } else {
            Cut { left: 0, right: 0, top: 0, bottom: 0 }
        };
        if cut.left + cut.right >= bw || cut.top + cut.bottom >= bh {
            return Err(format!(
                "pads (left {}, right {}, top {}, bottom {}) leave nothing of the full output {bw}x{bh}",
                cut.left, cut.right, cut.top, cut.bottom
            ));
        }
        Ok(cut)
    }
}

/// The weights of every group, ready to run.
enum Taps {
    /// One input and one output channel per group: `[group][kh·kw]`.
    Depthwise(Vec<f32>),
    /// Per group, the (`out_g·kh·kw`) × `in_g` matrix: row (o, ky, kx), column c.
    Gemm(Vec<PackedA>),
}

struct Kernel {
    size: (usize, usize),
    groups: usize,
    in_g: usize,
    out_g: usize,
    taps: Taps,
    bias: Option<Vec<f32>>,
}

impl Kernel {
    /// From weights in ncnn's stored order `[group][out_g][in_g][kh][kw]`.
    fn new(
        weights: &[f32],
        size: (usize, usize),
        groups: usize,
        in_g: usize,
        out_g: usize,
        bias: Option<Vec<f32>>,
    ) -> Self {
        let maxk = size.0 * size.1;
        debug_assert_eq!(weights.len(), groups * out_g * in_g * maxk);
        let taps = if in_g == 1 && out_g == 1 {
            Taps::Depthwise(weights.to_vec())
        } else {
            let per_group = out_g * in_g * maxk;
            Taps::Gemm(
                weights
                    .chunks(per_group)
                    .map(|wg| {
                        let mut a = vec![0.0; per_group];
                        for o in 0..out_g {
                            for c in 0..in_g {
                                for k in 0..maxk {
                                    a[(o * maxk + k) * in_g + c] = wg[(o * in_g + c) * maxk + k];
                                }
                            }
                        }
                        PackedA::new(&a, out_g * maxk, in_g)
                    })
                    .collect(),
            )
        };
        Kernel { size, groups, in_g, out_g, taps, bias }
    }

    fn num_output(&self) -> usize {
        self.groups * self.out_g
    }

    fn forward(&self, x: &Tensor, spatial: &Spatial, activation: Activation, ctx: &Context) -> Result<Tensor> {
        let s = x.shape;
        if s.dims == 4 {
            return Err(ctx.shape_error(format!("takes 1-D to 3-D input, got {s}")));
        }
        // A 1-D or 2-D blob is one channel of height 1 or h, as in ncnn.
        let (w, h, c) = (s.w, s.h, s.c);
        if c != self.groups * self.in_g {
            return Err(ctx.shape_error(format!(
                "input {s} has {c} channels but the weights expect {}",
                self.groups * self.in_g
            )));
        }
        if w == 0 || h == 0 {
            return Err(ctx.shape_error(format!("input {s} is empty")));
        }
        let (bw, bh) = spatial.bordered(w, h, self.size);
        let cut = spatial.cut(bw, bh).map_err(|m| ctx.shape_error(m))?;
        let (ow, oh) = (bw - cut.left - cut.right, bh - cut.top - cut.bottom);
        let plane = Plane { w, h, bw, bh, cut, kernel: self.size, spatial: *spatial, activation };
        let out_len = ow * oh;
        let mut out = alloc::zeroed(self.num_output() * out_len)?;
        let n = w * h;
        let input = x.f32();
        let maxk = self.size.0 * self.size.1;
        let bias = |ch: usize| self.bias.as_ref().map_or(0.0, |b| b[ch]);
        match &self.taps {
            Taps::Depthwise(weights) => {
                parallel::try_for_each_chunk(&mut out, out_len, 1, |g, dst| {
                    let src = &input[g * n..(g + 1) * n];
                    let taps = &weights[g * maxk..(g + 1) * maxk];
                    plane.render(dst, bias(g), |acc, k| plane.scatter_add(acc, k, src, taps[k]))
                })?;
            }
            Taps::Gemm(packed) => {
                // Per group: the GEMM (parallel inside), then each output channel's scatter.
                for (g, a) in packed.iter().enumerate() {
                    let src = &input[g * self.in_g * n..(g + 1) * self.in_g * n];
                    let mut col = alloc::zeroed(self.out_g * maxk * n)?;
                    gemm_f32::gemm(a, src, n, &mut col, Epilogue::NONE);
                    let dst = &mut out[g * self.out_g * out_len..(g + 1) * self.out_g * out_len];
                    parallel::try_for_each_chunk(dst, out_len, 1, |o, dst| {
                        let rows = &col[o * maxk * n..(o + 1) * maxk * n];
                        plane.render(dst, bias(g * self.out_g + o), |acc, k| {
                            plane.scatter_add(acc, k, &rows[k * n..(k + 1) * n], 1.0);
                        })
                    })?;
                }
            }
        }
        Ok(Tensor::new(Shape::d3(ow, oh, self.num_output()), out))
    }
}

/// One output channel's geometry: input size, full (bordered) size, and what is cut from it.
struct Plane {
    w: usize,
    h: usize,
    bw: usize,
    bh: usize,
    cut: Cut,
    kernel: (usize, usize),
    spatial: Spatial,
    activation: Activation,
}

impl Plane {
    /// Fills `dst` (the cut output channel): bias, every tap accumulated by `tap`, then the
    /// activation. The activation runs after the cut, which is the same since it is per element.
    fn render(&self, dst: &mut [f32], bias: f32, tap: impl Fn(&mut [f32], usize)) -> Result<()> {
        let taps = self.kernel.0 * self.kernel.1;
        if self.cut == (Cut { left: 0, right: 0, top: 0, bottom: 0 }) {
            dst.fill(bias);
            (0..taps).for_each(|k| tap(dst, k));
        } else {
            let mut full = alloc::filled(self.bw * self.bh, bias)?;
            (0..taps).for_each(|k| tap(&mut full, k));
            let ow = self.bw - self.cut.left - self.cut.right;
            for (oy, row) in dst.chunks_mut(ow).enumerate() {
                let start = (oy + self.cut.top) * self.bw + self.cut.left;
                row.copy_from_slice(&full[start..start + ow]);
            }
        }
        self.activation.apply_slice(dst);
        Ok(())
    }

    /// col2im for one kernel tap: input pixel (ix, iy) lands on (ix·sw + kx·dw, iy·sh + ky·dh).
    fn scatter_add(&self, acc: &mut [f32], k: usize, src: &[f32], factor: f32) {
        let (ky, kx) = (k / self.kernel.0, k % self.kernel.0);
        let (sw, sh) = self.spatial.stride;
        let (dw, dh) = self.spatial.dilation;
        for (iy, row) in src.chunks_exact(self.w).take(self.h).enumerate() {
            let start = (iy * sh + ky * dh) * self.bw + kx * dw;
            let line = &mut acc[start..=(start + (self.w - 1) * sw)];
            line.iter_mut().step_by(sw).zip(row).for_each(|(a, &v)| *a += v * factor);
        }
    }
}

struct Deconvolution {
    spatial: Spatial,
    kernel: Kernel,
    activation: Activation,
}

impl Op for Deconvolution {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        if bottoms.len() != 1 {
            return Err(ctx.shape_error(format!("expects 1 input, got {}", bottoms.len())));
        }
        one(self.kernel.forward(&bottoms[0], &self.spatial, self.activation, ctx)?)
    }
}

/// `dynamic_weight=1`: the weight is bottom 1, a blob `[w=kw, h=kh, d=out/group, c=in]` (PyTorch's
/// ConvTranspose order), and the bias, when `bias_term` is set, is bottom 2 flattened.
struct DynamicDeconvolution {
    spatial: Spatial,
    groups: usize,
    bias_term: bool,
    activation: Activation,
}

impl Op for DynamicDeconvolution {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let expected = if self.bias_term { 3 } else { 2 };
        if bottoms.len() != expected {
            return Err(ctx.shape_error(format!(
                "with dynamic_weight=1 and bias_term={} expects {expected} inputs, got {}",
                i32::from(self.bias_term),
                bottoms.len()
            )));
        }
        let (x, wt) = (&bottoms[0], &bottoms[1]);
        let ws = wt.shape;
        if ws.dims < 3 || ws.w == 0 || ws.h == 0 || ws.d == 0 {
            return Err(ctx.shape_error(format!("weight blob {ws} is not [kw, kh, out/group, in]")));
        }
        let inch = x.shape.c;
        if ws.c != inch || !inch.is_multiple_of(self.groups) {
            return Err(
                ctx.shape_error(format!("weight blob {ws} does not fit input {} with group {}", x.shape, self.groups))
            );
        }
        let (in_g, out_g, maxk) = (inch / self.groups, ws.d, ws.w * ws.h);
        let num_output = out_g * self.groups;
        let bias = if self.bias_term {
            let b = bottoms[2].f32();
            if b.len() != num_output {
                return Err(ctx.shape_error(format!("bias blob has {} values, expected {num_output}", b.len())));
            }
            Some(b.to_vec())
        } else {
            None
        };
        // [group][in_g][out_g][k] -> the stored order [group][out_g][in_g][k].
        let src = wt.f32();
        let mut weights = alloc::zeroed(src.len())?;
        for g in 0..self.groups {
            let base = g * in_g * out_g * maxk;
            for o in 0..out_g {
                for c in 0..in_g {
                    let from = base + (c * out_g + o) * maxk;
                    let to = base + (o * in_g + c) * maxk;
                    weights[to..to + maxk].copy_from_slice(&src[from..from + maxk]);
                }
            }
        }
        let kernel = Kernel::new(&weights, (ws.w, ws.h), self.groups, in_g, out_g, bias);
        one(kernel.forward(x, &self.spatial, self.activation, ctx)?)
    }
}

/// Deconvolution is DeconvolutionDepthWise with one group.
pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    build_grouped(layer, false)
}

pub fn build_depthwise(layer: &Layer) -> Result<Box<dyn Op>> {
    build_grouped(layer, true)
}

fn build_grouped(layer: &Layer, has_group: bool) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let spatial = Spatial::from_params(&p)?;
    let activation = Activation::of_layer(&p);
    let groups = if has_group { p.int(7) } else { 1 };
    if groups <= 0 {
        return Err(p.invalid(format!("group must be positive, got {groups}")));
    }
    let groups = groups as usize;
    if p.int(28) != 0 {
        return Ok(Box::new(DynamicDeconvolution { spatial, groups, bias_term: p.int(5) != 0, activation }));
    }
    let (kw, kh, num_output, weight_size) = (p.int(1), p.int(11), p.int(0), p.int(6));
    if kw <= 0 || kh <= 0 {
        return Err(p.invalid(format!("kernel {kw}x{kh} must be positive")));
    }
    if num_output <= 0 || !(num_output as usize).is_multiple_of(groups) {
        return Err(p.invalid(format!("num_output {num_output} is not a positive multiple of group {groups}")));
    }
    let (kw, kh, num_output) = (kw as usize, kh as usize, num_output as usize);
    let out_g = num_output / groups;
    let per_input = kw * kh * out_g;
    if weight_size <= 0 || !(weight_size as usize).is_multiple_of(per_input * groups) {
        return Err(p.invalid(format!(
            "weight_data_size {weight_size} is not a multiple of kernel {kw}x{kh} · num_output {num_output}"
        )));
    }
    let in_g = weight_size as usize / (per_input * groups);
    let weights = p.weight_f32("weight")?;
    let bias = if p.int(5) != 0 { Some(p.weight_f32("bias")?) } else { None };
    if bias.as_ref().is_some_and(|b| b.len() != num_output) {
        return Err(p.invalid("bias length differs from num_output"));
    }
    let kernel = Kernel::new(&weights, (kw, kh), groups, in_g, out_g, bias);
    Ok(Box::new(Deconvolution { spatial, kernel, activation }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct transposed convolution, as the definition reads: every input pixel scatters its
    /// kernel into the full output, which is then cut.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        x: &[f32],
        (w, h, c): (usize, usize, usize),
        wt: &[f32],
        (kw, kh): (usize, usize),
        groups: usize,
        out_g: usize,
        spatial: &Spatial,
        bias: Option<&[f32]>,
    ) -> (Vec<f32>, usize, usize) {
        let in_g = c / groups;
        let (bw, bh) = spatial.bordered(w, h, (kw, kh));
        let cut = spatial.cut(bw, bh).unwrap();
        let mut full = vec![0.0; groups * out_g * bw * bh];
        for g in 0..groups {
            for o in 0..out_g {
                let oc = g * out_g + o;
                full[oc * bw * bh..(oc + 1) * bw * bh].fill(bias.map_or(0.0, |b| b[oc]));
                for ci in 0..in_g {
                    let ic = g * in_g + ci;
                    for iy in 0..h {
                        for ix in 0..w {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let oy = iy * spatial.stride.1 + ky * spatial.dilation.1;
                                    let ox = ix * spatial.stride.0 + kx * spatial.dilation.0;
                                    let wv = wt[(((oc * in_g) + ci) * kh + ky) * kw + kx];
                                    full[(oc * bh + oy) * bw + ox] += x[(ic * h + iy) * w + ix] * wv;
                                }
                            }
                        }
                    }
                }
            }
        }
        let (ow, oh) = (bw - cut.left - cut.right, bh - cut.top - cut.bottom);
        let mut out = Vec::new();
        for oc in 0..groups * out_g {
            for oy in 0..oh {
                let start = (oc * bh + oy + cut.top) * bw + cut.left;
                out.extend_from_slice(&full[start..start + ow]);
            }
        }
        (out, ow, oh)
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn ctx() -> Context<'static> {
        Context { layer: "deconv", layer_type: "Deconvolution" }
    }

    #[test]
    fn gemm_and_depthwise_paths_match_the_definition() {
        let cases = [
            // (w, h, kernel, stride, dilation, groups, in_g, out_g, pads, output_pad)
            (5, 4, (3, 2), (2, 1), (1, 2), 1, 3, 4, [1, 0, 2, 1], (1, 0)),
            (3, 3, (4, 4), (2, 2), (1, 1), 4, 2, 1, [1, 1, 1, 1], (0, 0)),
            (6, 2, (1, 3), (3, 2), (2, 1), 3, 1, 1, [0, 0, 0, 0], (2, 1)),
            (1, 1, (5, 1), (1, 3), (1, 1), 2, 2, 3, [0, 2, 0, 0], (0, 0)),
        ];
        for (i, &(w, h, kernel, stride, dilation, groups, in_g, out_g, pads, output_pad)) in cases.iter().enumerate() {
            let spatial = Spatial { dilation, stride, pads, output_pad, output_size: (0, 0) };
            let c = groups * in_g;
            let x = values(w * h * c, i as u32);
            let wt = values(groups * out_g * in_g * kernel.0 * kernel.1, 100 + i as u32);
            let bias = values(groups * out_g, 200 + i as u32);
            let kernel_op = Kernel::new(&wt, kernel, groups, in_g, out_g, Some(bias.clone()));
            let got = kernel_op
                .forward(&Tensor::new(Shape::d3(w, h, c), x.clone()), &spatial, Activation::Identity, &ctx())
                .unwrap();
            let (want, ow, oh) = naive(&x, (w, h, c), &wt, kernel, groups, out_g, &spatial, Some(&bias));
            assert_eq!(got.shape, Shape::d3(ow, oh, groups * out_g), "case {i}");
            for (a, b) in got.f32().iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "case {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn output_size_cuts_follow_same_upper_and_lower() {
        let base = Spatial { dilation: (1, 1), stride: (2, 2), pads: [0; 4], output_pad: (0, 0), output_size: (6, 5) };
        let upper = Spatial { pads: [SAME_UPPER; 4], ..base };
        let lower = Spatial { pads: [SAME_LOWER; 4], ..base };
        assert_eq!(upper.cut(9, 8).unwrap(), Cut { left: 1, right: 2, top: 1, bottom: 2 });
        assert_eq!(lower.cut(9, 8).unwrap(), Cut { left: 2, right: 1, top: 2, bottom: 1 });
        assert!(base.cut(9, 8).is_err(), "output_w without -233/-234 fails in ncnn");
        assert!(Spatial { output_size: (10, 5), ..upper }.cut(9, 8).is_err());
        let no_size = Spatial { output_size: (0, 0), ..upper };
        assert_eq!(no_size.cut(9, 8).unwrap(), Cut { left: 0, right: 0, top: 0, bottom: 0 });
        let too_much = Spatial { pads: [2, 2, 0, 0], ..base };
        assert!(too_much.cut(4, 4).is_err());
    }
}
