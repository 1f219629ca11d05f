//! MemoryData: a constant blob stored in the weights. Its rank is set by the last non-zero of
//! w, h, c, d (d → 4-D, c → 3-D, h → 2-D, w → 1-D).

use super::{Context, Op, Params};
use crate::base::{Shape, Tensor};
use crate::error::Result;
use crate::model::Layer;
use std::sync::Arc;

struct MemoryData(Arc<Tensor>);

impl Op for MemoryData {
    fn forward(&self, _: Vec<Arc<Tensor>>, _: &Context) -> Result<Vec<Arc<Tensor>>> {
        Ok(vec![self.0.clone()])
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    let (w, h, d, c) = (p.int(0), p.int(1), p.int(11), p.int(2));
    let size = |v: i32, name: &str| -> Result<usize> {
        usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| p.invalid(format!("{name} = {v} must be positive")))
    };
    let shape = if d != 0 {
        Shape::d4(size(w, "w")?, size(h, "h")?, size(d, "d")?, size(c, "c")?)
    } else if c != 0 {
        Shape::d3(size(w, "w")?, size(h, "h")?, size(c, "c")?)
    } else if h != 0 {
        Shape::d2(size(w, "w")?, size(h, "h")?)
    } else if w != 0 {
        Shape::d1(size(w, "w")?)
    } else {
        // ncnn allocates one value and never fills it.
        return Ok(Box::new(MemoryData(Arc::new(Tensor::zeros(Shape::d1(1))?))));
    };
    let data = p.weight_f32("data")?;
    if data.len() != shape.len() {
        return Err(p.invalid(format!("data holds {} values, {shape} needs {}", data.len(), shape.len())));
    }
    Ok(Box::new(MemoryData(Arc::new(Tensor::new(shape, data)))))
}
