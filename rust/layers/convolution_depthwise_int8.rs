//! int8 ConvolutionDepthWise (runtime-int8.md §3; `convolution_depthwise::build` sends
//! `int8_scale_term` ≠ 0 here): 1/101 store one weight scale per group, 2/102 a single one; >100
//! requantizes the output. With group = channels = `num_output` it is a depthwise convolution (its
//! own kernel); otherwise each group is an int8 convolution with the group's weight scale on all
//! its outputs.

use super::convolution_int8::{ConvInt8, ConvParams};
use super::{int8, one, single, Chain, Context, Op, Params};
use crate::base::{Activation, Geometry, Shape, Tensor};
use crate::error::{Error, Result};
use crate::kernels::dispatch::{self, I8Path};
use crate::kernels::dw_i8::{self, DwSource, PadSpec};
use crate::kernels::gemm_i8::{self, Epilogue, Out};
use crate::model::Layer;
use std::borrow::Cow;
use std::sync::Arc;

struct Depthwise {
    geometry: Geometry,
    channels: usize,
    path: I8Path,
    /// channels × kh·kw
    weights: Vec<i8>,
    s_in: f32,
    scale: Vec<f32>,
    bias: Option<Vec<f32>>,
    activation: Activation,
    requant: Option<f32>,
    pad_value: i8,
    /// Whether ncnn's x86 kernel for this shape adds the bias with an FMA (see `build`).
    fused: bool,
}

impl Depthwise {
    fn output_shape(&self, s: Shape, ctx: &Context) -> Result<Shape> {
        Ok(self.geometry.conv_output(s, self.channels, self.channels, ctx)?.0)
    }

    fn run(&self, x: &Tensor, ctx: &Context) -> Result<Tensor> {
        let shape = self.output_shape(x.shape, ctx)?;
        let (input, src) = self.input(x, shape)?;
        let src = DwSource { data: &input, ..src };
        // SAFETY: `depthwise` writes every output element.
        unsafe { int8::output(shape, self.requant.is_some(), |out| self.kernel(&src, out)) }
    }

    /// See [`ConvInt8::top_shape`].
    fn top_shape(&self, x: &Tensor, ctx: &Context) -> Option<Shape> {
        (self.requant.is_none() && x.shape.dims == 3).then(|| self.output_shape(x.shape, ctx).ok())?
    }

    /// See [`ConvInt8::run_into`].
    fn run_into(&self, x: &Tensor, ctx: &Context, out: &mut [f32]) -> Result<()> {
        let shape = self.output_shape(x.shape, ctx)?;
        assert!(self.requant.is_none(), "a requantized output is int8");
        assert_eq!(out.len(), shape.len(), "the output buffer fits the output shape");
        let (input, src) = self.input(x, shape)?;
        self.kernel(&DwSource { data: &input, ..src }, Out::F32(out));
        Ok(())
    }

    /// The input as the kernel reads it (quantized; padded here unless the kernel pads each
    /// channel itself) and its geometry for the `top` output (`data` left empty).
    fn input<'a>(&self, x: &'a Tensor, top: Shape) -> Result<(Cow<'a, [i8]>, DwSource<'static>)> {
        let geo = &self.geometry;
        let (w, h) = (x.shape.w, x.shape.h);
        let (_, _, pad) = geo.output_size(w, h).expect("the caller checked that the kernel fits");
        let (pw, ph) = (w + pad.left + pad.right, h + pad.top + pad.bottom);
        let mut src = DwSource {
            data: &[],
            pad: None,
            pw,
            ph,
            channels: self.channels,
            kernel: geo.kernel,
            dilation: geo.dilation,
            stride: geo.stride,
            ow: top.w,
            oh: top.h,
        };
        if (pw, ph) != (w, h) {
            let unpadded = PadSpec { w, h, left: pad.left, top: pad.top, value: self.pad_value };
            if dw_i8::pads_itself(self.path, &DwSource { pad: Some(unpadded), ..src }) {
                src.pad = Some(unpadded);
                let (q, _, _) =
                    gemm_i8::quantize_pad(self.path, int8::activations(x), self.s_in, (x.shape.c, h, w), [0; 4], 0)?;
                return Ok((q, src));
            }
        }
        let (padded, _, _) = int8::padded_input(self.path, geo, x, self.s_in, self.pad_value)?;
        Ok((padded, src))
    }

    /// The kernel over `src` into all of `out`, the `top` output.
    fn kernel(&self, src: &DwSource, out: Out) {
        let ep = Epilogue {
            scale: &self.scale,
            bias: self.bias.as_deref(),
            activation: self.activation,
            requant: self.requant,
            fused: self.fused,
        };
        dw_i8::depthwise(self.path, src, &self.weights, &ep, out);
    }
}

/// Whether ncnn's x86 depthwise int8 kernel for this shape computes `acc·scale + bias` with one
/// FMA. Measured against ncnn: its unpacked 3×3 stride 1/2 kernels fuse; the packed ones
/// (channels % 8 == 0) and all other shapes multiply, then add.
pub(crate) fn depthwise_fuses_bias(geometry: &Geometry, channels: usize) -> bool {
    !channels.is_multiple_of(8)
        && geometry.kernel == (3, 3)
        && geometry.dilation == (1, 1)
        && matches!(geometry.stride, (1, 1) | (2, 2))
}

/// The depthwise form of ConvolutionDepthWise: one channel per group, in and out.
pub(crate) fn is_depthwise(num_output: usize, group: usize, inch: usize) -> bool {
    group == num_output && inch == group
}

enum Form {
    Depthwise(Depthwise),
    Grouped(ConvInt8),
}

struct ConvolutionDepthWise(Form);

impl Op for ConvolutionDepthWise {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        match &self.0 {
            Form::Depthwise(d) => one(d.run(&x, ctx)?),
            Form::Grouped(g) => one(g.run(&x, ctx)?),
        }
    }

    fn accepts_int8(&self) -> bool {
        true
    }

    fn top_channels(&self) -> Option<usize> {
        match &self.0 {
            Form::Depthwise(d) => d.requant.is_none().then_some(d.channels),
            Form::Grouped(g) => g.top_channels(),
        }
    }

    fn top_shape(&self, bottoms: &[Arc<Tensor>], ctx: &Context) -> Option<Shape> {
        let [x] = bottoms else { return None };
        match &self.0 {
            Form::Depthwise(d) => d.top_shape(x, ctx),
            Form::Grouped(g) => g.top_shape(x, ctx),
        }
    }

    fn forward_into(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, out: &mut [f32]) -> Result<()> {
        let x = single(bottoms, ctx)?;
        match &self.0 {
            Form::Depthwise(d) => d.run_into(&x, ctx, out),
            Form::Grouped(g) => g.run_into(&x, ctx, None, Out::F32(out)),
        }
    }

    fn chain(&self) -> Chain {
        match &self.0 {
            // The depthwise kernel reads its input as the grouped convolution does; it has no
            // chained output (none of the chained models writes one).
            Form::Depthwise(d) => Chain::Conv { input: d.s_in, requantizes: false },
            Form::Grouped(g) => g.chain(),
        }
    }

    fn forward_chained(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, s: f32) -> Result<Vec<Arc<Tensor>>> {
        match &self.0 {
            Form::Depthwise(_) => Err(Error::layer(ctx.layer, ctx.layer_type, "no int8 chain output")),
            Form::Grouped(g) => one(g.run_requantized(&*single(bottoms, ctx)?, ctx, s)?),
        }
    }

    fn forward_into_i8(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, s: f32, out: &mut [i8]) -> Result<()> {
        match &self.0 {
            Form::Depthwise(_) => Err(Error::layer(ctx.layer, ctx.layer_type, "no int8 chain output")),
            Form::Grouped(g) => g.run_into(&*single(bottoms, ctx)?, ctx, Some(s), Out::I8(out)),
        }
    }
}

/// ConvolutionDepthWise with `int8_scale_term` ≠ 0.
pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(19) != 0 {
        return Err(super::unsupported(layer, "int8 with dynamic_weight=1"));
    }
    let flag = p.int(8);
    if ![1, 2, 101, 102].contains(&flag) {
        return Err(super::unsupported(
            layer,
            &format!("int8_scale_term={flag} (ncnn reads scales only for 1, 2, 101, 102)"),
        ));
    }
    let geometry = Geometry::read(&p, false)?;
    let (num_output, group) = (p.int(0), p.int(7));
    if num_output <= 0 || group <= 0 || num_output % group != 0 {
        return Err(p.invalid(format!("num_output {num_output} is not a positive multiple of group {group}")));
    }
    let (num_output, group) = (num_output as usize, group as usize);
    let maxk = geometry.kernel.0 * geometry.kernel.1;
    let weight_size = p.int(6).max(0) as usize;
    if weight_size == 0 || !weight_size.is_multiple_of(maxk * num_output) {
        return Err(p.invalid(format!(
            "weight_data_size {weight_size} is not a multiple of kernel size × num_output ({maxk} × {num_output})"
        )));
    }
    let inch = weight_size / (maxk * num_output) * group;
    // The loader broadcasts a single weight scale to every group (flags 2/102).
    let group_scales = if flag % 100 == 1 {
        int8::array(&p, "weight_int8_scales", group)?
    } else {
        vec![int8::scalar(&p, "weight_int8_scale")?; group]
    };
    let weights = int8::weights(&p, group, &group_scales)?;
    let s_in = int8::scalar(&p, "bottom_int8_scale")?;
    let bias = if p.int(5) != 0 { Some(int8::array(&p, "bias", num_output)?) } else { None };
    let activation = Activation::of_layer(&p);
    let requant = int8::top_scale(&p, flag)?;
    if is_depthwise(num_output, group, inch) {
        return Ok(Box::new(ConvolutionDepthWise(Form::Depthwise(Depthwise {
            geometry,
            channels: group,
            path: dispatch::I8.selected(),
            weights,
            s_in,
            scale: dw_i8::descale_factors(s_in, &group_scales, group),
            bias,
            activation,
            requant,
            pad_value: int8::pad_byte(geometry.pad_value),
            fused: depthwise_fuses_bias(&geometry, group),
        }))));
    }
    let out_g = num_output / group;
    let s_w = (0..num_output).map(|o| group_scales[o / out_g]).collect();
    Ok(Box::new(ConvolutionDepthWise(Form::Grouped(ConvInt8::new(ConvParams {
        geometry,
        num_output,
        inch,
        group,
        weights,
        s_in,
        s_w,
        bias,
        activation,
        requant,
    })))))
}
