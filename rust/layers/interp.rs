//! Interp: nearest / bilinear / bicubic resize with ncnn's coordinate rules.
//!
//! Shapes follow ncnn: a 3-D blob is resized on w and h; a 2-D blob only on w (each row on its
//! own); a 1-D blob of n values becomes n channels of outw×outh, each filled with its value. The
//! size is `output_width` × `output_height` when both are set, else the input size times the scales
//! (truncated), the w×h of a second bottom with `dynamic_target_size`, or computed from the bottoms'
//! shapes by a shape expression (`9=size_expr`: `outw` or `outw,outh`; outh defaults to the input's
//! h). A computed size samples like a dynamic one (scale = input / output size).

use super::shape_expr::{check_one_input, ShapeExpr};
use super::{Context, Op, Params};
use crate::base::{alloc, parallel};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq)]
enum Method {
    /// `resize_type` 0: ncnn passes a blob of unchanged size through and leaves any other output
    /// unwritten.
    None,
    Nearest,
    Bilinear,
    Bicubic,
}

struct Interp {
    method: Method,
    height_scale: f32,
    width_scale: f32,
    output_height: i32,
    output_width: i32,
    dynamic: bool,
    align_corner: bool,
    size_expr: Option<ShapeExpr>,
}

/// What every plane of one blob is resized with.
enum PlanePlan {
    Nearest { xs: Vec<usize>, ys: Vec<usize> },
    Taps { cx: Coeffs, cy: Coeffs },
}

/// Source positions and weights along one axis: `taps` weights per output starting at `index`
/// (bilinear: index, index+1; bicubic: index-1 .. index+2).
struct Coeffs {
    index: Vec<isize>,
    weights: Vec<f32>,
    taps: usize,
    /// Two taps, every one inside the axis (decided once at construction, not per row).
    inside2: bool,
}

/// ncnn's source coordinate of output `dx`: half-pixel centres, or corners aligned.
fn source_coord(dx: usize, scale: f64, align_corner: bool) -> f32 {
    if align_corner {
        (dx as f64 * scale) as f32
    } else {
        ((dx as f64 + 0.5) * scale - 0.5) as f32
    }
}

/// Source step per output sample: corners aligned, else 1/scale when the size came from a
/// scale factor, else input size / output size.
fn axis_scale(n: usize, out: usize, align_corner: bool, factor: Option<f32>) -> f64 {
    match (align_corner, factor) {
        (true, _) => (n as f64 - 1.0) / (out as f64 - 1.0),
        (false, Some(f)) => 1.0 / f64::from(f),
        (false, None) => n as f64 / out as f64,
    }
}

fn linear_coeffs(n: usize, out: usize, align_corner: bool, factor: Option<f32>) -> Coeffs {
    let scale = axis_scale(n, out, align_corner, factor);
    let mut c =
        Coeffs { index: Vec::with_capacity(out), weights: Vec::with_capacity(out * 2), taps: 2, inside2: false };
    for dx in 0..out {
        let mut fx = source_coord(dx, scale, align_corner);
        let mut sx = fx.floor() as isize;
        fx -= sx as f32;
        if sx < 0 {
            sx = 0;
            fx = 0.0;
        }
        if sx >= n as isize - 1 {
            sx = n as isize - 2;
            fx = 1.0;
        }
        c.index.push(sx);
        c.weights.extend([1.0 - fx, fx]);
    }
    c
}

fn cubic_weights(fx: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let fx0 = fx + 1.0;
    let fx1 = fx;
    let fx2 = 1.0 - fx;
    let c0 = A * fx0 * fx0 * fx0 - 5.0 * A * fx0 * fx0 + 8.0 * A * fx0 - 4.0 * A;
    let c1 = (A + 2.0) * fx1 * fx1 * fx1 - (A + 3.0) * fx1 * fx1 + 1.0;
    let c2 = (A + 2.0) * fx2 * fx2 * fx2 - (A + 3.0) * fx2 * fx2 + 1.0;
    [c0, c1, c2, 1.0 - c0 - c1 - c2]
}

fn cubic_coeffs(n: usize, out: usize, align_corner: bool, factor: Option<f32>) -> Coeffs {
    let scale = axis_scale(n, out, align_corner, factor);
    let n = n as isize;
    let mut c =
        Coeffs { index: Vec::with_capacity(out), weights: Vec::with_capacity(out * 4), taps: 4, inside2: false };
    for dx in 0..out {
        let mut fx = source_coord(dx, scale, align_corner);
        let mut sx = fx.floor() as isize;
        fx -= sx as f32;
        let mut a = cubic_weights(fx);
        // Taps outside the input fold onto the edge samples; the checks run in sequence as in ncnn.
        if sx <= -1 {
            sx = 1;
            a = [1.0 - a[3], a[3], 0.0, 0.0];
        }
        if sx == 0 {
            sx = 1;
            a = [a[0] + a[1], a[2], a[3], 0.0];
        }
        if sx == n - 2 {
            sx = n - 3;
            a = [0.0, a[0], a[1], a[2] + a[3]];
        }
        if sx >= n - 1 {
            sx = n - 3;
            a = [0.0, 0.0, a[0], 1.0 - a[0]];
        }
        c.index.push(sx);
        c.weights.extend(a);
    }
    c
}

impl Coeffs {
    /// First tap's offset from `index` (bicubic starts one sample to the left).
    fn first(&self) -> isize {
        if self.taps == 4 {
            -1
        } else {
            0
        }
    }

    /// Whether every tap lies inside an axis of `n` samples (bilinear on n >= 2 always does).
    fn all_inside(&self, n: usize) -> bool {
        let first = self.first();
        self.index.iter().all(|&i| i + first >= 0 && ((i + first) as usize + self.taps) <= n)
    }

    /// Resamples one row. A tap with weight 0 may point outside the row (ncnn reads it and
    /// multiplies by 0); it is skipped here.
    fn apply(&self, row: &[f32], out: &mut [f32]) {
        if self.inside2 {
            return self.apply_inside2(row, out);
        }
        self.apply_any(row, out);
    }

    /// [`Coeffs::apply`] for two taps that all lie inside the row: the same sums in the same order
    /// (0 + a·w0 + b·w1, so the same bits), without the per-tap range checks and slicing, which
    /// made `nanodet_m`'s four bilinear Interps 12 % of its forward pass.
    fn apply_inside2(&self, row: &[f32], out: &mut [f32]) {
        for ((o, &i), w) in out.iter_mut().zip(&self.index).zip(self.weights.chunks_exact(2)) {
            let i = i as usize;
            let mut acc = 0.0f32;
            acc += row[i] * w[0];
            acc += row[i + 1] * w[1];
            *o = acc;
        }
    }

    /// The reference for every tap count and position.
    fn apply_any(&self, row: &[f32], out: &mut [f32]) {
        for (dx, o) in out.iter_mut().enumerate() {
            let base = self.index[dx] + self.first();
            let w = &self.weights[dx * self.taps..(dx + 1) * self.taps];
            let mut acc = 0.0f32;
            for (k, &wk) in w.iter().enumerate() {
                let i = base + k as isize;
                if i >= 0 && (i as usize) < row.len() {
                    acc += row[i as usize] * wk;
                }
            }
            *o = acc;
        }
    }
}

impl Interp {
    /// The scale factor that sets an axis' sampling step: none when its output size is explicit
    /// (param, second input or expression), in which case the step is input size / output size.
    fn factor(&self, explicit_size: i32, scale: f32) -> Option<f32> {
        (explicit_size == 0 && !self.dynamic && self.size_expr.is_none()).then_some(scale)
    }

    fn coeffs(&self, n: usize, out: usize, factor: Option<f32>) -> Coeffs {
        let mut c = match self.method {
            Method::Bicubic => cubic_coeffs(n, out, self.align_corner, factor),
            _ => linear_coeffs(n, out, self.align_corner, factor),
        };
        c.inside2 = c.taps == 2 && c.all_inside(n);
        c
    }

    /// Nearest-neighbour source step (`align_corner` does not apply).
    fn nearest_step(n: usize, out: usize, factor: Option<f32>) -> f32 {
        match factor {
            Some(f) => 1.0 / f,
            None => n as f32 / out as f32,
        }
    }

    fn nearest_index(step: f32, n: usize, out: usize) -> Vec<usize> {
        (0..out).map(|x| ((x as f32 * step) as usize).min(n - 1)).collect()
    }

    /// Resizes every row of a plane of `h` rows from `w` to `ow` samples.
    fn resize_rows(&self, src: &[f32], w: usize, ow: usize, out: &mut [f32]) {
        let fx = self.factor(self.output_width, self.width_scale);
        if self.method == Method::Nearest {
            let xs = Self::nearest_index(Self::nearest_step(w, ow, fx), w, ow);
            for (row, o) in src.chunks(w).zip(out.chunks_mut(ow)) {
                for (v, &x) in o.iter_mut().zip(&xs) {
                    *v = row[x];
                }
            }
            return;
        }
        let cx = self.coeffs(w, ow, fx);
        for (row, o) in src.chunks(w).zip(out.chunks_mut(ow)) {
            cx.apply(row, o);
        }
    }

    /// How every plane of a w×h blob is resized to ow×oh (computed once per blob, not per plane).
    fn plane_plan(&self, w: usize, h: usize, ow: usize, oh: usize) -> PlanePlan {
        let fx = self.factor(self.output_width, self.width_scale);
        let fy = self.factor(self.output_height, self.height_scale);
        if self.method == Method::Nearest {
            let ys = Self::nearest_index(Self::nearest_step(h, oh, fy), h, oh);
            let xs = Self::nearest_index(Self::nearest_step(w, ow, fx), w, ow);
            return PlanePlan::Nearest { xs, ys };
        }
        PlanePlan::Taps { cx: self.coeffs(w, ow, fx), cy: self.coeffs(h, oh, fy) }
    }

    /// Resizes one w×h plane to ow×oh: horizontal pass per source row, then vertical blend.
    fn resize_plane(plan: &PlanePlan, src: &[f32], w: usize, h: usize, ow: usize, out: &mut [f32]) -> Result<()> {
        let (cx, cy) = match plan {
            PlanePlan::Nearest { xs, ys } => {
                for (o, &y) in out.chunks_mut(ow).zip(ys) {
                    let row = &src[y * w..(y + 1) * w];
                    for (v, &x) in o.iter_mut().zip(xs) {
                        *v = row[x];
                    }
                }
                return Ok(());
            }
            PlanePlan::Taps { cx, cy } => (cx, cy),
        };
        let mut rows = alloc::zeroed(h * ow)?;
        for (row, r) in src.chunks(w).zip(rows.chunks_mut(ow)) {
            cx.apply(row, r);
        }
        if cy.inside2 {
            // Both rows exist: the loop below in one pass, the same sums (0 + r0·b0 + r1·b1).
            for ((o, &y), b) in out.chunks_mut(ow).zip(&cy.index).zip(cy.weights.chunks_exact(2)) {
                let y = y as usize;
                let (r0, r1) = (&rows[y * ow..(y + 1) * ow], &rows[(y + 1) * ow..(y + 2) * ow]);
                for ((v, &s0), &s1) in o.iter_mut().zip(r0).zip(r1) {
                    let mut acc = 0.0f32;
                    acc += s0 * b[0];
                    acc += s1 * b[1];
                    *v = acc;
                }
            }
            return Ok(());
        }
        for (dy, o) in out.chunks_mut(ow).enumerate() {
            let base = cy.index[dy] + cy.first();
            let b = &cy.weights[dy * cy.taps..(dy + 1) * cy.taps];
            o.fill(0.0);
            for (k, &bk) in b.iter().enumerate() {
                let y = base + k as isize;
                if y < 0 || y as usize >= h {
                    continue;
                }
                let r = &rows[y as usize * ow..(y as usize + 1) * ow];
                for (v, &s) in o.iter_mut().zip(r) {
                    *v += s * bk;
                }
            }
        }
        Ok(())
    }
}

impl Op for Interp {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let x = bottoms.first().ok_or_else(|| ctx.shape_error("no input"))?.clone();
        let s = x.shape;
        if s.dims == 4 {
            return Err(ctx.shape_error(format!("takes a 1-D, 2-D or 3-D blob, got {s}")));
        }
        let (ow, oh) = if let Some(e) = &self.size_expr {
            match e.eval(&bottoms, ctx)?[..] {
                [w] => (i64::from(w), s.h as i64),
                [w, h] => (i64::from(w), i64::from(h)),
                ref v => return Err(ctx.shape_error(format!("parameter 9 gives {} sizes, not 1 or 2", v.len()))),
            }
        } else if self.dynamic {
            let r = bottoms.get(1).ok_or_else(|| ctx.shape_error("dynamic_target_size needs a second input"))?;
            (r.shape.w as i64, r.shape.h as i64)
        } else if self.output_width != 0 && self.output_height != 0 {
            (i64::from(self.output_width), i64::from(self.output_height))
        } else {
            // A 1-D blob counts as 1×1 here.
            let (w, h) = if s.dims == 1 { (1.0, 1.0) } else { (s.w as f32, s.h as f32) };
            ((w * self.width_scale) as i64, (h * self.height_scale) as i64)
        };
        let (ow, oh) = match (usize::try_from(ow), usize::try_from(oh)) {
            (Ok(w), Ok(h)) if w > 0 && (h > 0 || s.dims == 2) => (w, h),
            _ => return Err(ctx.shape_error(format!("output size {ow}x{oh} is empty"))),
        };
        let src = x.f32();
        match s.dims {
            1 => {
                let mut out = alloc::with_capacity(alloc::count(&[ow, oh, s.w])?)?;
                for &v in src {
                    out.extend(std::iter::repeat_n(v, ow * oh));
                }
                super::one(Tensor::new(Shape::d3(ow, oh, s.w), out))
            }
            2 => {
                if ow == s.w {
                    return Ok(vec![x]);
                }
                self.check_method(&[s.w], ctx)?;
                let mut out = alloc::zeroed(alloc::count(&[ow, s.h])?)?;
                self.resize_rows(src, s.w, ow, &mut out);
                super::one(Tensor::new(Shape::d2(ow, s.h), out))
            }
            _ => {
                if ow == s.w && oh == s.h {
                    return Ok(vec![x]);
                }
                self.check_method(&[s.w, s.h], ctx)?;
                let plane = s.w * s.h;
                let mut out = alloc::zeroed(alloc::count(&[ow, oh, s.c])?)?;
                let plan = self.plane_plan(s.w, s.h, ow, oh);
                parallel::try_for_each_chunk(&mut out, ow * oh, 1, |q, o| {
                    Self::resize_plane(&plan, &src[q * plane..(q + 1) * plane], s.w, s.h, ow, o)
                })?;
                super::one(Tensor::new(Shape::d3(ow, oh, s.c), out))
            }
        }
    }
}

impl Interp {
    /// A resize must have a method, and bicubic reads 4 samples around each position without
    /// clamping them: below 4 input samples ncnn would read outside the blob.
    fn check_method(&self, extents: &[usize], ctx: &Context) -> Result<()> {
        if self.method == Method::None {
            return Err(ctx.shape_error("resize_type 0 cannot change the size"));
        }
        if self.method == Method::Bicubic && extents.iter().any(|&n| n < 4) {
            return Err(ctx.shape_error(format!("bicubic resize needs at least 4 samples per axis, got {extents:?}")));
        }
        Ok(())
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let size_expr = ShapeExpr::read(&p, 9)?;
    if let Some(e) = &size_expr {
        let n = e.expression().len();
        if n > 2 {
            return Err(p.invalid(format!("parameter 9 lists {n} sizes; Interp takes outw or outw,outh")));
        }
        if e.expression().blob_count() > layer.bottoms.len() {
            return Err(p.invalid(format!(
                "parameter 9 reads input {} but the layer has {}",
                e.expression().blob_count() - 1,
                layer.bottoms.len()
            )));
        }
    }
    let reads_second = size_expr.as_ref().is_some_and(|e| e.expression().blob_count() > 1);
    check_one_input(
        &p,
        p.int(5) == 0 && !reads_second,
        layer.bottoms.len(),
        "without 5=1 or an expression reading another",
    )?;
    let method = match p.int(0) {
        0 => Method::None,
        1 => Method::Nearest,
        2 => Method::Bilinear,
        3 => Method::Bicubic,
        other => return Err(p.invalid(format!("resize_type {other} is not 1 (nearest), 2 (bilinear) or 3 (bicubic)"))),
    };
    Ok(Box::new(Interp {
        method,
        height_scale: p.float(1),
        width_scale: p.float(2),
        output_height: p.int(3),
        output_width: p.int(4),
        dynamic: p.int(5) != 0,
        align_corner: p.int(6) != 0,
        size_expr,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testutil::Rng;

    fn interp(method: Method, align_corner: bool, scales: Option<(f32, f32)>) -> Interp {
        let (height_scale, width_scale) = scales.unwrap_or((0.0, 0.0));
        Interp {
            method,
            height_scale,
            width_scale,
            // Non-zero: an explicit size, whose step is input size / output size.
            output_height: i32::from(scales.is_none()),
            output_width: i32::from(scales.is_none()),
            dynamic: false,
            align_corner,
            size_expr: None,
        }
    }

    /// The plane resize as it was before the two-tap paths: every tap range-checked, rows
    /// accumulated into a zeroed output.
    fn reference_plane(plan: &PlanePlan, src: &[f32], w: usize, h: usize, ow: usize, oh: usize) -> Vec<f32> {
        let PlanePlan::Taps { cx, cy } = plan else { unreachable!("taps only") };
        let mut rows = vec![0.0; h * ow];
        for (row, r) in src.chunks(w).zip(rows.chunks_mut(ow)) {
            cx.apply_any(row, r);
        }
        let mut out = vec![0.0; ow * oh];
        for (dy, o) in out.chunks_mut(ow).enumerate() {
            let base = cy.index[dy] + cy.first();
            for (k, &bk) in cy.weights[dy * cy.taps..(dy + 1) * cy.taps].iter().enumerate() {
                let y = base + k as isize;
                if y >= 0 && (y as usize) < h {
                    for (v, &s) in o.iter_mut().zip(&rows[y as usize * ow..(y as usize + 1) * ow]) {
                        *v += s * bk;
                    }
                }
            }
        }
        out
    }

    /// The two-tap paths give the reference's bits (calibration tables depend on them) on every
    /// size from 1 sample up, upscaling and downscaling, by scale factor or by size, corners
    /// aligned or not; signed zeros included (-0.0 inputs).
    #[test]
    fn two_tap_paths_give_the_reference_bits() {
        let mut rng = Rng::new(7);
        let mut fast_planes = 0;
        for case in 0..600 {
            let (w, h) = (1 + rng.below(12), 1 + rng.below(12));
            let align = case % 3 == 0;
            let (it, ow, oh) = if case % 2 == 0 {
                let (sw, sh) = ([0.5f32, 2.0, 1.5, 0.75, 3.0][rng.below(5)], [0.5f32, 2.0, 1.25, 3.0][rng.below(4)]);
                let (ow, oh) = ((w as f32 * sw) as usize, (h as f32 * sh) as usize);
                (interp(Method::Bilinear, align, Some((sh, sw))), ow, oh)
            } else {
                (interp(Method::Bilinear, align, None), 1 + rng.below(20), 1 + rng.below(20))
            };
            if ow == 0 || oh == 0 || (align && (ow == 1 || oh == 1)) {
                continue;
            }
            let mut src = rng.vec(w * h);
            for v in src.iter_mut().step_by(5) {
                *v = -0.0;
            }
            let plan = it.plane_plan(w, h, ow, oh);
            if matches!(&plan, PlanePlan::Taps { cy, .. } if cy.inside2) {
                fast_planes += 1;
            }
            let mut got = vec![f32::NAN; ow * oh];
            Interp::resize_plane(&plan, &src, w, h, ow, &mut got).unwrap();
            let want = reference_plane(&plan, &src, w, h, ow, oh);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{w}x{h} -> {ow}x{oh}, align_corner {align}");
        }
        assert!(fast_planes > 300, "only {fast_planes} planes took the two-tap vertical path");
    }
}
