//! Layers that move data without computing: Input (fed by the caller), Split, Noop, Dropout.

use super::{single, take, Chain, Context, Op, Params};
use crate::base::Tensor;
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

/// Never executed: the executor requires Input blobs to be fed.
struct Input;

impl Op for Input {
    fn forward(&self, _: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        Err(ctx.shape_error("input was not given"))
    }
}

pub fn build_input(_: &Layer) -> Result<Box<dyn Op>> {
    Ok(Box::new(Input))
}

/// One bottom shared by every top (no copy).
struct Split(usize);

impl Op for Split {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let t = single(bottoms, ctx)?;
        Ok(vec![t; self.0])
    }

    fn accepts_int8(&self) -> bool {
        true
    }

    fn chain(&self) -> Chain {
        Chain::Select
    }

    fn forward_chained(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context, _s: f32) -> Result<Vec<Arc<Tensor>>> {
        self.forward(bottoms, ctx)
    }
}

pub fn build_split(layer: &Layer) -> Result<Box<dyn Op>> {
    Ok(Box::new(Split(layer.tops.len())))
}

pub fn build_noop(layer: &Layer) -> Result<Box<dyn Op>> {
    if layer.tops.len() > layer.bottoms.len() {
        return Err(super::unsupported(layer, "Noop with more tops than bottoms"));
    }
    Ok(Box::new(NoopFirst(layer.tops.len())))
}

/// ncnn's Noop works in place: its tops are its first bottoms, unchanged.
struct NoopFirst(usize);

impl Op for NoopFirst {
    fn forward(&self, mut bottoms: Vec<Arc<Tensor>>, _: &Context) -> Result<Vec<Arc<Tensor>>> {
        bottoms.truncate(self.0);
        Ok(bottoms)
    }

    fn accepts_int8(&self) -> bool {
        true
    }
}

/// y = x · scale (identity for the default scale 1).
struct Dropout(f32);

impl Op for Dropout {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let t = single(bottoms, ctx)?;
        if self.0 == 1.0 {
            return Ok(vec![t]);
        }
        let mut t = take(t)?;
        t.f32_mut().iter_mut().for_each(|x| *x *= self.0);
        Ok(vec![Arc::new(t)])
    }
}

pub fn build_dropout(layer: &Layer) -> Result<Box<dyn Op>> {
    Ok(Box::new(Dropout(Params::new(layer)?.float(0))))
}
