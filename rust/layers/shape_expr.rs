//! A layer's shape expression parameter (`model/expression.rs`), parsed when the layer is built
//! and evaluated against the shapes of its bottoms on each run.

use super::{Context, Params};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::expression::{Expression, Extents};
use std::sync::Arc;

pub struct ShapeExpr {
    expr: Expression,
    id: u32,
}

/// What ncnn's `Mat::shape()` gives a size token: unused extents are 1 (0 for an empty blob), and
/// the batch is 1.
pub fn extents(s: &Shape) -> Extents {
    let v = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    Extents { w: v(s.w), h: v(s.h), d: v(s.d), c: v(s.c), n: 1 }
}

/// ncnn refuses to load a layer it runs as one-input (`one_blob_only`) with more bottoms; which
/// layers are one-input depends on their parameters (an expression reading a second bottom, a
/// dynamic size), so the check is the layer's.
pub fn check_one_input(p: &Params, one_input: bool, bottoms: usize, why: &str) -> Result<()> {
    if one_input && bottoms != 1 {
        return Err(p.invalid(format!("has {bottoms} inputs but takes one {why} (ncnn refuses to load it)")));
    }
    Ok(())
}

impl ShapeExpr {
    /// The expression in parameter `id`, or `None` when it is not set.
    pub fn read(p: &Params, id: u32) -> Result<Option<ShapeExpr>> {
        let text = p.string(id);
        if text.is_empty() {
            return Ok(None);
        }
        let expr = Expression::parse(&text).map_err(|m| p.invalid(format!("parameter {id} \"{text}\": {m}")))?;
        Ok(Some(ShapeExpr { expr, id }))
    }

    pub fn expression(&self) -> &Expression {
        &self.expr
    }

    /// The list's values for these bottoms.
    pub fn eval(&self, bottoms: &[Arc<Tensor>], ctx: &Context) -> Result<Vec<i32>> {
        let shapes: Vec<Extents> = bottoms.iter().map(|t| extents(&t.shape)).collect();
        self.expr.eval(&shapes).map_err(|m| ctx.shape_error(format!("parameter {} \"{}\": {m}", self.id, self.expr)))
    }
}
