//! ConvolutionDepthWise: ncnn's grouped convolution. With group = channels = `num_output` it is a
//! depthwise convolution (its own SIMD kernels); any other group count runs one GEMM per group.
//! Same geometry, padding, bias, activation and `dynamic_weight` forms as Convolution.

use super::convolution::{ConvCore, ConvWeights};
use super::{one, single, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Activation, Geometry, Shape, Tensor};
use crate::error::Result;
use crate::kernels::conv_depthwise::{self, Plane, Source};
use crate::kernels::dispatch::{self, F32Path};
use crate::model::Layer;
use std::sync::Arc;

enum Weights {
    /// Per channel kh·kw.
    Depthwise {
        weights: Vec<f32>,
        isa: F32Path,
    },
    Grouped(ConvWeights),
    /// From the second input at run time.
    Dynamic,
}

struct ConvolutionDepthWise {
    core: ConvCore,
    weights: Weights,
    bias_term: bool,
}

fn is_depthwise(core: &ConvCore) -> bool {
    core.group == core.num_output && core.inch == core.group
}

/// Depthwise convolution of x with per-channel kernels: into x's own planes where x is this
/// layer's alone and the output has its shape ([`conv_depthwise::depthwise_in_place`]: x is in
/// cache, a new blob is not), else into a new blob.
fn run_depthwise(core: &ConvCore, isa: F32Path, weights: &[f32], x: Arc<Tensor>, ctx: &Context) -> Result<Tensor> {
    let s = x.shape;
    let geo = &core.geometry;
    let (Shape { w: ow, h: oh, .. }, pad) = geo.conv_output(s, core.inch, core.inch, ctx)?;
    let (pw, ph) = (s.w + pad.left + pad.right, s.h + pad.top + pad.bottom);
    let plane = Plane { pw, ph, ow, oh, kernel: geo.kernel, dilation: geo.dilation, stride: geo.stride };
    let fits = conv_depthwise::in_place_fits(isa, &plane, s.w, s.h, pad)
        && core.num_output == s.c
        && !x.is_i8()
        && x.f32().len() == s.w * s.h * s.c;
    let x = if fits {
        match Arc::try_unwrap(x) {
            Ok(mut t) => {
                let bias = core.bias.as_deref();
                let (w, h, c) = (s.w, s.h, s.c);
                conv_depthwise::depthwise_in_place(
                    isa,
                    &plane,
                    c,
                    (w, h, geo.pad_value),
                    t.f32_mut(),
                    weights,
                    bias,
                    core.activation,
                )?;
                return Ok(Tensor::new(Shape::d3(w, h, c), t.into_f32()));
            }
            Err(shared) => shared,
        }
    } else {
        x
    };
    let src = Source { data: x.f32(), w: s.w, h: s.h, pad, pad_value: geo.pad_value };
    let mut done = Ok(());
    // SAFETY: the kernel writes every channel; on its error the output is dropped unread.
    let out = unsafe {
        alloc::overwritten(alloc::count(&[ow, oh, core.num_output])?, |out| {
            done =
                conv_depthwise::depthwise(isa, &plane, s.c, &src, weights, core.bias.as_deref(), core.activation, out);
        })
    }?;
    done?;
    Ok(Tensor::new(Shape::d3(ow, oh, core.num_output), out))
}

impl Op for ConvolutionDepthWise {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        if matches!(self.weights, Weights::Dynamic) {
            return one(self.forward_dynamic(&bottoms, ctx)?);
        }
        let x = single(bottoms, ctx)?;
        match &self.weights {
            Weights::Depthwise { weights, isa } => one(run_depthwise(&self.core, *isa, weights, x, ctx)?),
            Weights::Grouped(w) => one(self.core.run(w, &x, ctx)?),
            Weights::Dynamic => unreachable!("handled above"),
        }
    }
}

impl ConvolutionDepthWise {
    fn forward_dynamic(&self, bottoms: &[Arc<Tensor>], ctx: &Context) -> Result<Tensor> {
        let want = if self.bias_term { 3 } else { 2 };
        if bottoms.len() != want {
            return Err(ctx.shape_error(format!("dynamic_weight=1 expects {want} inputs, got {}", bottoms.len())));
        }
        let ws = bottoms[1].shape;
        let outch = ws.c;
        let group = self.core.group;
        if outch == 0 || !outch.is_multiple_of(group) || ws.w == 0 || ws.h == 0 || !ws.len().is_multiple_of(outch) {
            return Err(ctx.shape_error(format!("weight blob {ws} is not [w=kw, h=kh, d=inch/group, c=outch]")));
        }
        let mut core = self.core.clone();
        core.geometry.kernel = (ws.w, ws.h);
        core.num_output = outch;
        core.inch = ws.len() / outch / (ws.w * ws.h) * group;
        core.bias = None;
        if self.bias_term {
            let b = bottoms[2].f32();
            if b.len() != outch {
                return Err(ctx.shape_error(format!("bias blob has {} values for {outch} outputs", b.len())));
            }
            core.bias = Some(b.to_vec());
        }
        let w = bottoms[1].f32();
        if is_depthwise(&core) {
            run_depthwise(&core, dispatch::F32.selected(), w, Arc::clone(&bottoms[0]), ctx)
        } else {
            core.run(&core.prepare(w, false), &bottoms[0], ctx)
        }
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(8) != 0 {
        return super::convolution_depthwise_int8::build(layer);
    }
    let dynamic = p.int(19) != 0;
    let geometry = Geometry::read(&p, dynamic)?;
    let (num_output, group) = (p.int(0), p.int(7));
    if num_output <= 0 || group <= 0 || num_output % group != 0 {
        return Err(p.invalid(format!("num_output {num_output} is not a positive multiple of group {group}")));
    }
    let (num_output, group) = (num_output as usize, group as usize);
    let bias_term = p.int(5) != 0;
    let activation = Activation::of_layer(&p);
    let mut core = ConvCore { geometry, num_output, inch: 0, group, bias: None, activation };
    if dynamic {
        return Ok(Box::new(ConvolutionDepthWise { core, weights: Weights::Dynamic, bias_term }));
    }
    let maxk = geometry.kernel.0 * geometry.kernel.1;
    let weight_size = p.int(6).max(0) as usize;
    if weight_size == 0 || !weight_size.is_multiple_of(maxk * num_output) {
        return Err(p.invalid(format!(
            "weight_data_size {weight_size} is not a multiple of kernel size × num_output ({maxk} × {num_output})"
        )));
    }
    core.inch = weight_size / (maxk * num_output) * group;
    if bias_term {
        core.bias = Some(p.weight_f32("bias")?);
    }
    let w = p.weight_f32("weight")?;
    let weights = if is_depthwise(&core) {
        Weights::Depthwise { weights: w, isa: dispatch::F32.selected() }
    } else {
        Weights::Grouped(core.prepare(&w, false))
    };
    Ok(Box::new(ConvolutionDepthWise { core, weights, bias_term }))
}
