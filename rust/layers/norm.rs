//! Normalizations with learned affine parameters: LayerNorm, RMSNorm, GroupNorm, InstanceNorm.
//!
//! Statistics are two-pass (mean, then squared deviations) like ncnn, so large offsets do not
//! cancel catastrophically.

use super::{one, single, take, Context, Op, Params};
use crate::base::parallel;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

fn mean_var(x: &[f32]) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, var)
}

/// The length of the contiguous runs LayerNorm/RMSNorm normalize: the innermost axes whose
/// extents multiply to `affine_size` (ncnn's x86 kernels; the whole channel otherwise).
fn norm_span(s: &Shape, affine_size: usize) -> usize {
    match s.dims {
        1 | 2 => s.w,
        3 if affine_size == s.w => s.w,
        3 => s.w * s.h,
        _ if affine_size == s.w => s.w,
        _ if affine_size == s.w * s.h => s.w * s.h,
        _ => s.w * s.h * s.d,
    }
}

struct LayerNorm {
    affine_size: usize,
    eps: f32,
    gamma_beta: Option<(Vec<f32>, Vec<f32>)>,
    rms: bool,
}

impl Op for LayerNorm {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?)?;
        let span = norm_span(&t.shape, self.affine_size);
        if let Some((gamma, _)) = &self.gamma_beta {
            if gamma.len() < span {
                return Err(ctx.shape_error(format!(
                    "input {} normalizes runs of {span} values but affine_size is {}",
                    t.shape,
                    gamma.len()
                )));
            }
        }
        if span == 0 {
            return one(t);
        }
        let eps = self.eps;
        let affine = self.gamma_beta.as_ref();
        let rms = self.rms;
        parallel::for_each_chunk(t.f32_mut(), span, parallel::min_chunks(span, 1 << 12), |_, x| {
            if rms {
                let ms = x.iter().map(|&v| v * v).sum::<f32>() / span as f32;
                let a = 1.0 / (ms + eps).sqrt();
                match affine {
                    Some((g, _)) => x.iter_mut().zip(g).for_each(|(v, &g)| *v = (*v * a) * g),
                    None => x.iter_mut().for_each(|v| *v *= a),
                }
            } else {
                let (mean, var) = mean_var(x);
                let a = 1.0 / (var + eps).sqrt();
                let b = -mean * a;
                match affine {
                    Some((g, be)) => {
                        x.iter_mut().zip(g.iter().zip(be)).for_each(|(v, (&g, &be))| *v = (*v * a + b) * g + be);
                    }
                    None => x.iter_mut().for_each(|v| *v = *v * a + b),
                }
            }
        });
        one(t)
    }
}

fn affine_arrays(p: &Params, size_id: u32, affine_id: u32, with_beta: bool) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    if p.int(affine_id) == 0 {
        return Ok(None);
    }
    let n = p.int(size_id).max(0) as usize;
    let gamma = p.weight_f32("gamma")?;
    let beta = if with_beta { p.weight_f32("beta")? } else { vec![0.0; gamma.len()] };
    if gamma.len() != n || beta.len() != n {
        return Err(p.invalid(format!("gamma/beta hold {}/{} values, expected {n}", gamma.len(), beta.len())));
    }
    Ok(Some((gamma, beta)))
}

pub fn build_layernorm(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(LayerNorm {
        affine_size: p.int(0).max(0) as usize,
        eps: p.float(1),
        gamma_beta: affine_arrays(&p, 0, 2, true)?,
        rms: false,
    }))
}

pub fn build_rmsnorm(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(LayerNorm {
        affine_size: p.int(0).max(0) as usize,
        eps: p.float(1),
        gamma_beta: affine_arrays(&p, 0, 2, false)?,
        rms: true,
    }))
}

/// How ncnn sees a blob as channels: a 1-D blob's elements, a 2-D blob's rows, else channels.
fn channel_view(s: &Shape) -> (usize, usize) {
    match s.dims {
        1 => (s.w, 1),
        2 => (s.h, s.w),
        _ => (s.c, s.channel_len()),
    }
}

struct GroupNorm {
    group: usize,
    channels: usize,
    eps: f32,
    gamma_beta: Option<(Vec<f32>, Vec<f32>)>,
}

impl Op for GroupNorm {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?)?;
        let (channels, len) = channel_view(&t.shape);
        let per_group = self.channels / self.group;
        if channels < per_group * self.group {
            return Err(ctx.shape_error(format!("input {} has fewer than {} channels", t.shape, self.channels)));
        }
        if per_group == 0 || len == 0 {
            return one(t);
        }
        let group_len = per_group * len;
        let data = &mut t.f32_mut()[..group_len * self.group];
        parallel::for_each_chunk(data, group_len, 1, |g, x| {
            let (mean, var) = mean_var(x);
            for (q, row) in x.chunks_mut(len).enumerate() {
                let c = g * per_group + q;
                let (a, b) = if let Some((gamma, beta)) = &self.gamma_beta {
                    let a = gamma[c] / (var + self.eps).sqrt();
                    (a, -mean * a + beta[c])
                } else {
                    let a = 1.0 / (var + self.eps).sqrt();
                    (a, -mean * a)
                };
                for v in row.iter_mut() {
                    *v = *v * a + b;
                }
            }
        });
        one(t)
    }
}

pub fn build_groupnorm(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let group = p.int(0);
    let channels = p.int(1);
    if group <= 0 || channels < 0 {
        return Err(p.invalid(format!("group {group} and channels {channels} must be positive")));
    }
    Ok(Box::new(GroupNorm {
        group: group as usize,
        channels: channels as usize,
        eps: p.float(2),
        gamma_beta: affine_arrays(&p, 1, 3, true)?,
    }))
}

struct InstanceNorm {
    eps: f32,
    gamma_beta: Option<(Vec<f32>, Vec<f32>)>,
}

impl Op for InstanceNorm {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?)?;
        // ncnn normalizes each Mat channel: the whole of a 1-D or 2-D blob is one channel.
        let (c, len) = (t.shape.c, t.shape.channel_len());
        if let Some((gamma, _)) = &self.gamma_beta {
            if gamma.len() < c {
                return Err(ctx.shape_error(format!("input {} has more channels than {}", t.shape, gamma.len())));
            }
        }
        if len == 0 {
            return one(t);
        }
        parallel::for_each_chunk(t.f32_mut(), len, 1, |q, x| {
            let (mean, var) = mean_var(x);
            let (a, b) = if let Some((gamma, beta)) = &self.gamma_beta {
                let a = gamma[q] / (var + self.eps).sqrt();
                (a, -mean * a + beta[q])
            } else {
                let a = 1.0 / (var + self.eps).sqrt();
                (a, -mean * a)
            };
            for v in x.iter_mut() {
                *v = *v * a + b;
            }
        });
        one(t)
    }
}

pub fn build_instancenorm(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(InstanceNorm { eps: p.float(1), gamma_beta: affine_arrays(&p, 0, 2, true)? }))
}
