//! Gemm: Y = alpha · (A·B + beta · C), ncnn's form (alpha scales C too, unlike ONNX).
//!
//! A (M×K) and B (K×N) come from bottoms or from constant weights; transA/transB say how each is
//! stored. C is optional and broadcast: a scalar, per row (M), per column (N) or full M×N. The
//! constant side is packed once for the f32 GEMM kernel; the other side is fed as its operand.

use super::{Context, Op, Params};
use crate::base::alloc;
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::kernels::gemm_f32::{self, Epilogue, PackedA};
use crate::model::Layer;
use std::sync::Arc;

/// A 2-D view of a blob the way ncnn's Gemm reads it: rows are a 3-D blob's channels (for the
/// N1M layout) or a 2-D blob's rows; each row holds `cols` values.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> View<'a> {
    fn of(t: &'a Tensor, ctx: &Context, what: &str) -> Result<View<'a>> {
        let s = t.shape;
        let (rows, stride) = match s.dims {
            1 | 2 => (s.h, s.w),
            3 => (s.c, s.channel_len()),
            _ => return Err(ctx.shape_error(format!("{what} must have 1 to 3 dims, got {s}"))),
        };
        Ok(View { data: t.f32(), rows, cols: s.w, stride })
    }

    /// Dense row-major copy, transposed or not.
    fn dense(&self, transpose: bool) -> (Vec<f32>, usize, usize) {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        if transpose {
            for j in 0..self.cols {
                out.extend((0..self.rows).map(|i| self.data[i * self.stride + j]));
            }
            (out, self.cols, self.rows)
        } else {
            for i in 0..self.rows {
                out.extend_from_slice(&self.data[i * self.stride..i * self.stride + self.cols]);
            }
            (out, self.rows, self.cols)
        }
    }
}

/// Where C comes from and how it broadcasts (ncnn's `constant_broadcast_type_C` codes).
struct CTerm<'a> {
    data: &'a [f32],
    broadcast: i32,
}

impl CTerm<'_> {
    /// The broadcast type ncnn infers from a C bottom's shape (later matches win; no match
    /// means the first value is used as a scalar).
    fn infer(s: &Shape, m: usize, n: usize) -> i32 {
        let mut t = 0;
        if s.dims == 1 && s.w == m {
            t = 1;
        }
        if s.dims == 1 && s.w == n {
            t = 4;
        }
        if s.dims == 2 && s.w == 1 && s.h == m {
            t = 2;
        }
        if s.dims == 2 && s.w == n && s.h == m {
            t = 3;
        }
        if s.dims == 2 && s.w == n && s.h == 1 {
            t = 4;
        }
        t
    }

    fn needed(&self, m: usize, n: usize) -> usize {
        match self.broadcast {
            1 | 2 => m,
            3 => m * n,
            4 => n,
            _ => 1,
        }
    }

    #[inline]
    fn at(&self, i: usize, j: usize, n: usize) -> f32 {
        match self.broadcast {
            1 | 2 => self.data[i],
            3 => self.data[i * n + j],
            4 => self.data[j],
            _ => self.data[0],
        }
    }
}

enum Constant {
    None,
    /// A packed as M×K.
    A(PackedA),
    /// Bᵀ packed as N×K.
    Bt(PackedA),
    /// Both constant: the product is fixed, only C may vary.
    Both(Vec<f32>, usize, usize),
}

struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
    constant: Constant,
    constant_c: Option<(Vec<f32>, i32)>,
    uses_c_bottom: bool,
    output_n1m: bool,
    output_transpose: bool,
}

impl Gemm {
    /// The product, as (values, transposed): M×N, or N×M when `transposed`.
    fn product(&self, bottoms: &[Arc<Tensor>], ctx: &Context) -> Result<(Vec<f32>, usize, usize, bool)> {
        let mismatch = |ka: usize, kb: usize| ctx.shape_error(format!("A has K={ka} but B has K={kb}"));
        match &self.constant {
            Constant::Both(p, m, n) => Ok((p.clone(), *m, *n, false)),
            Constant::A(a) => {
                let b = View::of(&bottoms[0], ctx, "B")?;
                // The kernel wants B as K×N row-major.
                let (b, k, n) = b.dense(self.trans_b);
                if k != a.k {
                    return Err(mismatch(a.k, k));
                }
                let mut out = alloc::zeroed(a.m * n)?;
                gemm_f32::gemm(a, &b, n, &mut out, Epilogue::NONE);
                Ok((out, a.m, n, false))
            }
            Constant::Bt(bt) => {
                let a = View::of(&bottoms[0], ctx, "A")?;
                // (A·B)ᵀ = Bᵀ·Aᵀ with Aᵀ as the K×M operand.
                let (at, k, m) = a.dense(!self.trans_a);
                if k != bt.k {
                    return Err(mismatch(k, bt.k));
                }
                let mut out = alloc::zeroed(bt.m * m)?;
                gemm_f32::gemm(bt, &at, m, &mut out, Epilogue::NONE);
                Ok((out, m, bt.m, true))
            }
            Constant::None => {
                let (a, m, ka) = View::of(&bottoms[0], ctx, "A")?.dense(self.trans_a);
                let (b, kb, n) = View::of(&bottoms[1], ctx, "B")?.dense(self.trans_b);
                if ka != kb {
                    return Err(mismatch(ka, kb));
                }
                let packed = PackedA::new(&a, m, ka);
                let mut out = alloc::zeroed(m * n)?;
                gemm_f32::gemm(&packed, &b, n, &mut out, Epilogue::NONE);
                Ok((out, m, n, false))
            }
        }
    }
}

impl Op for Gemm {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let matrices = match self.constant {
            Constant::Both(..) => 0,
            Constant::A(_) | Constant::Bt(_) => 1,
            Constant::None => 2,
        };
        if bottoms.len() < matrices || bottoms.len() > matrices + 1 {
            let expected = matrices + usize::from(self.uses_c_bottom);
            return Err(ctx.shape_error(format!("expects {expected} inputs, got {}", bottoms.len())));
        }
        let (p, m, n, transposed) = self.product(&bottoms, ctx)?;
        let c = match &self.constant_c {
            Some((data, t)) => (*t != -1).then_some(CTerm { data, broadcast: *t }),
            None => bottoms.get(matrices).map(|t| CTerm { data: t.f32(), broadcast: CTerm::infer(&t.shape, m, n) }),
        };
        if let Some(c) = &c {
            if c.data.len() < c.needed(m, n) {
                return Err(ctx.shape_error(format!(
                    "C holds {} values, broadcast type {} needs {}",
                    c.data.len(),
                    c.broadcast,
                    c.needed(m, n)
                )));
            }
        }
        let mut out = alloc::zeroed(m * n)?;
        for i in 0..m {
            for j in 0..n {
                let mut v = if transposed { p[j * m + i] } else { p[i * n + j] };
                if let Some(c) = &c {
                    v += self.beta * c.at(i, j, n);
                }
                v *= self.alpha;
                if self.output_transpose {
                    out[j * m + i] = v;
                } else {
                    out[i * n + j] = v;
                }
            }
        }
        let (outer, inner) = if self.output_transpose { (n, m) } else { (m, n) };
        let shape = if self.output_n1m { Shape::d3(inner, 1, outer) } else { Shape::d2(inner, outer) };
        Ok(vec![Arc::new(Tensor::new(shape, out))])
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(18) != 0 {
        return Err(super::unsupported(layer, "int8 Gemm"));
    }
    let (trans_a, trans_b) = (p.int(2) != 0, p.int(3) != 0);
    let (const_a, const_b, const_c) = (p.int(4) != 0, p.int(5) != 0, p.int(6) != 0);
    let dim = |id: u32, what: &str| -> Result<usize> {
        let v = p.int(id);
        if v <= 0 {
            return Err(p.invalid(format!("{what} must be positive when the matrix is constant, got {v}")));
        }
        Ok(v as usize)
    };
    let a = if const_a {
        let (m, k) = (dim(7, "constantM")?, dim(9, "constantK")?);
        let data = p.weight_f32("A")?;
        // Stored as M rows of K, or K rows of M when transA.
        let (rows, cols) = if trans_a { (k, m) } else { (m, k) };
        let view = View { data: &data, rows, cols, stride: cols };
        Some(view.dense(trans_a))
    } else {
        None
    };
    let bt = if const_b {
        let (n, k) = (dim(8, "constantN")?, dim(9, "constantK")?);
        let data = p.weight_f32("B")?;
        // Stored as K rows of N, or N rows of K when transB; we keep Bᵀ (N×K).
        let (rows, cols) = if trans_b { (n, k) } else { (k, n) };
        let view = View { data: &data, rows, cols, stride: cols };
        Some(view.dense(!trans_b))
    } else {
        None
    };
    let constant = match (a, bt) {
        (Some((a, m, k)), Some((bt, n, _))) => {
            // Both constant: compute the product once.
            let (b, _, _) = View { data: &bt, rows: n, cols: k, stride: k }.dense(true);
            let mut out = alloc::zeroed(m * n)?;
            gemm_f32::gemm(&PackedA::new(&a, m, k), &b, n, &mut out, Epilogue::NONE);
            Constant::Both(out, m, n)
        }
        (Some((a, m, k)), None) => Constant::A(PackedA::new(&a, m, k)),
        (None, Some((bt, n, k))) => Constant::Bt(PackedA::new(&bt, n, k)),
        (None, None) => Constant::None,
    };
    let constant_c = if const_c {
        let t = p.int(10);
        if !(-1..=4).contains(&t) {
            return Err(p.invalid(format!("constant_broadcast_type_C {t} is not one of -1..4")));
        }
        Some((if t == -1 { Vec::new() } else { p.weight_f32("C")? }, t))
    } else {
        None
    };
    let matrices = usize::from(!const_a) + usize::from(!const_b);
    Ok(Box::new(Gemm {
        alpha: p.float(0),
        beta: p.float(1),
        trans_a,
        trans_b,
        constant,
        constant_c,
        uses_c_bottom: !const_c && layer.bottoms.len() > matrices,
        output_n1m: p.int(11) != 0,
        output_transpose: p.int(14) != 0,
    }))
}
