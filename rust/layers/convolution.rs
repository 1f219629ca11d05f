//! Convolution: 2-D convolution with dilation, stride, explicit or SAME padding, `pad_value`,
//! optional bias and fused activation; the 1-D input form that ncnn runs as an InnerProduct.
//! Computed by the f32 GEMM kernel with B packed straight from the padded input (implicit
//! im2col), or by Winograd F(6,3) for 3×3 stride-1 kernels. `dynamic_weight=1` takes the weights
//! (w=kw, h=kh, d=inch, c=outch) from the second input and the bias from the third.

use super::{one, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Activation, Geometry, Shape, Tensor};
use crate::error::Result;
use crate::kernels::gemm_f32::im2col::ConvB;
use crate::kernels::gemm_f32::{self, DenseB, Epilogue, PackedA};
use crate::kernels::winograd;
use crate::model::Layer;
use std::sync::Arc;

/// A convolution's weights in the kernels' layouts.
pub(crate) struct ConvWeights {
    /// Per group: `out_g` × (`in_g·kh·kw`).
    packed: Vec<PackedA>,
    /// Transformed 3×3 weights, when Winograd pays for this layer (boxed: one cache per variant).
    winograd: Option<Box<winograd::Weights>>,
}

/// A (grouped) convolution: everything but where the weights come from.
#[derive(Clone)]
pub(crate) struct ConvCore {
    pub geometry: Geometry,
    pub num_output: usize,
    /// Input channels expected (all groups).
    pub inch: usize,
    pub group: usize,
    pub bias: Option<Vec<f32>>,
    pub activation: Activation,
}

impl ConvCore {
    /// Packs weights laid out `[group][out_g][in_g][kh][kw]`.
    pub fn prepare(&self, weights: &[f32], allow_winograd: bool) -> ConvWeights {
        let (kw, kh) = self.geometry.kernel;
        let (out_g, in_g) = (self.num_output / self.group, self.inch / self.group);
        let k = in_g * kw * kh;
        let packed =
            (0..self.group).map(|g| PackedA::new(&weights[g * out_g * k..(g + 1) * out_g * k], out_g, k)).collect();
        let g = &self.geometry;
        let winograd = (allow_winograd
            && self.group == 1
            && g.kernel == (3, 3)
            && g.stride == (1, 1)
            && g.dilation == (1, 1)
            && winograd::pays(self.inch, self.num_output))
        .then(|| Box::new(winograd::Weights::new(weights, self.num_output, self.inch)));
        ConvWeights { packed, winograd }
    }

    fn epilogue(&self) -> Epilogue<'_> {
        Epilogue { bias: self.bias.as_deref(), activation: self.activation }
    }

    /// The output shape for input `s`, or the layer's error for an input it cannot take.
    pub fn output_shape(&self, s: Shape, ctx: &Context) -> Result<Shape> {
        Ok(self.geometry.conv_output(s, self.inch, self.num_output, ctx)?.0)
    }

    pub fn run(&self, weights: &ConvWeights, x: &Tensor, ctx: &Context) -> Result<Tensor> {
        let shape = self.output_shape(x.shape, ctx)?;
        // SAFETY: `run_into` writes every output before anything reads it, or fails and the
        // buffer is dropped unread.
        let mut out = unsafe { alloc::unwritten(alloc::count(&[shape.c, shape.w, shape.h])?)? };
        self.run_into(weights, x, ctx, &mut out)?;
        Ok(Tensor::new(shape, out))
    }

    /// Computes the output for `x` into `out` (its [`ConvCore::output_shape`]'s length), every
    /// value written: the whole output, or one part of a larger buffer (a Concat's output).
    pub fn run_into(&self, weights: &ConvWeights, x: &Tensor, ctx: &Context, out: &mut [f32]) -> Result<()> {
        let shape = self.output_shape(x.shape, ctx)?;
        assert_eq!(out.len(), shape.len(), "the output buffer fits the output shape");
        let s = x.shape;
        let geo = &self.geometry;
        let (ow, oh, pad) = geo.output_size(s.w, s.h).expect("checked by output_shape");
        let (padded, pw, ph) = geo.pad_input(x.f32(), s.w, s.h, s.c, pad)?;
        let n = ow * oh;
        // Winograd and the GEMM write every output (no zeroing pass first).
        if let Some(wino) = weights.winograd.as_ref().filter(|w| winograd::pays_for_size(w, ow, oh)) {
            winograd::conv3x3s1(wino, &padded, pw, ph, out, ow, oh, self.epilogue());
            return Ok(());
        }
        let (out_g, in_g) = (self.num_output / self.group, self.inch / self.group);
        let dense = geo.kernel == (1, 1) && geo.stride == (1, 1) && pw == ow && ph == oh;
        for (g, a) in weights.packed.iter().enumerate() {
            let bias = self.bias.as_deref().map(|b| &b[g * out_g..(g + 1) * out_g]);
            let ep = Epilogue { bias, activation: self.activation };
            let c_out = &mut out[g * out_g * n..(g + 1) * out_g * n];
            if dense {
                let b = DenseB { data: &padded[g * in_g * n..(g + 1) * in_g * n], n };
                gemm_f32::gemm_from(a, &b, n, c_out, n, ep);
            } else {
                let b = ConvB {
                    input: &padded,
                    pw,
                    ph,
                    c0: g * in_g,
                    kernel: geo.kernel,
                    dilation: geo.dilation,
                    stride: geo.stride,
                    ow,
                };
                gemm_f32::gemm_from(a, &b, n, c_out, n, ep);
            }
        }
        Ok(())
    }
}

struct Convolution {
    core: ConvCore,
    /// None with `dynamic_weight=1`.
    weights: Option<ConvWeights>,
    bias_term: bool,
}

impl Op for Convolution {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let Some(weights) = &self.weights else {
            return one(self.forward_dynamic(&bottoms, ctx)?);
        };
        if bottoms.len() != 1 {
            return Err(ctx.shape_error(format!("expects 1 input, got {}", bottoms.len())));
        }
        let x = &bottoms[0];
        let s = x.shape;
        let k = self.core.inch * self.core.geometry.kernel.0 * self.core.geometry.kernel.1;
        if s.dims == 1 && self.core.geometry.kernel == (1, 1) && s.w == k {
            // ncnn runs a 1x1 convolution of a flat blob as an InnerProduct.
            let mut out = alloc::zeroed(self.core.num_output)?;
            gemm_f32::gemm_from(
                &weights.packed[0],
                &DenseB { data: x.f32(), n: 1 },
                1,
                &mut out,
                1,
                self.core.epilogue(),
            );
            return one(Tensor::new(Shape::d1(self.core.num_output), out));
        }
        one(self.core.run(weights, x, ctx)?)
    }

    fn top_channels(&self) -> Option<usize> {
        self.weights.as_ref().map(|_| self.core.num_output)
    }

    fn top_shape(&self, bottoms: &[Arc<Tensor>], ctx: &Context) -> Option<Shape> {
        match (bottoms, &self.weights) {
            ([x], Some(_)) if x.shape.dims == 3 && !x.is_i8() => self.core.output_shape(x.shape, ctx).ok(),
            _ => None,
        }
    }

    fn forward_into(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, out: &mut [f32]) -> Result<()> {
        match (bottoms.as_slice(), &self.weights) {
            ([x], Some(weights)) => self.core.run_into(weights, x, ctx, out),
            _ => Err(ctx.shape_error("writes into a given buffer only with 1 input and its own weights")),
        }
    }
}

impl Convolution {
    fn forward_dynamic(&self, bottoms: &[Arc<Tensor>], ctx: &Context) -> Result<Tensor> {
        let want = if self.bias_term { 3 } else { 2 };
        if bottoms.len() != want {
            return Err(ctx.shape_error(format!(
                "dynamic_weight=1 expects {want} inputs (data, weight{}), got {}",
                if self.bias_term { ", bias" } else { "" },
                bottoms.len()
            )));
        }
        let wt = &bottoms[1];
        let ws = wt.shape;
        let outch = ws.c;
        if outch == 0 || ws.w == 0 || ws.h == 0 || !ws.len().is_multiple_of(outch) {
            return Err(ctx.shape_error(format!("weight blob {ws} is not [w=kw, h=kh, d=inch, c=outch]")));
        }
        let (kw, kh) = (ws.w, ws.h);
        let inch = ws.len() / outch / (kw * kh);
        let mut core = self.core.clone();
        core.geometry.kernel = (kw, kh);
        core.num_output = outch;
        core.inch = inch;
        core.group = 1;
        core.bias = None;
        if self.bias_term {
            let b = bottoms[2].f32();
            if b.len() != outch {
                return Err(ctx.shape_error(format!("bias blob has {} values for {outch} outputs", b.len())));
            }
            core.bias = Some(b.to_vec());
        }
        let weights = core.prepare(wt.f32(), false);
        core.run(&weights, &bottoms[0], ctx)
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(8) != 0 {
        return super::convolution_int8::build(layer);
    }
    let dynamic = p.int(19) != 0;
    let geometry = Geometry::read(&p, dynamic)?;
    let num_output = p.int(0);
    let bias_term = p.int(5) != 0;
    let activation = Activation::of_layer(&p);
    if dynamic {
        let core =
            ConvCore { geometry, num_output: num_output.max(0) as usize, inch: 0, group: 1, bias: None, activation };
        return Ok(Box::new(Convolution { core, weights: None, bias_term }));
    }
    let weight_size = p.int(6);
    if num_output <= 0 || weight_size <= 0 || weight_size % num_output != 0 {
        return Err(p.invalid(format!("weight_data_size {weight_size} is not a multiple of num_output {num_output}")));
    }
    let num_output = num_output as usize;
    let k = weight_size as usize / num_output;
    let maxk = geometry.kernel.0 * geometry.kernel.1;
    if !k.is_multiple_of(maxk) {
        return Err(p.invalid("weight_data_size does not match kernel size"));
    }
    let bias = if bias_term { Some(p.weight_f32("bias")?) } else { None };
    let core = ConvCore { geometry, num_output, inch: k / maxk, group: 1, bias, activation };
    let weights = Some(core.prepare(&p.weight_f32("weight")?, true));
    Ok(Box::new(Convolution { core, weights, bias_term }))
}
