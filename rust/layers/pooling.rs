//! Pooling (2-D, on the w×h plane of each channel): max/average, global, adaptive, and ncnn's
//! four pad modes with its tail-padding and count-exclude-pad rules.

use super::{one, single, Chain, Context, Op, Params};
use crate::base::{alloc, parallel};
use crate::base::{Shape, Tensor, TensorData};
use crate::error::{Error, Result};
use crate::kernels::dispatch::{self, F32Path, I8Path};
use crate::kernels::pooling::{self, Method};
use crate::model::Layer;
use std::sync::Arc;

struct Pooling {
    isa: F32Path,
    /// The int8 kernels' path, for max pooling in an int8 chain.
    isa_i8: I8Path,
    method: Method,
    kernel: (usize, usize),
    stride: (usize, usize),
    /// left, right, top, bottom
    pads: [usize; 4],
    global: bool,
    pad_mode: i32,
    count_include_pad: bool,
    adaptive: bool,
    out_size: (i32, i32),
}

/// The padded plane a window slides over: explicit pads plus the pad mode's extra.
struct Bordered {
    left: usize,
    top: usize,
    w: usize,
    h: usize,
    /// Extra right/bottom padding of pad mode 0 (Caffe's ceil mode).
    tail: (usize, usize),
}

impl Pooling {
    fn border(&self, w: usize, h: usize) -> Bordered {
        let [pl, pr, pt, pb] = self.pads;
        let (kw, kh) = self.kernel;
        let (sw, sh) = self.stride;
        match self.pad_mode {
            0 => {
                // C's remainder (negative when the kernel overhangs the padded input), as in ncnn.
                let tail = |n: usize, p0: usize, p1: usize, k: usize, s: usize| {
                    let span = (n + p0 + p1) as isize - k as isize;
                    let rem = span % s as isize;
                    if rem != 0 {
                        (s as isize - rem) as usize
                    } else {
                        0
                    }
                };
                let tw = tail(w, pl, pr, kw, sw);
                let th = tail(h, pt, pb, kh, sh);
                Bordered { left: pl, top: pt, w: w + pl + pr + tw, h: h + pt + pb + th, tail: (tw, th) }
            }
            2 | 3 => {
                let wpad = (kw + (w - 1) / sw * sw).saturating_sub(w);
                let hpad = (kh + (h - 1) / sh * sh).saturating_sub(h);
                let (left, top) =
                    if self.pad_mode == 2 { (wpad / 2, hpad / 2) } else { (wpad - wpad / 2, hpad - hpad / 2) };
                Bordered { left, top, w: w + wpad, h: h + hpad, tail: (0, 0) }
            }
            _ => Bordered { left: pl, top: pt, w: w + pl + pr, h: h + pt + pb, tail: (0, 0) },
        }
    }

    /// The kernel's view of one plane.
    fn window(&self, w: usize, h: usize, b: &Bordered) -> pooling::Window {
        let (kw, kh) = self.kernel;
        let [pl, pr, pt, pb] = self.pads;
        // ncnn excludes explicit pads and the tail pad from the average's count.
        let counted = (self.method == Method::Avg && !self.count_include_pad)
            .then(|| [pl, b.w.saturating_sub(pr + b.tail.0), pt, b.h.saturating_sub(pb + b.tail.1)]);
        pooling::Window {
            w,
            h,
            left: b.left,
            top: b.top,
            kernel: self.kernel,
            stride: self.stride,
            ow: (b.w - kw) / self.stride.0 + 1,
            oh: (b.h - kh) / self.stride.1 + 1,
            counted,
        }
    }

    fn adaptive_plane(&self, src: &[f32], w: usize, h: usize, out: &mut [f32], outw: usize, outh: usize) {
        for oy in 0..outh {
            let y0 = oy * h / outh;
            let y1 = ((oy + 1) * h).div_ceil(outh);
            for ox in 0..outw {
                let x0 = ox * w / outw;
                let x1 = ((ox + 1) * w).div_ceil(outw);
                let mut acc = if self.method == Method::Max { f32::MIN } else { 0.0 };
                for y in y0..y1 {
                    for x in x0..x1 {
                        let v = src[y * w + x];
                        acc = if self.method == Method::Max { acc.max(v) } else { acc + v };
                    }
                }
                out[oy * outw + ox] = match self.method {
                    Method::Max => acc,
                    Method::Avg => acc / ((y1 - y0) * (x1 - x0)) as f32,
                };
            }
        }
    }
}

/// How one input is pooled ([`Pooling::layout`]).
enum Layout {
    /// One value per channel over the whole plane, into this shape.
    Reduce(Shape),
    /// Adaptive pooling into `ow`×`oh`.
    Adaptive(usize, usize),
    /// Windows over each plane.
    Windows(pooling::Window),
}

impl Pooling {
    /// What pooling an input of shape `s` does (2-D or 3-D).
    fn layout(&self, s: Shape, ctx: &Context) -> Result<Layout> {
        // A 2-D blob pools as one channel and comes out 3-D, as in ncnn's unpacked path (ncnn packs
        // a 2-D blob whose h is a multiple of 4 and then pools rows as channels).
        if s.dims < 2 || s.dims == 4 {
            return Err(ctx.shape_error(format!("Pooling takes a 2-D or 3-D blob, got {s}")));
        }
        let (w, h, c) = (s.w, s.h, s.c);
        if self.global {
            return Ok(Layout::Reduce(Shape::d1(c)));
        }
        if self.adaptive {
            let size = |v: i32, n: usize| match v {
                -233 => Ok(n),
                v if v > 0 => Ok(v as usize),
                v => Err(ctx.shape_error(format!("adaptive output size {v} (positive or -233)"))),
            };
            return Ok(Layout::Adaptive(size(self.out_size.0, w)?, size(self.out_size.1, h)?));
        }
        let b = self.border(w, h);
        let (kw, kh) = self.kernel;
        if b.w < kw || b.h < kh {
            return Err(ctx.shape_error(format!("kernel {kw}x{kh} is larger than the padded input {}x{}", b.w, b.h)));
        }
        let win = self.window(w, h, &b);
        if pooling::is_whole_plane(self.method, &win) {
            return Ok(Layout::Reduce(Shape::d3(1, 1, c)));
        }
        Ok(Layout::Windows(win))
    }
}

impl Op for Pooling {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let layout = self.layout(s, ctx)?;
        let (w, h, c) = (s.w, s.h, s.c);
        let src = x.f32();
        let plane = w * h;
        let out_shape = |ow: usize, oh: usize| Shape::d3(ow, oh, c);
        match layout {
            // One value per channel: global pooling, or one window over the whole plane.
            Layout::Reduce(shape) => {
                // SAFETY: the pooling kernels write every output element.
                let out =
                    unsafe { alloc::overwritten(c, |out| pooling::global(self.isa, self.method, plane, src, out)) }?;
                one(Tensor::new(shape, out))
            }
            Layout::Adaptive(ow, oh) => {
                let mut out = alloc::zeroed(ow * oh * c)?;
                parallel::for_each_chunk(&mut out, ow * oh, 1, |ch, o| {
                    self.adaptive_plane(&src[ch * plane..(ch + 1) * plane], w, h, o, ow, oh);
                });
                one(Tensor::new(out_shape(ow, oh), out))
            }
            Layout::Windows(win) => {
                // SAFETY: the pooling kernels write every output element.
                let out = unsafe {
                    alloc::overwritten(alloc::count(&[win.ow, win.oh, c])?, |out| {
                        pooling::pool(self.isa, self.method, &win, c, src, out);
                    })
                }?;
                one(Tensor::new(out_shape(win.ow, win.oh), out))
            }
        }
    }

    /// Max pooling (not adaptive) commutes with quantization: see [`pooling::int8`].
    fn chain(&self) -> Chain {
        if self.method == Method::Max && !self.adaptive {
            Chain::Select
        } else {
            Chain::None
        }
    }

    fn forward_chained(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, _s: f32) -> Result<Vec<Arc<Tensor>>> {
        let x = single(bottoms, ctx)?;
        let s = x.shape;
        let TensorData::I8(src) = &x.data else {
            return Err(Error::layer(ctx.layer, ctx.layer_type, "a float input in an int8 chain"));
        };
        let not_max = || Error::layer(ctx.layer, ctx.layer_type, "only max pooling runs in an int8 chain");
        if self.chain() != Chain::Select {
            return Err(not_max());
        }
        let c = s.c;
        match self.layout(s, ctx)? {
            Layout::Reduce(shape) => {
                // SAFETY: global_max writes every output element.
                let out = unsafe { alloc::overwritten(c, |out| pooling::int8::global_max(s.w * s.h, src, out)) }?;
                one(Tensor::new_i8(shape, out))
            }
            Layout::Windows(win) => {
                // SAFETY: max_pool writes every output element.
                let out = unsafe {
                    alloc::overwritten(alloc::count(&[win.ow, win.oh, c])?, |out| {
                        pooling::int8::max_pool(self.isa_i8, &win, c, src, out);
                    })
                }?;
                one(Tensor::new_i8(Shape::d3(win.ow, win.oh, c), out))
            }
            Layout::Adaptive(..) => Err(not_max()),
        }
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let method = match p.int(0) {
        0 => Method::Max,
        1 => Method::Avg,
        other => return Err(p.invalid(format!("pooling_type {other} is not 0 (max) or 1 (avg)"))),
    };
    let positive = |id: u32, what: &str| -> Result<usize> {
        let v = p.int(id);
        if v <= 0 {
            return Err(p.invalid(format!("{what} must be positive, got {v}")));
        }
        Ok(v as usize)
    };
    let global = p.int(4) != 0;
    let adaptive = p.int(7) != 0;
    let (kernel, stride) = if global || adaptive {
        ((1, 1), (1, 1))
    } else {
        ((positive(1, "kernel_w")?, positive(11, "kernel_h")?), (positive(2, "stride_w")?, positive(12, "stride_h")?))
    };
    let pad = |id: u32| p.int(id).max(0) as usize;
    Ok(Box::new(Pooling {
        isa: dispatch::F32.selected(),
        isa_i8: dispatch::I8.selected(),
        method,
        kernel,
        stride,
        pads: [pad(3), pad(14), pad(13), pad(15)],
        global,
        pad_mode: p.int(5),
        count_include_pad: p.int(6) != 0,
        adaptive,
        out_size: (p.int(8), p.int(18)),
    }))
}
