//! Per-channel affine layers: BatchNorm, Scale (weights or a second bottom) and Bias, plus the
//! per-channel view they share with PReLU.
//!
//! ncnn's "channel" depends on the blob's rank: BatchNorm, Scale and PReLU index their arrays by
//! w for a 1-D blob, by row (h) for a 2-D blob and by channel (c) for 3-D and 4-D blobs. Bias
//! always indexes by c, so a 1-D or 2-D blob gets `bias[0]` everywhere.

use super::{one, take, Context, Op, Params, PAR_CHUNK};
use crate::base::parallel;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

/// (channels, elements per channel) of ncnn's per-channel view of a blob (see module docs).
pub fn channel_view(shape: &Shape) -> (usize, usize) {
    match shape.dims {
        1 => (shape.w, 1),
        2 => (shape.h, shape.w),
        _ => (shape.c, shape.channel_len()),
    }
}

/// Calls `f(channel, elements)` for each channel of `data` (channels of `inner` elements).
pub fn for_each_channel(data: &mut [f32], inner: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if data.is_empty() || inner == 0 {
        return;
    }
    parallel::for_each_chunk(data, inner, parallel::min_chunks(inner, PAR_CHUNK), f);
}

/// A per-channel array must cover every channel of the blob; ncnn would read past its end.
fn check_len(ctx: &Context, what: &str, len: usize, channels: usize, shape: &Shape) -> Result<()> {
    if len < channels {
        return Err(ctx.shape_error(format!("{what} has {len} values but the input {shape} has {channels} channels")));
    }
    Ok(())
}

/// y = b·x + a with ncnn's folded coefficients.
struct BatchNorm {
    a: Vec<f32>,
    b: Vec<f32>,
}

impl Op for BatchNorm {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(super::single(bottoms, ctx)?)?;
        let (channels, inner) = channel_view(&t.shape);
        check_len(ctx, "the BatchNorm arrays", self.a.len(), channels, &t.shape)?;
        for_each_channel(t.f32_mut(), inner, |q, ch| {
            let (a, b) = (self.a[q], self.b[q]);
            for x in ch.iter_mut() {
                *x = b * *x + a;
            }
        });
        one(t)
    }
}

pub fn build_batchnorm(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let eps = p.float(1);
    let slope = p.weight_f32("slope")?;
    let mean = p.weight_f32("mean")?;
    let var = p.weight_f32("var")?;
    let bias = p.weight_f32("bias")?;
    let n = slope.len();
    if mean.len() != n || var.len() != n || bias.len() != n {
        return Err(p.invalid("slope, mean, var and bias differ in length"));
    }
    let mut a = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for i in 0..n {
        let mut sqrt_var = (var[i] + eps).sqrt();
        // ncnn's guard against dividing by zero when var + eps is exactly 0.
        if sqrt_var == 0.0 {
            sqrt_var = 0.0001;
        }
        a.push(bias[i] - slope[i] * mean[i] / sqrt_var);
        b.push(slope[i] / sqrt_var);
    }
    Ok(Box::new(BatchNorm { a, b }))
}

/// y = x·scale (+ bias), scale from the weights or from a second bottom (`scale_data_size` −233).
struct Scale {
    scale: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
}

impl Scale {
    fn apply(&self, t: &mut Tensor, scale: &[f32], ctx: &Context) -> Result<()> {
        let (channels, inner) = channel_view(&t.shape);
        check_len(ctx, "the scale", scale.len(), channels, &t.shape)?;
        match &self.bias {
            Some(bias) => {
                check_len(ctx, "the bias", bias.len(), channels, &t.shape)?;
                for_each_channel(t.f32_mut(), inner, |q, ch| {
                    let (s, b) = (scale[q], bias[q]);
                    for x in ch.iter_mut() {
                        *x = *x * s + b;
                    }
                });
            }
            None => for_each_channel(t.f32_mut(), inner, |q, ch| {
                let s = scale[q];
                for x in ch.iter_mut() {
                    *x *= s;
                }
            }),
        }
        Ok(())
    }
}

impl Op for Scale {
    fn forward(&self, mut bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let want = if self.scale.is_some() { 1 } else { 2 };
        if bottoms.len() != want {
            return Err(ctx.shape_error(format!("expects {want} input(s), got {}", bottoms.len())));
        }
        if let Some(scale) = &self.scale {
            let mut t = take(bottoms.pop().expect("one bottom"))?;
            self.apply(&mut t, scale, ctx)?;
            one(t)
        } else {
            let scale_blob = bottoms.pop().expect("two bottoms");
            // ncnn reads the scale blob as flat memory; a blob of several channels has
            // padding between them (cstep) that ncnn would read as scales.
            if scale_blob.shape.dims >= 3 && scale_blob.shape.c > 1 {
                return Err(ctx.shape_error(format!(
                    "the scale input {} has several channels; ncnn reads it flat, padding included \
                     (give a 1-D scale)",
                    scale_blob.shape
                )));
            }
            let mut t = take(bottoms.pop().expect("two bottoms"))?;
            self.apply(&mut t, scale_blob.f32(), ctx)?;
            one(t)
        }
    }
}

pub fn build_scale(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let size = p.int(0);
    let bias_term = p.int(1) != 0;
    if size == -233 {
        if bias_term {
            // ncnn reads a bias of size −233 here and crashes at run time.
            return Err(p.invalid("bias_term=1 needs scale_data_size >= 0; the two-input form has no bias"));
        }
        return Ok(Box::new(Scale { scale: None, bias: None }));
    }
    let scale = p.weight_f32("scale")?;
    let bias = if bias_term { Some(p.weight_f32("bias")?) } else { None };
    Ok(Box::new(Scale { scale: Some(scale), bias }))
}

/// y = x + bias[c], per channel c whatever the rank.
struct Bias(Vec<f32>);

impl Op for Bias {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(super::single(bottoms, ctx)?)?;
        let (channels, inner) = (t.shape.c, t.shape.channel_len());
        check_len(ctx, "the bias", self.0.len(), channels, &t.shape)?;
        for_each_channel(t.f32_mut(), inner, |q, ch| {
            let b = self.0[q];
            for x in ch.iter_mut() {
                *x += b;
            }
        });
        one(t)
    }
}

pub fn build_bias(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(Bias(p.weight_f32("bias")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_view_follows_ncnn_per_rank() {
        assert_eq!(channel_view(&Shape::d1(7)), (7, 1));
        assert_eq!(channel_view(&Shape::d2(5, 3)), (3, 5));
        assert_eq!(channel_view(&Shape::d3(5, 3, 2)), (2, 15));
        assert_eq!(channel_view(&Shape::d4(5, 3, 4, 2)), (2, 60));
    }

    #[test]
    fn for_each_channel_visits_every_channel_once() {
        let inner = 3;
        let channels = 40_000; // more than one parallel task
        let mut data = vec![0.0f32; inner * channels];
        for_each_channel(&mut data, inner, |q, ch| ch.iter_mut().for_each(|x| *x += q as f32));
        for (i, v) in data.iter().enumerate() {
            assert_eq!(*v, (i / inner) as f32);
        }
    }
}
