//! DetectionOutput (SSD): decode box offsets against prior boxes, per-class confidence filter,
//! sort and NMS, then a global sort and `keep_top_k`. Output rows are
//! [label, score, xmin, ymin, xmax, ymax]; nothing detected gives an empty blob, like ncnn.
//!
//! The helpers here (ncnn's quicksort and NMS) are shared with the YOLO layers: ncnn's sort is
//! not stable, so equal scores come out in its order only if we partition exactly as it does.

use super::{one, Context, Op, Params};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub(super) struct Detection {
    pub score: f32,
    pub xmin: f32,
    pub ymin: f32,
    pub xmax: f32,
    pub ymax: f32,
    /// Area as the layer computes it (from corners, or from the decoded width × height).
    pub area: f32,
    pub label: i32,
}

/// ncnn's `qsort_descent_inplace`: Hoare partition around the middle element, descending.
pub(super) fn sort_descending(d: &mut [Detection]) {
    fn part(d: &mut [Detection], left: isize, right: isize) {
        let (mut i, mut j) = (left, right);
        let p = d[isize::midpoint(left, right) as usize].score;
        while i <= j {
            while d[i as usize].score > p {
                i += 1;
            }
            while d[j as usize].score < p {
                j -= 1;
            }
            if i <= j {
                d.swap(i as usize, j as usize);
                i += 1;
                j -= 1;
            }
        }
        if left < j {
            part(d, left, j);
        }
        if i < right {
            part(d, i, right);
        }
    }
    if !d.is_empty() {
        part(d, 0, d.len() as isize - 1);
    }
}

fn intersection(a: &Detection, b: &Detection) -> f32 {
    if a.xmin > b.xmax || a.xmax < b.xmin || a.ymin > b.ymax || a.ymax < b.ymin {
        return 0.0;
    }
    (a.xmax.min(b.xmax) - a.xmin.max(b.xmin)) * (a.ymax.min(b.ymax) - a.ymin.max(b.ymin))
}

/// How a layer's NMS compares overlap with the threshold (ncnn's layers differ in rounding).
#[derive(Clone, Copy)]
pub(super) enum IouTest {
    /// inter / union > threshold
    Divide,
    /// inter > threshold · union
    Multiply,
}

/// Greedy NMS over boxes sorted by score: indices of the kept ones.
pub(super) fn nms(sorted: &[Detection], threshold: f32, test: IouTest) -> Vec<usize> {
    let mut picked: Vec<usize> = Vec::new();
    for (i, a) in sorted.iter().enumerate() {
        let suppressed = picked.iter().any(|&j| {
            let b = &sorted[j];
            let inter = intersection(a, b);
            let union = a.area + b.area - inter;
            match test {
                IouTest::Divide => inter / union > threshold,
                IouTest::Multiply => inter > threshold * union,
            }
        });
        if !suppressed {
            picked.push(i);
        }
    }
    picked
}

/// Rows of [label + `label_offset`, score, xmin, ymin, xmax, ymax], or ncnn's empty blob.
pub(super) fn detections_tensor(dets: &[Detection], label_offset: i32) -> Tensor {
    if dets.is_empty() {
        return Tensor::empty();
    }
    let mut out = Vec::with_capacity(dets.len() * 6);
    for d in dets {
        out.extend([(d.label + label_offset) as f32, d.score, d.xmin, d.ymin, d.xmax, d.ymax]);
    }
    Tensor::new(Shape::d2(6, dets.len()), out)
}

pub(super) fn corner_area(d: &Detection) -> f32 {
    (d.xmax - d.xmin) * (d.ymax - d.ymin)
}

struct DetectionOutput {
    num_class: i32,
    nms_threshold: f32,
    nms_top_k: i32,
    keep_top_k: i32,
    confidence_threshold: f32,
    variances: [f32; 4],
}

impl Op for DetectionOutput {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        if bottoms.len() != 3 {
            return Err(
                ctx.shape_error(format!("expects location, confidence and priorbox, got {} inputs", bottoms.len()))
            );
        }
        let (location, confidence, priorbox) = (bottoms[0].f32(), bottoms[1].f32(), &bottoms[2]);
        let mxnet = self.num_class == -233;
        let num_prior = if mxnet { priorbox.shape.h } else { priorbox.shape.w / 4 };
        let num_class = if mxnet { bottoms[1].shape.h } else { self.num_class.max(0) as usize };
        let prior = priorbox.f32();
        let variance_rows = if mxnet { None } else { prior.get(priorbox.shape.w..) };
        if location.len() < num_prior * 4
            || confidence.len() < num_prior * num_class
            || prior.len() < num_prior * 4 + if mxnet { 0 } else { priorbox.shape.w }
        {
            return Err(ctx.shape_error(format!(
                "{num_prior} priors and {num_class} classes need more values than location {}, confidence {} and priorbox {} hold",
                bottoms[0].shape, bottoms[1].shape, priorbox.shape
            )));
        }
        let conf = |class: usize, p: usize| {
            if mxnet {
                confidence[class * num_prior + p]
            } else {
                confidence[p * num_class + class]
            }
        };

        // Decode every prior whose background score leaves room for a detection.
        let mut boxes = vec![[0.0f32; 4]; num_prior];
        for (i, b) in boxes.iter_mut().enumerate() {
            if num_class == 0 || f64::from(conf(0, i)) >= 1.0 - f64::from(self.confidence_threshold) {
                continue;
            }
            let loc = &location[i * 4..i * 4 + 4];
            let pb = &prior[i * 4..i * 4 + 4];
            let var = variance_rows.map_or(self.variances, |v| [v[i * 4], v[i * 4 + 1], v[i * 4 + 2], v[i * 4 + 3]]);
            let (pb_w, pb_h) = (pb[2] - pb[0], pb[3] - pb[1]);
            let (pb_cx, pb_cy) = ((pb[0] + pb[2]) * 0.5, (pb[1] + pb[3]) * 0.5);
            let cx = var[0] * loc[0] * pb_w + pb_cx;
            let cy = var[1] * loc[1] * pb_h + pb_cy;
            let w = (f64::from(var[2] * loc[2]).exp() * f64::from(pb_w)) as f32;
            let h = (f64::from(var[3] * loc[3]).exp() * f64::from(pb_h)) as f32;
            *b = [cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5];
        }

        let mut all = Vec::new();
        for class in 1..num_class {
            let mut dets: Vec<Detection> = (0..num_prior)
                .filter(|&p| conf(class, p) > self.confidence_threshold)
                .map(|p| {
                    let [xmin, ymin, xmax, ymax] = boxes[p];
                    let mut d =
                        Detection { score: conf(class, p), xmin, ymin, xmax, ymax, area: 0.0, label: class as i32 };
                    d.area = corner_area(&d);
                    d
                })
                .collect();
            sort_descending(&mut dets);
            dets.truncate(self.nms_top_k.max(0) as usize);
            all.extend(nms(&dets, self.nms_threshold, IouTest::Divide).into_iter().map(|i| dets[i]));
        }
        sort_descending(&mut all);
        all.truncate(self.keep_top_k.max(0) as usize);
        one(detections_tensor(&all, 0))
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    Ok(Box::new(DetectionOutput {
        num_class: p.int(0),
        nms_threshold: p.float(1),
        nms_top_k: p.int(2),
        keep_top_k: p.int(3),
        confidence_threshold: p.float(4),
        variances: [p.float(5), p.float(6), p.float(7), p.float(8)],
    }))
}
