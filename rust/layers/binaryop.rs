//! BinaryOp: the 19 element-wise binary operations of ncnn between two blobs (with ncnn's
//! broadcasting) or between a blob and the scalar parameter `b`.
//!
//! Broadcasting (ncnn's current rule, `binaryop_x86.cpp`): the output has the larger rank. The
//! lower-rank operand is first given that rank by aligning its axes with the *outer* axes of the
//! other, in numpy order (c, d, h, w):
//!
//! | operand | other rank | becomes |
//! |---|---|---|
//! | 1-D [w] | 2 | [w, 1] (a column) if w equals the other's h, else [1, w] |
//! | 1-D [w] | 3 or 4 | per channel [w, 1, 1(, 1)] if w equals the other's c, else [1, 1(, 1), w] |
//! | 2-D [h, w] | 3 | [h, w, 1] |
//! | 2-D [h, w] | 4 | [h, w, 1, 1] |
//! | 3-D [c, h, w] | 4 | [c, h, w, 1] |
//!
//! Then each axis broadcasts numpy-style: extents must be equal or one of them 1. Shapes that
//! do not broadcast are an error here (ncnn reads out of bounds on them).

use super::{map_inplace, one, take, Context, Op, Params, PAR_CHUNK};
use crate::base::{alloc, parallel};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
    RSub,
    RDiv,
    RPow,
    Atan2,
    RAtan2,
    Fmod,
    RFmod,
    LogAddExp,
    FloorDivide,
    RFloorDivide,
    Remainder,
    RRemainder,
}

impl BinOp {
    /// ncnn's `op_type` codes, in order.
    const ALL: [BinOp; 19] = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Max,
        BinOp::Min,
        BinOp::Pow,
        BinOp::RSub,
        BinOp::RDiv,
        BinOp::RPow,
        BinOp::Atan2,
        BinOp::RAtan2,
        BinOp::Fmod,
        BinOp::RFmod,
        BinOp::LogAddExp,
        BinOp::FloorDivide,
        BinOp::RFloorDivide,
        BinOp::Remainder,
        BinOp::RRemainder,
    ];

    fn from_code(code: i32) -> Option<BinOp> {
        usize::try_from(code).ok().and_then(|i| BinOp::ALL.get(i).copied())
    }
}

/// `std::max` / `std::min` as ncnn's scalar code uses them (NaN handling included).
#[inline(always)]
fn max(x: f32, y: f32) -> f32 {
    if x < y {
        y
    } else {
        x
    }
}

#[inline(always)]
fn min(x: f32, y: f32) -> f32 {
    if y < x {
        y
    } else {
        x
    }
}

#[inline(always)]
fn logaddexp(x: f32, y: f32) -> f32 {
    let (hi, lo) = (max(x, y), min(x, y));
    hi + (lo - hi).exp().ln_1p()
}

/// IEEE remainder (C `remainderf`): x − n·y with n = x/y rounded half to even. In f64 the
/// quotient and product of two f32 are exact enough for the rounding to be right.
#[inline(always)]
fn remainder(x: f32, y: f32) -> f32 {
    let (x, y) = (f64::from(x), f64::from(y));
    (x - (x / y).round_ties_even() * y) as f32
}

/// Runs `$body` with `$f` bound to the op's function, so each op gets its own monomorphized
/// loop.
macro_rules! with_op {
    ($op:expr, $f:ident => $body:expr) => {
        match $op {
            BinOp::Add => {
                let $f = |x: f32, y: f32| x + y;
                $body
            }
            BinOp::Sub => {
                let $f = |x: f32, y: f32| x - y;
                $body
            }
            BinOp::Mul => {
                let $f = |x: f32, y: f32| x * y;
                $body
            }
            BinOp::Div => {
                let $f = |x: f32, y: f32| x / y;
                $body
            }
            BinOp::Max => {
                let $f = max;
                $body
            }
            BinOp::Min => {
                let $f = min;
                $body
            }
            BinOp::Pow => {
                let $f = |x: f32, y: f32| x.powf(y);
                $body
            }
            BinOp::RSub => {
                let $f = |x: f32, y: f32| y - x;
                $body
            }
            BinOp::RDiv => {
                let $f = |x: f32, y: f32| y / x;
                $body
            }
            BinOp::RPow => {
                let $f = |x: f32, y: f32| y.powf(x);
                $body
            }
            BinOp::Atan2 => {
                let $f = |x: f32, y: f32| x.atan2(y);
                $body
            }
            BinOp::RAtan2 => {
                let $f = |x: f32, y: f32| y.atan2(x);
                $body
            }
            BinOp::Fmod => {
                let $f = |x: f32, y: f32| x % y;
                $body
            }
            BinOp::RFmod => {
                let $f = |x: f32, y: f32| y % x;
                $body
            }
            BinOp::LogAddExp => {
                let $f = logaddexp;
                $body
            }
            BinOp::FloorDivide => {
                let $f = |x: f32, y: f32| (x / y).floor();
                $body
            }
            BinOp::RFloorDivide => {
                let $f = |x: f32, y: f32| (y / x).floor();
                $body
            }
            BinOp::Remainder => {
                let $f = remainder;
                $body
            }
            BinOp::RRemainder => {
                let $f = |x: f32, y: f32| remainder(y, x);
                $body
            }
        }
    };
}

/// Extents in numpy order (c, d, h, w).
type Extents = [usize; 4];

/// The operand's extents after ncnn's rank expansion to `outdims` (see module docs); `other` is
/// the operand of rank `outdims`.
fn expanded(s: &Shape, other: &Shape, outdims: usize) -> Extents {
    match (s.dims, outdims) {
        (1, 1) => [1, 1, 1, s.w],
        (2, 2) => [1, 1, s.h, s.w],
        (3, 3) => [s.c, 1, s.h, s.w],
        (4, 4) => [s.c, s.d, s.h, s.w],
        (1, 2) if s.w == other.h => [1, 1, s.w, 1],
        (1, 2) => [1, 1, 1, s.w],
        (1, _) if s.w == other.c => [s.w, 1, 1, 1],
        (1, _) => [1, 1, 1, s.w],
        (2, 3) => [s.h, 1, s.w, 1],
        (2, _) => [s.h, s.w, 1, 1],
        _ => [s.c, s.h, s.w, 1],
    }
}

fn shape_of(ext: Extents, dims: usize) -> Shape {
    let [c, d, h, w] = ext;
    match dims {
        1 => Shape::d1(w),
        2 => Shape::d2(w, h),
        3 => Shape::d3(w, h, c),
        _ => Shape::d4(w, h, d, c),
    }
}

/// Element strides of a dense operand, 0 along its broadcast (extent-1) axes.
fn strides(ext: Extents) -> Extents {
    let [_, d, h, w] = ext;
    let dense = [d * h * w, h * w, w, 1];
    std::array::from_fn(|i| if ext[i] == 1 { 0 } else { dense[i] })
}

/// The output extents of broadcasting `a` with `b`, or `None` when they do not broadcast.
fn broadcast(a: Extents, b: Extents) -> Option<Extents> {
    let mut out = [0; 4];
    for i in 0..4 {
        out[i] = match (a[i], b[i]) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// For every output row (`ext[3]` elements, in parallel): `f(row, start)`, where `start` is
/// the row's first element in an operand of strides `step`.
fn for_each_row(dst: &mut [f32], ext: Extents, step: Extents, f: impl Fn(&mut [f32], usize) + Sync + Send) {
    let [_, d, h, w] = ext;
    if dst.is_empty() || w == 0 {
        return;
    }
    parallel::for_each_chunk(dst, w, parallel::min_chunks(w, PAR_CHUNK), |r, row| {
        let (y, z, q) = (r % h, (r / h) % d, r / (h * d));
        f(row, q * step[0] + z * step[1] + y * step[2]);
    });
}

/// dst[i] = f(dst[i], other[i broadcast]) over the output extents `ext`.
fn combine(dst: &mut [f32], ext: Extents, other: &[f32], other_ext: Extents, f: impl Fn(f32, f32) -> f32 + Sync) {
    let s = strides(other_ext);
    for_each_row(dst, ext, s, |row, start| {
        if s[3] == 0 {
            let v = other[start];
            for x in row.iter_mut() {
                *x = f(*x, v);
            }
        } else {
            let n = row.len();
            row.iter_mut().zip(&other[start..start + n]).for_each(|(x, &y)| *x = f(*x, y));
        }
    });
}

/// `src` broadcast to the extents `ext`, materialized.
fn expand(src: &[f32], src_ext: Extents, ext: Extents) -> Result<Vec<f32>> {
    let mut out = alloc::zeroed(ext.iter().product())?;
    let s = strides(src_ext);
    for_each_row(&mut out, ext, s, |row, start| {
        if s[3] == 0 {
            row.fill(src[start]);
        } else {
            let n = row.len();
            row.copy_from_slice(&src[start..start + n]);
        }
    });
    Ok(out)
}

struct BinaryOp {
    op: BinOp,
    /// `Some(b)` for the one-input form (`with_scalar`).
    scalar: Option<f32>,
}

impl BinaryOp {
    fn blobs<F>(f: F, a: Arc<Tensor>, b: Arc<Tensor>, ctx: &Context) -> Result<Tensor>
    where
        F: Fn(f32, f32) -> f32 + Sync + Send + Copy,
    {
        let outdims = a.shape.dims.max(b.shape.dims);
        let ea = expanded(&a.shape, &b.shape, outdims);
        let eb = expanded(&b.shape, &a.shape, outdims);
        let ext = broadcast(ea, eb)
            .ok_or_else(|| ctx.shape_error(format!("cannot broadcast {} with {}", a.shape, b.shape)))?;
        let shape = shape_of(ext, outdims);
        // Work in the buffer of an operand that already has the output's extents, preferring
        // one nobody else holds, so that it is reused rather than copied.
        let reuse_b = eb == ext && (ea != ext || (Arc::strong_count(&a) > 1 && Arc::strong_count(&b) == 1));
        if reuse_b {
            let mut t = take(b)?;
            combine(t.f32_mut(), ext, a.f32(), ea, move |y, x| f(x, y));
            return Ok(t.reshaped(shape));
        }
        if ea == ext {
            let mut t = take(a)?;
            combine(t.f32_mut(), ext, b.f32(), eb, f);
            return Ok(t.reshaped(shape));
        }
        let mut out = expand(a.f32(), ea, ext)?;
        combine(&mut out, ext, b.f32(), eb, f);
        Ok(Tensor::new(shape, out))
    }
}

impl Op for BinaryOp {
    fn forward(&self, mut bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        if let Some(b) = self.scalar {
            let mut t = take(super::single(bottoms, ctx)?)?;
            with_op!(self.op, f => map_inplace(t.f32_mut(), move |x| f(x, b)));
            return one(t);
        }
        if bottoms.len() != 2 {
            return Err(ctx.shape_error(format!("expects 2 inputs, got {}", bottoms.len())));
        }
        let b = bottoms.pop().expect("two bottoms");
        let a = bottoms.pop().expect("two bottoms");
        one(with_op!(self.op, f => Self::blobs(f, a, b, ctx))?)
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let op = BinOp::from_code(p.int(0))
        .ok_or_else(|| p.invalid(format!("op_type {} is not one of ncnn's binary ops 0..18", p.int(0))))?;
    let scalar = (p.int(1) != 0).then(|| p.float(2));
    Ok(Box::new(BinaryOp { op, scalar }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_expansion_aligns_outer_axes() {
        let b3 = Shape::d3(5, 4, 3);
        assert_eq!(expanded(&Shape::d1(3), &b3, 3), [3, 1, 1, 1]);
        assert_eq!(expanded(&Shape::d1(5), &b3, 3), [1, 1, 1, 5]);
        assert_eq!(expanded(&Shape::d2(4, 3), &b3, 3), [3, 1, 4, 1]);
        let b2 = Shape::d2(6, 6);
        assert_eq!(expanded(&Shape::d1(6), &b2, 2), [1, 1, 6, 1]);
        let b4 = Shape::d4(5, 4, 2, 3);
        assert_eq!(expanded(&Shape::d3(4, 2, 3), &b4, 4), [3, 2, 4, 1]);
        assert_eq!(expanded(&Shape::d2(2, 3), &b4, 4), [3, 2, 1, 1]);
        assert_eq!(broadcast([3, 1, 4, 1], [1, 1, 1, 5]), Some([3, 1, 4, 5]));
        assert_eq!(broadcast([3, 1, 4, 2], [1, 1, 1, 5]), None);
    }

    /// The broadcast loops against a direct per-element evaluation.
    #[test]
    fn combine_and_expand_match_direct_indexing() {
        let ea = [3, 1, 4, 1];
        let eb = [1, 2, 1, 5];
        let ext = broadcast(ea, eb).expect("broadcasts");
        let a: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..10).map(|i| 100.0 * i as f32).collect();
        let mut out = expand(&a, ea, ext).unwrap();
        combine(&mut out, ext, &b, eb, |x, y| x - y);
        let (sa, sb) = (strides(ea), strides(eb));
        let mut i = 0;
        for q in 0..ext[0] {
            for z in 0..ext[1] {
                for y in 0..ext[2] {
                    for x in 0..ext[3] {
                        let ia = q * sa[0] + z * sa[1] + y * sa[2] + x * sa[3];
                        let ib = q * sb[0] + z * sb[1] + y * sb[2] + x * sb[3];
                        assert_eq!(out[i], a[ia] - b[ib]);
                        i += 1;
                    }
                }
            }
        }
        assert_eq!(i, out.len());
    }

    #[test]
    fn remainder_is_ieee() {
        assert_eq!(remainder(5.0, 2.0), 1.0);
        assert_eq!(remainder(7.0, 2.0), -1.0);
        assert_eq!(remainder(-5.5, 2.0), 0.5);
        assert!(remainder(1.0, 0.0).is_nan());
    }
}
