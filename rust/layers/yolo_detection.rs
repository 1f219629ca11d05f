//! YOLO heads: YoloDetectionOutput (v2 region layer) and Yolov3DetectionOutput.
//!
//! Each bottom is a w×h map with `num_box` groups of channels [x, y, w, h, objectness,
//! classes…]. Boxes above the confidence threshold are gathered in (bottom, anchor, row, column)
//! order, sorted with ncnn's quicksort, NMS'd across classes, and written as rows of
//! [label + 1, score, xmin, ymin, xmax, ymax] (label 0 is the implicit background).

use super::detection_output::{corner_area, detections_tensor, nms, sort_descending, Detection, IouTest};
use super::{one, Context, Op, Params};
use crate::base::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Checks a head blob's channel layout and returns (w, h, channels per box).
fn head_layout(t: &Tensor, num_box: usize, num_class: usize, ctx: &Context) -> Result<(usize, usize, usize)> {
    let s = t.shape;
    let per_box = s.c.checked_div(num_box).unwrap_or(0);
    if s.dims != 3 || per_box != 5 + num_class {
        return Err(ctx.shape_error(format!(
            "input {s} does not hold {num_box} boxes of 4 coordinates, objectness and {num_class} classes"
        )));
    }
    Ok((s.w, s.h, per_box))
}

struct YoloDetectionOutput {
    num_class: usize,
    num_box: usize,
    confidence_threshold: f32,
    nms_threshold: f32,
    biases: Vec<f32>,
}

impl Op for YoloDetectionOutput {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        if bottoms.is_empty() {
            return Err(ctx.shape_error("expects at least one input"));
        }
        let mut first = None;
        let mut all = Vec::new();
        for (b, blob) in bottoms.iter().enumerate() {
            let (w, h, per_box) = head_layout(blob, self.num_box, self.num_class, ctx)?;
            let size = w * h;
            // ncnn softmaxes the class scores in place (and so returns them when nothing is found).
            let mut t = (**blob).clone();
            let data = t.f32_mut();
            for pp in 0..self.num_box {
                let classes = &mut data[(pp * per_box + 5) * size..(pp * per_box + 5 + self.num_class) * size];
                for i in 0..size {
                    let max = (0..self.num_class).fold(-f32::MAX, |m, q| m.max(classes[q * size + i]));
                    let mut sum = 0.0f32;
                    for q in 0..self.num_class {
                        let e = (classes[q * size + i] - max).exp();
                        classes[q * size + i] = e;
                        sum += e;
                    }
                    for q in 0..self.num_class {
                        classes[q * size + i] /= sum;
                    }
                }
            }
            for pp in 0..self.num_box {
                let (bias_w, bias_h) = (self.biases[pp * 2], self.biases[pp * 2 + 1]);
                let ch = |k: usize| &data[(pp * per_box + k) * size..(pp * per_box + k + 1) * size];
                for i in 0..h {
                    for j in 0..w {
                        let k = i * w + j;
                        let (mut class_index, mut class_score) = (0, 0.0f32);
                        for q in 0..self.num_class {
                            let s = ch(5 + q)[k];
                            if s > class_score {
                                class_index = q;
                                class_score = s;
                            }
                        }
                        let confidence = sigmoid(ch(4)[k]) * class_score;
                        if confidence < self.confidence_threshold {
                            continue;
                        }
                        let cx = (j as f32 + sigmoid(ch(0)[k])) / w as f32;
                        let cy = (i as f32 + sigmoid(ch(1)[k])) / h as f32;
                        let bw = ch(2)[k].exp() * bias_w / w as f32;
                        let bh = ch(3)[k].exp() * bias_h / h as f32;
                        let mut d = Detection {
                            score: confidence,
                            xmin: cx - bw * 0.5,
                            ymin: cy - bh * 0.5,
                            xmax: cx + bw * 0.5,
                            ymax: cy + bh * 0.5,
                            area: 0.0,
                            label: class_index as i32,
                        };
                        d.area = corner_area(&d);
                        all.push(d);
                    }
                }
            }
            if b == 0 {
                first = Some(t);
            }
        }
        sort_descending(&mut all);
        let kept: Vec<Detection> = nms(&all, self.nms_threshold, IouTest::Divide).into_iter().map(|i| all[i]).collect();
        if kept.is_empty() {
            return one(first.expect("at least one bottom"));
        }
        one(detections_tensor(&kept, 1))
    }
}

pub fn build_yolo(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (num_class, num_box) = (p.int(0), p.int(1));
    let biases = p.float_values(4);
    if num_class < 0 || num_box <= 0 || biases.len() < 2 * num_box as usize {
        return Err(p.invalid(format!(
            "num_class {num_class}, num_box {num_box} need {} biases, got {}",
            2 * num_box.max(0),
            biases.len()
        )));
    }
    Ok(Box::new(YoloDetectionOutput {
        num_class: num_class as usize,
        num_box: num_box as usize,
        confidence_threshold: p.float(2),
        nms_threshold: p.float(3),
        biases,
    }))
}

struct Yolov3DetectionOutput {
    num_class: usize,
    num_box: usize,
    confidence_threshold: f32,
    nms_threshold: f32,
    biases: Vec<f32>,
    /// Anchor index per (bottom, box).
    mask: Vec<usize>,
    anchors_scale: Vec<f32>,
}

impl Op for Yolov3DetectionOutput {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        if bottoms.len() > self.anchors_scale.len() || bottoms.len() * self.num_box > self.mask.len() {
            return Err(ctx.shape_error(format!(
                "{} inputs, but anchors_scale and mask describe {}",
                bottoms.len(),
                self.anchors_scale.len().min(self.mask.len() / self.num_box)
            )));
        }
        let mut all = Vec::new();
        for (b, blob) in bottoms.iter().enumerate() {
            let (w, h, per_box) = head_layout(blob, self.num_box, self.num_class, ctx)?;
            let size = w * h;
            let data = blob.f32();
            let net_w = f64::from((self.anchors_scale[b] * w as f32) as i32);
            let net_h = f64::from((self.anchors_scale[b] * h as f32) as i32);
            for pp in 0..self.num_box {
                let anchor = self.mask[b * self.num_box + pp];
                let (bias_w, bias_h) = (f64::from(self.biases[anchor * 2]), f64::from(self.biases[anchor * 2 + 1]));
                let ch = |k: usize| &data[(pp * per_box + k) * size..(pp * per_box + k + 1) * size];
                for i in 0..h {
                    for j in 0..w {
                        let k = i * w + j;
                        let (mut class_index, mut class_score) = (0, -f32::MAX);
                        for q in 0..self.num_class {
                            let s = ch(5 + q)[k];
                            if s > class_score {
                                class_index = q;
                                class_score = s;
                            }
                        }
                        // ncnn's expression, operator precedence included: 1 / (1 + e^-obj · (1 + e^-cls)).
                        let confidence = 1.0 / (1.0 + (-ch(4)[k]).exp() * (1.0 + (-class_score).exp()));
                        if confidence < self.confidence_threshold {
                            continue;
                        }
                        let cx = (j as f32 + sigmoid(ch(0)[k])) / w as f32;
                        let cy = (i as f32 + sigmoid(ch(1)[k])) / h as f32;
                        let bw = (f64::from(ch(2)[k]).exp() * bias_w / net_w) as f32;
                        let bh = (f64::from(ch(3)[k]).exp() * bias_h / net_h) as f32;
                        all.push(Detection {
                            score: confidence,
                            xmin: cx - bw * 0.5,
                            ymin: cy - bh * 0.5,
                            xmax: cx + bw * 0.5,
                            ymax: cy + bh * 0.5,
                            area: bw * bh,
                            label: class_index as i32,
                        });
                    }
                }
            }
        }
        sort_descending(&mut all);
        let kept: Vec<Detection> =
            nms(&all, self.nms_threshold, IouTest::Multiply).into_iter().map(|i| all[i]).collect();
        one(detections_tensor(&kept, 1))
    }
}

/// ncnn reads `mask` as floats and keeps an int-written mask's bits (benchmark files write the
/// floats' bit patterns as ints), while int-written biases and `anchors_scale` are converted by
/// value. ncnn rejects (at load) masks that are not whole anchor indices, or that hold more than
/// `num_box` entries per `anchors_scale` entry.
pub fn build_yolov3(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (num_class, num_box) = (p.int(0), p.int(1));
    let biases = p.float_values(4);
    let mask = p.floats(5);
    let anchors_scale = p.float_values(6);
    if num_class <= 0 || num_box <= 0 {
        return Err(p.invalid(format!("num_class {num_class} and num_box {num_box} must be positive")));
    }
    if biases.is_empty() || biases.len() % 2 != 0 {
        return Err(p.invalid(format!("biases must be (w, h) pairs, got {} values", biases.len())));
    }
    let anchors = biases.len() / 2;
    let num_box_u = num_box as usize;
    if mask.is_empty() || mask.len() % num_box_u != 0 || mask.len() / num_box_u > anchors_scale.len() {
        return Err(p.invalid(format!(
            "mask has {} entries; it needs num_box ({num_box}) per anchors_scale entry ({})",
            mask.len(),
            anchors_scale.len()
        )));
    }
    if anchors_scale.iter().any(|&s| s.is_nan() || s <= 0.0) {
        return Err(p.invalid("anchors_scale values must be positive"));
    }
    let mask = mask
        .iter()
        .map(|&m| {
            if m.fract() == 0.0 && m >= 0.0 && (m as usize) < anchors {
                Ok(m as usize)
            } else {
                Err(p.invalid(format!("mask value {m} is not an anchor index below {anchors}")))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(Yolov3DetectionOutput {
        num_class: num_class as usize,
        num_box: num_box_u,
        confidence_threshold: p.float(2),
        nms_threshold: p.float(3),
        biases,
        mask,
        anchors_scale,
    }))
}
