//! int8 Convolution (`int8_scale_term` 1/2: float output, 101/102: requantized int8 output) and the
//! grouped form ConvolutionDepthWise uses (runtime-int8.md §2, §3). The input is quantized with
//! the layer's single input scale (or taken as is when it arrives as int8), padded in the int8
//! domain, multiplied by the int8 GEMM per group, and finished by the kernel's epilogue.

use super::{int8, one, single, Chain, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Activation, Geometry, Shape, Tensor};
use crate::error::Result;
use crate::kernels::dispatch::{self, I8Path};
use crate::kernels::gemm_i8::{self, ConvSource, Epilogue, Out, PackedA};
use crate::model::Layer;
use std::borrow::Cow;
use std::sync::Arc;

/// ncnn's x86 int8 convolutions (and the grouped ConvolutionDepthWise) de-scale and add the bias
/// with one FMA.
pub(crate) const FUSES_BIAS: bool = true;

/// A (grouped) int8 convolution, ready to run.
pub(crate) struct ConvInt8 {
    pub geometry: Geometry,
    pub num_output: usize,
    /// Input channels (all groups).
    pub inch: usize,
    pub group: usize,
    path: I8Path,
    /// Per group: `out_g` × (`in_g·kh·kw`).
    packed: Vec<PackedA>,
    s_in: f32,
    /// `1/(s_in·s_w)` per output channel.
    scale: Vec<f32>,
    bias: Option<Vec<f32>>,
    activation: Activation,
    requant: Option<f32>,
    pad_value: i8,
}

/// What the builders read from a Convolution-like layer.
pub(crate) struct ConvParams {
    pub geometry: Geometry,
    pub num_output: usize,
    pub inch: usize,
    pub group: usize,
    /// int8 weights `[group][out_g][in_g][kh][kw]`.
    pub weights: Vec<i8>,
    pub s_in: f32,
    /// Weight scale per output channel.
    pub s_w: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub activation: Activation,
    pub requant: Option<f32>,
}

/// A convolution's input as its GEMM reads it ([`ConvInt8::input`]).
enum Input<'a> {
    /// Float values the GEMM quantizes as it packs them.
    Float(&'a [f32]),
    /// Quantized planes padded to (width, height).
    Padded(Cow<'a, [i8]>, usize, usize),
}

impl ConvInt8 {
    pub fn new(c: ConvParams) -> ConvInt8 {
        let path = dispatch::I8.selected();
        let (kw, kh) = c.geometry.kernel;
        let (out_g, in_g) = (c.num_output / c.group, c.inch / c.group);
        let k = in_g * kw * kh;
        let packed = (0..c.group)
            .map(|g| PackedA::new(path, &c.weights[g * out_g * k..(g + 1) * out_g * k], out_g, k))
            .collect();
        ConvInt8 {
            geometry: c.geometry,
            num_output: c.num_output,
            inch: c.inch,
            group: c.group,
            path,
            packed,
            s_in: c.s_in,
            scale: int8::descale(c.s_in, &c.s_w),
            bias: c.bias,
            activation: c.activation,
            requant: c.requant,
            pad_value: int8::pad_byte(c.geometry.pad_value),
        }
    }

    /// The epilogue from output row `from` on, requantizing with `requant` (the layer's own, or an
    /// int8 chain's reader scale).
    fn epilogue(&self, from: usize, requant: Option<f32>) -> Epilogue<'_> {
        Epilogue {
            scale: &self.scale[from..],
            bias: self.bias.as_deref().map(|b| &b[from..]),
            activation: self.activation,
            requant,
            fused: FUSES_BIAS,
        }
    }

    /// The output tensor (int8 when requantizing), every value written by `fill`.
    fn output(shape: Shape, requant: Option<f32>, fill: impl FnOnce(Out)) -> Result<Tensor> {
        // SAFETY: every caller's `fill` runs the GEMM over all output rows.
        unsafe { int8::output(shape, requant.is_some(), fill) }
    }

    pub fn run(&self, x: &Tensor, ctx: &Context) -> Result<Tensor> {
        self.run_as(x, ctx, self.requant)
    }

    /// The output requantized with `s` where the layer itself de-scales (an int8 chain's reader
    /// scale): `q(y·s)` of the very float `y` [`ConvInt8::run`] gives, so a reader quantizing with
    /// `s` would get the same bytes.
    pub fn run_requantized(&self, x: &Tensor, ctx: &Context, s: f32) -> Result<Tensor> {
        assert!(self.requant.is_none(), "the layer requantizes with its own scale");
        self.run_as(x, ctx, Some(s))
    }

    fn run_as(&self, x: &Tensor, ctx: &Context, requant: Option<f32>) -> Result<Tensor> {
        let s = x.shape;
        let k = self.packed[0].k;
        if s.dims == 1 && self.group == 1 && self.geometry.kernel == (1, 1) && s.w == k {
            // A flat blob through a 1×1 kernel is an inner product (ncnn runs it as one).
            let q = quantized_vector(self.path, x, self.s_in)?;
            let src = ConvSource::dense(&q, k, 1);
            return Self::output(Shape::d1(self.num_output), requant, |out| {
                gemm_i8::conv_gemm(&self.packed[0], &src, &self.epilogue(0, requant), out);
            });
        }
        let shape = self.output_shape(s, ctx)?;
        let input = self.input(x, shape)?;
        Self::output(shape, requant, |out| self.convolve(&input, shape, requant, out))
    }

    /// `x` as this layer's GEMM reads it for output `top`: the float values themselves where the
    /// GEMM quantizes as it packs ([`ConvInt8::quantizes_in_gemm`]), else quantized and padded.
    fn input<'a>(&self, x: &'a Tensor, top: Shape) -> Result<Input<'a>> {
        if let Some(v) = self.quantizes_in_gemm(x, top) {
            return Ok(Input::Float(v));
        }
        let (padded, pw, ph) = int8::padded_input(self.path, &self.geometry, x, self.s_in, self.pad_value)?;
        Ok(Input::Padded(padded, pw, ph))
    }

    /// The convolution of `input` into all of `out`, the `top` output.
    fn convolve(&self, input: &Input, top: Shape, requant: Option<f32>, out: Out) {
        match input {
            Input::Float(v) => {
                let ep = self.epilogue(0, requant);
                gemm_i8::conv_gemm_quantizing(&self.packed[0], v, self.s_in, top.w * top.h, &ep, out);
            }
            Input::Padded(padded, pw, ph) => self.gemm(padded, (*pw, *ph), top, requant, out),
        }
    }

    /// The float input of a 1×1 convolution (stride 1, unpadded, one group) whose GEMM quantizes
    /// it as it packs ([`gemm_i8::conv_gemm_quantizing`]: a small map on several threads, where
    /// that saves a parallel loop), for output `top`.
    fn quantizes_in_gemm<'a>(&self, x: &'a Tensor, top: Shape) -> Option<&'a [f32]> {
        let geo = &self.geometry;
        let plain = self.group == 1 && geo.kernel == (1, 1) && geo.stride == (1, 1) && x.shape.dims == 3;
        let unpadded =
            plain && geo.output_size(x.shape.w, x.shape.h).is_some_and(|(w, h, _)| (w, h) == (x.shape.w, x.shape.h));
        let n = top.w * top.h;
        match int8::activations(x) {
            gemm_i8::Activations::F32(v)
                if unpadded && v.len() == self.inch * n && gemm_i8::quantizes_in_gemm(&self.packed[0], n) =>
            {
                Some(v)
            }
            _ => None,
        }
    }

    /// The output for a 1-D to 3-D input (the flat 1×1 case aside: [`ConvInt8::run`]).
    fn output_shape(&self, s: Shape, ctx: &Context) -> Result<Shape> {
        Ok(self.geometry.conv_output(s, self.inch, self.num_output, ctx)?.0)
    }

    /// The output channels when this layer can write into a larger float buffer
    /// ([`ConvInt8::run_into`]): it de-scales. A requantized (int8) output cannot join a Concat:
    /// ncnn's Concat would read its bytes as floats, and the executor refuses it.
    pub fn top_channels(&self) -> Option<usize> {
        self.requant.is_none().then_some(self.num_output)
    }

    /// What this layer is to an int8 chain: it reads at `s_in`, and writes int8 at a reader's scale
    /// where it de-scales.
    pub fn chain(&self) -> Chain {
        Chain::Conv { input: self.s_in, requantizes: self.requant.is_none() }
    }

    /// The 3-D top [`ConvInt8::run_into`] writes for `x`: a float one (this layer de-scales, it
    /// does not requantize) from a 3-D input. None otherwise.
    pub fn top_shape(&self, x: &Tensor, ctx: &Context) -> Option<Shape> {
        (self.requant.is_none() && x.shape.dims == 3).then(|| self.output_shape(x.shape, ctx).ok())?
    }

    /// The de-scaled output for `x` written into `out` (its [`ConvInt8::top_shape`]'s length), every
    /// value written: the whole output or one part of a larger buffer (a Concat's output). An int8
    /// `out` gets the output requantized with `requant` (see [`ConvInt8::run_requantized`]).
    pub fn run_into(&self, x: &Tensor, ctx: &Context, requant: Option<f32>, out: Out) -> Result<()> {
        let shape = self.output_shape(x.shape, ctx)?;
        assert!(self.requant.is_none(), "a requantized output cannot join a Concat");
        assert_eq!(requant.is_some(), matches!(out, Out::I8(_)), "int8 output with its scale");
        assert_eq!(out.len(), shape.len(), "the output buffer fits the output shape");
        let input = self.input(x, shape)?;
        self.convolve(&input, shape, requant, out);
        Ok(())
    }

    /// Every group's GEMM over `padded` (the input padded to `pw × ph`), into all of `view`, the
    /// `top` output (requantized with `requant` where given).
    fn gemm(&self, padded: &[i8], (pw, ph): (usize, usize), top: Shape, requant: Option<f32>, mut view: Out) {
        let geo = &self.geometry;
        let (ow, oh) = (top.w, top.h);
        let (out_g, in_g) = (self.num_output / self.group, self.inch / self.group);
        let n = ow * oh;
        for (g, a) in self.packed.iter().enumerate() {
            let src = ConvSource {
                data: padded,
                pw,
                ph,
                c0: g * in_g,
                channels: in_g,
                kernel: geo.kernel,
                dilation: geo.dilation,
                stride: geo.stride,
                ow,
                oh,
            };
            let rows = g * out_g * n..(g + 1) * out_g * n;
            let part = match &mut view {
                Out::F32(v) => Out::F32(&mut v[rows]),
                Out::I8(v) => Out::I8(&mut v[rows]),
            };
            gemm_i8::conv_gemm(a, &src, &self.epilogue(g * out_g, requant), part);
        }
    }
}

/// A whole tensor quantized (or taken as is) into one int8 vector.
pub(crate) fn quantized_vector(path: I8Path, x: &Tensor, s_in: f32) -> Result<Vec<i8>> {
    match int8::activations(x) {
        // SAFETY: quantize writes one value per input value.
        gemm_i8::Activations::F32(v) => unsafe {
            alloc::overwritten::<i8>(v.len(), |q| gemm_i8::quantize(path, v, s_in, q))
        },
        gemm_i8::Activations::I8(v) => alloc::copy(v),
    }
}

struct Convolution(ConvInt8);

impl Op for Convolution {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        one(self.0.run(&x, ctx)?)
    }

    fn accepts_int8(&self) -> bool {
        true
    }

    fn top_channels(&self) -> Option<usize> {
        self.0.top_channels()
    }

    fn top_shape(&self, bottoms: &[Arc<Tensor>], ctx: &Context) -> Option<Shape> {
        match bottoms {
            [x] => self.0.top_shape(x, ctx),
            _ => None,
        }
    }

    fn forward_into(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, out: &mut [f32]) -> Result<()> {
        self.0.run_into(&*single(bottoms, ctx)?, ctx, None, Out::F32(out))
    }

    fn chain(&self) -> Chain {
        self.0.chain()
    }

    fn forward_chained(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, s: f32) -> Result<Vec<Arc<Tensor>>> {
        one(self.0.run_requantized(&*single(bottoms, ctx)?, ctx, s)?)
    }

    fn forward_into_i8(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, s: f32, out: &mut [i8]) -> Result<()> {
        self.0.run_into(&*single(bottoms, ctx)?, ctx, Some(s), Out::I8(out))
    }
}

/// Convolution with `int8_scale_term` ≠ 0.
pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(19) != 0 {
        return Err(super::unsupported(layer, "int8 with dynamic_weight=1"));
    }
    let flag = p.int(8);
    let geometry = Geometry::read(&p, false)?;
    let num_output = p.int(0);
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
    let s_w = int8::array(&p, "weight_int8_scales", num_output)?;
    let weights = int8::weights(&p, num_output, &s_w)?;
    let bias = if p.int(5) != 0 { Some(int8::array(&p, "bias", num_output)?) } else { None };
    Ok(Box::new(Convolution(ConvInt8::new(ConvParams {
        geometry,
        num_output,
        inch: k / maxk,
        group: 1,
        weights,
        s_in: int8::scalar(&p, "bottom_int8_scale")?,
        s_w,
        bias,
        activation: Activation::of_layer(&p),
        requant: int8::top_scale(&p, flag)?,
    }))))
}
