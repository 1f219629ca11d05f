//! PriorBox: SSD anchor boxes for a feature map.
//!
//! Caffe style (two bottoms: feature map and image, or fixed image size): a 2×(4·w·h·priors)
//! blob of normalized corners, then their variances. MXNet style (`_contrib_MultiBoxPrior`; one
//! bottom, image size -233 and no max sizes): a 1-D blob of corners only.
//! Centers advance by repeated addition of the step, as ncnn does, so rounding matches.

use super::{one, Context, Op, Params};
use crate::base::alloc;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

struct PriorBox {
    min_sizes: Vec<f32>,
    max_sizes: Vec<f32>,
    aspect_ratios: Vec<f32>,
    variances: [f32; 4],
    flip: bool,
    clip: bool,
    image_width: i32,
    image_height: i32,
    step_width: f32,
    step_height: f32,
    offset: f32,
    step_mmdetection: bool,
    center_mmdetection: bool,
}

const UNSET: f32 = -233.0;

impl PriorBox {
    fn mxnet(&self, w: usize, h: usize) -> Result<Tensor> {
        let step_w = if self.step_width == UNSET { 1.0 / w as f32 } else { self.step_width };
        let step_h = if self.step_height == UNSET { 1.0 / h as f32 } else { self.step_height };
        let num_prior = self.min_sizes.len() - 1 + self.aspect_ratios.len();
        let mut out = alloc::with_capacity(4 * w * h * num_prior)?;
        let (wf, hf) = (w as f32, h as f32);
        for i in 0..h {
            let mut cx = self.offset * step_w;
            let cy = self.offset * step_h + i as f32 * step_h;
            for _ in 0..w {
                for &size in &self.min_sizes {
                    let (hw, hh) = (size * hf / wf / 2.0, size / 2.0);
                    out.extend([cx - hw, cy - hh, cx + hw, cy + hh]);
                }
                let size = self.min_sizes[0];
                for &ar in self.aspect_ratios.iter().skip(1) {
                    let r = ar.sqrt();
                    let (hw, hh) = (size * hf / wf * r / 2.0, size / r / 2.0);
                    out.extend([cx - hw, cy - hh, cx + hw, cy + hh]);
                }
                cx += step_w;
            }
        }
        if self.clip {
            for v in &mut out {
                *v = v.clamp(0.0, 1.0);
            }
        }
        Ok(Tensor::new(Shape::d1(out.len()), out))
    }

    fn caffe(&self, w: usize, h: usize, image_w: f32, image_h: f32) -> Tensor {
        let step = |given: f32, image: f32, n: usize| {
            if given != UNSET {
                given
            } else if self.step_mmdetection {
                (image / n as f32).ceil()
            } else {
                image / n as f32
            }
        };
        let step_w = step(self.step_width, image_w, w);
        let step_h = step(self.step_height, image_h, h);
        let mut boxes = Vec::new();
        let mut push = |cx: f32, cy: f32, bw: f32, bh: f32| {
            boxes.extend([
                (cx - bw * 0.5) / image_w,
                (cy - bh * 0.5) / image_h,
                (cx + bw * 0.5) / image_w,
                (cy + bh * 0.5) / image_h,
            ]);
        };
        for i in 0..h {
            let (mut cx, cy) = if self.center_mmdetection {
                (self.offset * (step_w - 1.0), self.offset * (step_h - 1.0) + i as f32 * step_h)
            } else {
                (self.offset * step_w, self.offset * step_h + i as f32 * step_h)
            };
            for _ in 0..w {
                for (k, &min_size) in self.min_sizes.iter().enumerate() {
                    push(cx, cy, min_size, min_size);
                    if let Some(&max_size) = self.max_sizes.get(k) {
                        let s = (min_size * max_size).sqrt();
                        push(cx, cy, s, s);
                    }
                    for &ar in &self.aspect_ratios {
                        let (bw, bh) = (min_size * ar.sqrt(), min_size / ar.sqrt());
                        push(cx, cy, bw, bh);
                        if self.flip {
                            push(cx, cy, bh, bw);
                        }
                    }
                }
                cx += step_w;
            }
        }
        if self.clip {
            for v in &mut boxes {
                *v = v.clamp(0.0, 1.0);
            }
        }
        let n = boxes.len();
        boxes.extend(self.variances.iter().cycle().take(n).copied());
        Tensor::new(Shape::d2(n, 2), boxes)
    }
}

impl Op for PriorBox {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let Some(feature) = bottoms.first() else {
            return Err(ctx.shape_error("expects a feature map input"));
        };
        let (w, h) = (feature.shape.w, feature.shape.h);
        let unset = UNSET as i32;
        if bottoms.len() == 1 && self.image_width == unset && self.image_height == unset && self.max_sizes.is_empty() {
            if self.min_sizes.is_empty() {
                return Err(ctx.shape_error("mxnet-style PriorBox needs at least one size"));
            }
            return one(self.mxnet(w, h)?);
        }
        let image_dim = |given: i32, pick: fn(&Shape) -> usize| -> Result<f32> {
            if given != unset {
                return Ok(given as f32);
            }
            let image =
                bottoms.get(1).ok_or_else(|| ctx.shape_error("image size is -233 but there is no image input"))?;
            Ok(pick(&image.shape) as f32)
        };
        let image_w = image_dim(self.image_width, |s| s.w)?;
        let image_h = image_dim(self.image_height, |s| s.h)?;
        one(self.caffe(w, h, image_w, image_h))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let min_sizes = p.float_values(0);
    let max_sizes = p.float_values(1);
    if !max_sizes.is_empty() && max_sizes.len() < min_sizes.len() {
        return Err(p.invalid(format!("{} max_sizes for {} min_sizes", max_sizes.len(), min_sizes.len())));
    }
    Ok(Box::new(PriorBox {
        min_sizes,
        max_sizes,
        aspect_ratios: p.float_values(2),
        variances: [p.float(3), p.float(4), p.float(5), p.float(6)],
        flip: p.int(7) != 0,
        clip: p.int(8) != 0,
        image_width: p.int(9),
        image_height: p.int(10),
        step_width: p.float(11),
        step_height: p.float(12),
        offset: p.float(13),
        step_mmdetection: p.int(14) != 0,
        center_mmdetection: p.int(15) != 0,
    }))
}
