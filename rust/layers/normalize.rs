//! Parameter-free (or scale-only) normalizations of 3-D feature maps: LRN, MVN and Normalize
//! (SSD's L2 normalization). ncnn reads these as w×h×c; a 1-D or 2-D blob is one channel.

use super::{one, single, take, Context, Op, Params};
use crate::base::{alloc, parallel};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::kernels::dispatch::{self, F32Path};
use crate::kernels::lrn;
use crate::model::Layer;
use std::sync::Arc;

/// (channels, elements per channel) of a blob up to 3-D; 4-D blobs are not a form ncnn's
/// kernels for these layers handle.
fn planes(s: &Shape, ctx: &Context) -> Result<(usize, usize)> {
    if s.dims > 3 {
        return Err(ctx.shape_error(format!("takes blobs of up to 3 dims, got {s}")));
    }
    Ok((s.c, s.w * s.h))
}

/// Elements per job of the squares pass.
const SQUARE_CHUNK: usize = 1 << 14;

/// x² of every element, on the pool's threads (serially this pass was a quarter of the layer).
fn squares(src: &[f32]) -> Result<Vec<f32>> {
    // SAFETY: the chunks cover the vector and each element is written.
    unsafe {
        alloc::overwritten(src.len(), |sq: &mut [f32]| {
            parallel::for_each_chunk(sq, SQUARE_CHUNK, 1, |i, d| {
                for (d, v) in d.iter_mut().zip(&src[i * SQUARE_CHUNK..]) {
                    *d = v * v;
                }
            });
        })
    }
}

struct Lrn {
    isa: F32Path,
    within_channel: bool,
    local_size: usize,
    alpha: f32,
    beta: f32,
    bias: f32,
}

impl Op for Lrn {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let (_, size) = planes(&x.shape, ctx)?;
        let (w, h) = (x.shape.w, x.shape.h);
        let square = squares(x.f32())?;
        let half = self.local_size / 2;
        if !self.within_channel {
            // local_size channels: half before, the rest after (ncnn pads channels this way).
            let p = lrn::Across {
                before: half,
                after: self.local_size - half - 1,
                alpha_div: self.alpha / self.local_size as f32,
                beta: self.beta,
                bias: self.bias,
            };
            let mut t = take(x)?;
            lrn::across(self.isa, &p, &square, size, t.f32_mut());
            return one(t);
        }
        let src = x.f32();
        let mut out = alloc::zeroed(src.len())?;
        // Window rows/cols run from -half to local_size-half-1 around each pixel, zero outside.
        let alpha_div = self.alpha / (self.local_size * self.local_size) as f32;
        let (before, after) = (half as isize, (self.local_size - half - 1) as isize);
        parallel::for_each_chunk(&mut out, size.max(1), 1, |q, o| {
            let sq = &square[q * size..(q + 1) * size];
            let xq = &src[q * size..(q + 1) * size];
            for i in 0..h as isize {
                for j in 0..w as isize {
                    let mut ss = 0.0f32;
                    for y in (i - before).max(0)..(i + after + 1).min(h as isize) {
                        let row = &sq[y as usize * w..(y as usize + 1) * w];
                        for xx in (j - before).max(0)..(j + after + 1).min(w as isize) {
                            ss += row[xx as usize];
                        }
                    }
                    let k = i as usize * w + j as usize;
                    o[k] = xq[k] * (self.bias + alpha_div * ss).powf(-self.beta);
                }
            }
        });
        one(Tensor::new(x.shape, out))
    }
}

pub fn build_lrn(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let region = p.int(0);
    let local_size = p.int(1);
    if !(0..=1).contains(&region) {
        return Err(p.invalid(format!("region_type {region} is not 0 (across channels) or 1 (within channel)")));
    }
    if local_size <= 0 {
        return Err(p.invalid(format!("local_size {local_size} must be positive")));
    }
    Ok(Box::new(Lrn {
        isa: dispatch::F32.selected(),
        within_channel: region == 1,
        local_size: local_size as usize,
        alpha: p.float(2),
        beta: p.float(3),
        bias: p.float(4),
    }))
}

struct Mvn {
    normalize_variance: bool,
    across_channels: bool,
    eps: f32,
}

impl Op for Mvn {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let (channels, size) = planes(&x.shape, ctx)?;
        // ncnn creates the output as w×h×c whatever the input's dims.
        let shape = Shape::d3(x.shape.w, x.shape.h, channels);
        let mut t = take(x)?.reshaped(shape);
        if size == 0 {
            return one(t);
        }
        let data = t.f32_mut();
        let sums: Vec<f32> = data.chunks(size).map(|c| c.iter().sum()).collect();
        let total = (channels * size) as f32;
        let global_mean = sums.iter().sum::<f32>() / total;
        for (q, c) in data.chunks_mut(size).enumerate() {
            let mean = if self.across_channels { global_mean } else { sums[q] / size as f32 };
            for v in c.iter_mut() {
                *v -= mean;
            }
        }
        if self.normalize_variance {
            let sq: Vec<f32> = data.chunks(size).map(|c| c.iter().map(|v| v * v).sum()).collect();
            let global_inv = 1.0 / ((sq.iter().sum::<f32>() / total).sqrt() + self.eps);
            for (q, c) in data.chunks_mut(size).enumerate() {
                let inv =
                    if self.across_channels { global_inv } else { 1.0 / ((sq[q] / size as f32).sqrt() + self.eps) };
                for v in c.iter_mut() {
                    *v *= inv;
                }
            }
        }
        one(t)
    }
}

pub fn build_mvn(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(Mvn { normalize_variance: p.int(0) != 0, across_channels: p.int(1) != 0, eps: p.float(2) }))
}

struct Normalize {
    across_spatial: bool,
    across_channel: bool,
    channel_shared: bool,
    eps: f32,
    eps_mode: i32,
    scale: Vec<f32>,
}

impl Normalize {
    /// 1 / ‖x‖ with the framework's way of guarding against zero.
    fn inv_norm(&self, ssum: f32) -> f32 {
        match self.eps_mode {
            0 => 1.0 / (ssum + self.eps).sqrt(),  // caffe, mxnet
            1 => 1.0 / ssum.sqrt().max(self.eps), // pytorch
            _ => 1.0 / ssum.max(self.eps).sqrt(), // tensorflow
        }
    }

    fn scale(&self, q: usize) -> f32 {
        if self.channel_shared {
            self.scale[0]
        } else {
            self.scale[q]
        }
    }
}

impl Op for Normalize {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?)?;
        let (channels, size) = planes(&t.shape, ctx)?;
        let needed = if self.channel_shared { 1 } else { channels };
        if self.scale.len() < needed {
            return Err(ctx.shape_error(format!(
                "input {} needs {needed} scales, the layer has {}",
                t.shape,
                self.scale.len()
            )));
        }
        if size == 0 || !(self.across_spatial || self.across_channel) {
            return one(t);
        }
        let data = t.f32_mut();
        if self.across_spatial {
            let ssums: Vec<f32> = data.chunks(size).map(|c| c.iter().map(|v| v * v).sum()).collect();
            let global = self.inv_norm(ssums.iter().sum());
            parallel::for_each_chunk(data, size, 1, |q, c| {
                let a = if self.across_channel { global } else { self.inv_norm(ssums[q]) };
                let s = a * self.scale(q);
                for v in c.iter_mut() {
                    *v *= s;
                }
            });
        } else {
            let mut inv = alloc::zeroed(size)?;
            for c in data.chunks(size) {
                inv.iter_mut().zip(c).for_each(|(s, v)| *s += v * v);
            }
            for s in &mut inv {
                *s = self.inv_norm(*s);
            }
            parallel::for_each_chunk(data, size, 1, |q, c| {
                let s = self.scale(q);
                c.iter_mut().zip(&inv).for_each(|(v, &a)| *v = *v * a * s);
            });
        }
        one(t)
    }
}

pub fn build_normalize(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let scale = p.weight_f32("scale")?;
    if scale.is_empty() {
        return Err(p.invalid("scale_data_size is 0"));
    }
    Ok(Box::new(Normalize {
        across_spatial: p.int(0) != 0,
        across_channel: p.int(4) != 0,
        channel_shared: p.int(1) != 0,
        eps: p.float(2),
        eps_mode: p.int(9),
        scale,
    }))
}
