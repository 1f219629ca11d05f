//! Channel/space rearrangements of 3-D blobs: ShuffleChannel, PixelShuffle (depth to space) and
//! Reorg (space to depth).

use super::{single, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::kernels::copy;
use crate::model::Layer;
use std::sync::Arc;

fn require_3d(x: &Tensor, ctx: &Context) -> Result<()> {
    if x.shape.dims != 3 {
        return Err(ctx.shape_error(format!("takes a 3-D blob, got {}", x.shape)));
    }
    Ok(())
}

fn positive(p: &Params, id: u32, what: &str) -> Result<usize> {
    let v = p.int(id);
    if v <= 0 {
        return Err(p.invalid(format!("{what} must be positive, got {v}")));
    }
    Ok(v as usize)
}

// ---------------------------------------------------------------------------------------------

struct ShuffleChannel {
    group: usize,
    reverse: bool,
}

impl Op for ShuffleChannel {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        require_3d(&x, ctx)?;
        let c = x.shape.c;
        if c % self.group != 0 {
            return Err(ctx.shape_error(format!("{c} channels do not split into {} groups", self.group)));
        }
        // reverse undoes the shuffle: the transpose of a groups × per_group matrix of channels.
        let groups = if self.reverse { c / self.group } else { self.group };
        let per_group = c / groups;
        let plane = x.shape.channel_len();
        let src = x.f32();
        // SAFETY: each output channel groups·j + i is input channel per_group·i + j, so the
        // copies write every element (no zeroing pass first: this layer is a pure copy).
        let out = unsafe {
            alloc::overwritten(src.len(), |out: &mut [f32]| {
                // Output channel `to` = groups·j + i is input channel per_group·i + j: the planes
                // in output order, copied on the pool's threads.
                let pieces: Vec<&[f32]> = (0..c)
                    .map(|to| {
                        let from = per_group * (to % groups) + to / groups;
                        &src[from * plane..(from + 1) * plane]
                    })
                    .collect();
                copy::concat_into(out, &pieces);
            })
        }?;
        super::one(Tensor::new(x.shape, out))
    }
}

pub fn build_shufflechannel(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(ShuffleChannel { group: positive(&p, 0, "group")?, reverse: p.int(1) != 0 }))
}

// ---------------------------------------------------------------------------------------------

/// Which input channel feeds output channel `p` at sub-position `k` of `r`×`r` (mode 0: channel
/// blocks per output channel, as PyTorch; mode 1: output channels innermost, as TensorFlow).
fn block_channel(mode: i32, p: usize, k: usize, rr: usize, channels_per_k: usize) -> usize {
    if mode == 0 {
        p * rr + k
    } else {
        k * channels_per_k + p
    }
}

struct PixelShuffle {
    r: usize,
    mode: i32,
}

impl Op for PixelShuffle {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        require_3d(&x, ctx)?;
        let Shape { w, h, c, .. } = x.shape;
        let (r, rr) = (self.r, self.r * self.r);
        let outc = c / rr;
        if outc == 0 {
            return Err(ctx.shape_error(format!("{c} channels are fewer than upscale_factor² = {rr}")));
        }
        let (ow, oh) = (w * r, h * r);
        let src = x.f32();
        let mut out = alloc::zeroed(ow * oh * outc)?;
        for (p, o) in out.chunks_mut(ow * oh).enumerate() {
            for sh in 0..r {
                for sw in 0..r {
                    let q = block_channel(self.mode, p, sh * r + sw, rr, outc);
                    let plane = &src[q * w * h..(q + 1) * w * h];
                    for i in 0..h {
                        let row = &mut o[(i * r + sh) * ow..(i * r + sh + 1) * ow];
                        for j in 0..w {
                            row[j * r + sw] = plane[i * w + j];
                        }
                    }
                }
            }
        }
        super::one(Tensor::new(Shape::d3(ow, oh, outc), out))
    }
}

pub fn build_pixelshuffle(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(PixelShuffle { r: positive(&p, 0, "upscale_factor")?, mode: p.int(1) }))
}

// ---------------------------------------------------------------------------------------------

struct Reorg {
    stride: usize,
    mode: i32,
}

impl Op for Reorg {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        require_3d(&x, ctx)?;
        let Shape { w, h, c, .. } = x.shape;
        let (s, ss) = (self.stride, self.stride * self.stride);
        // Rows and columns beyond a multiple of the stride are dropped.
        let (ow, oh) = (w / s, h / s);
        if ow == 0 || oh == 0 {
            return Err(ctx.shape_error(format!("{w}x{h} is smaller than the stride {s}")));
        }
        let src = x.f32();
        let mut out = alloc::zeroed(ow * oh * c * ss)?;
        for q in 0..c {
            let plane = &src[q * w * h..(q + 1) * w * h];
            for sh in 0..s {
                for sw in 0..s {
                    let p = block_channel(self.mode, q, sh * s + sw, ss, c);
                    let o = &mut out[p * ow * oh..(p + 1) * ow * oh];
                    for i in 0..oh {
                        for j in 0..ow {
                            o[i * ow + j] = plane[(i * s + sh) * w + j * s + sw];
                        }
                    }
                }
            }
        }
        super::one(Tensor::new(Shape::d3(ow, oh, c * ss), out))
    }
}

pub fn build_reorg(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(Reorg { stride: positive(&p, 0, "stride")?, mode: p.int(1) }))
}
