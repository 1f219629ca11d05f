//! The interface every layer implements ([`Op`]), what it runs in ([`Context`]), how it reads its
//! parameters ([`Params`]), and the small helpers layers share: taking a bottom in place, one-input
//! and one-output plumbing, element-wise maps.

use crate::base::{Shape, Tensor};
use crate::error::{Error, Result};
use crate::model::layer_spec::{self, LayerSpec};
use crate::model::{Layer, ParamValue, WeightData};
use std::sync::Arc;

/// Where a layer runs, for error messages.
pub struct Context<'a> {
    pub layer: &'a str,
    pub layer_type: &'a str,
}

impl Context<'_> {
    pub fn shape_error(&self, message: impl std::fmt::Display) -> Error {
        Error::shape(self.layer, self.layer_type, message)
    }
}

/// A built layer, ready to run.
pub trait Op: Send + Sync {
    /// Computes the tops from the bottoms. A bottom whose last reader is this layer arrives
    /// uniquely owned (see [`take`]), so element-wise layers can reuse its buffer.
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>>;

    /// Whether this op can read int8 (requantized) blobs.
    fn accepts_int8(&self) -> bool {
        false
    }

    /// The channel count of the one top, for an op that can write its top straight into part of
    /// a larger buffer ([`Op::forward_into`]): the executor has the producers of a channel Concat
    /// write into the Concat's output, which then copies nothing. None (the default): it cannot.
    fn top_channels(&self) -> Option<usize> {
        None
    }

    /// The 3-D top [`Op::forward_into`] would write for these bottoms; None when it cannot take
    /// them (then [`Op::forward`] runs and reports what is wrong).
    fn top_shape(&self, _bottoms: &[Arc<Tensor>], _ctx: &Context) -> Option<Shape> {
        None
    }

    /// Computes the one top into `out`, whose length is [`Op::top_shape`]'s for these bottoms,
    /// writing every value. Only called on an op that gave that shape.
    fn forward_into(&self, _bottoms: Vec<Arc<Tensor>>, ctx: &Context, _out: &mut [f32]) -> Result<()> {
        Err(Error::layer(ctx.layer, ctx.layer_type, "cannot write its output into a given buffer"))
    }

    /// What this layer is to an int8 chain (`engine::int8_chain`), from its parameters alone.
    fn chain(&self) -> Chain {
        Chain::None
    }

    /// Runs as part of an int8 chain: a [`Chain::Conv`] that requantizes writes its top as
    /// `q(y·s)`, `y` the float top [`Op::forward`] gives; a [`Chain::Select`] takes int8 bottoms
    /// and gives int8 tops (`s` unused). Only called on layers the chain plan chose.
    fn forward_chained(&self, _bottoms: Vec<Arc<Tensor>>, ctx: &Context, _s: f32) -> Result<Vec<Arc<Tensor>>> {
        Err(Error::layer(ctx.layer, ctx.layer_type, "cannot run in an int8 chain"))
    }

    /// [`Op::forward_into`] into an int8 buffer, the top as [`Op::forward_chained`] writes it
    /// with `s`: a requantizing [`Chain::Conv`] writing its channels of an int8 chain's Concat.
    fn forward_into_i8(&self, _bottoms: Vec<Arc<Tensor>>, ctx: &Context, _s: f32, _out: &mut [i8]) -> Result<()> {
        Err(Error::layer(ctx.layer, ctx.layer_type, "cannot write its output into a given buffer"))
    }
}

/// What a layer is to an int8 chain: blobs between int8 convolutions kept int8, at the scale
/// their readers would quantize them with (`engine::int8_chain`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chain {
    /// A chain stops before it.
    None,
    /// An int8 convolution: it reads a float input as `q(x·input)` (`q` ncnn's float2int8) and an
    /// int8 one as is. With `requantizes` (it de-scales its top) it can also write its top as
    /// `q(y·s)` for any `s` ([`Op::forward_chained`]), the bytes a reader at `s` would make.
    Conv { input: f32, requantizes: bool },
    /// Each top value is a bottom value chosen by position or by order (Split, Concat, max
    /// Pooling), so the layer commutes with the monotone `q` and runs on int8 blobs as well
    /// ([`Op::forward_chained`]).
    Select,
}

/// The tensor itself when uniquely owned, else a copy: the in-place idiom. The copy is an
/// error, not an abort, when it does not fit in memory.
pub fn take(t: Arc<Tensor>) -> Result<Tensor> {
    Arc::try_unwrap(t).or_else(|shared| shared.try_clone())
}

/// The single bottom of a one-input layer.
pub fn single(mut bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Arc<Tensor>> {
    if bottoms.len() != 1 {
        return Err(ctx.shape_error(format!("expects 1 input, got {}", bottoms.len())));
    }
    Ok(bottoms.pop().expect("one bottom"))
}

pub fn one(t: Tensor) -> Result<Vec<Arc<Tensor>>> {
    Ok(vec![Arc::new(t)])
}

/// Elements per parallel task of the element-wise helpers: small blobs stay on one thread.
pub(super) const PAR_CHUNK: usize = 1 << 14;

/// Applies `f` to every element in place, on the current thread pool.
pub fn map_inplace(data: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    crate::base::parallel::for_each_chunk(data, PAR_CHUNK, 1, |_, chunk| chunk.iter_mut().for_each(|x| *x = f(*x)));
}

/// A one-input layer that maps every element through a function, in place.
pub struct Map<F>(pub F);

impl<F: Fn(f32) -> f32 + Send + Sync> Op for Map<F> {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let mut t = take(single(bottoms, ctx)?)?;
        map_inplace(t.f32_mut(), &self.0);
        one(t)
    }
}

/// Boxes an element-wise function as an op.
pub fn map_op(f: impl Fn(f32) -> f32 + Send + Sync + 'static) -> Result<Box<dyn Op>> {
    Ok(Box::new(Map(f)))
}

/// A layer's parameters with ncnn's defaults filled in from the codec's parameter table.
pub struct Params<'a> {
    layer: &'a Layer,
    spec: &'static LayerSpec,
}

impl<'a> Params<'a> {
    pub fn new(layer: &'a Layer) -> Result<Self> {
        let spec = layer_spec::lookup(&layer.type_name).ok_or_else(|| unsupported(layer, "no parameter table"))?;
        Ok(Params { layer, spec })
    }

    pub fn int(&self, id: u32) -> i32 {
        debug_assert!(self.spec.param(id).is_some(), "{}: param {id} not in table", self.spec.name);
        layer_spec::effective(self.spec, &self.layer.params, id).and_then(|v| v.as_int()).unwrap_or(0)
    }

    pub fn float(&self, id: u32) -> f32 {
        debug_assert!(self.spec.param(id).is_some(), "{}: param {id} not in table", self.spec.name);
        layer_spec::effective(self.spec, &self.layer.params, id).and_then(|v| v.as_float()).unwrap_or(0.0)
    }

    pub fn ints(&self, id: u32) -> Vec<i32> {
        self.layer.params.int_array(id)
    }

    pub fn floats(&self, id: u32) -> Vec<f32> {
        self.layer.params.float_array(id)
    }

    /// A float array as current ncnn hands it to layers that read `pd.get(id, Mat())` as
    /// floats: an all-int array (`-23300=1,40`) is converted by value, unlike
    /// [`Params::floats`], which reinterprets int elements bitwise (what Yolov3DetectionOutput's
    /// mask still gets; measured against ncnn 1.0.20261020).
    pub fn float_values(&self, id: u32) -> Vec<f32> {
        match self.layer.params.get(id) {
            Some(ParamValue::IntArray(v)) => v.iter().map(|&i| i as f32).collect(),
            _ => self.layer.params.float_array(id),
        }
    }

    pub fn string(&self, id: u32) -> String {
        self.layer.params.string(id)
    }

    /// Whether the parameter was written in the file.
    pub fn has(&self, id: u32) -> bool {
        self.layer.params.contains(id)
    }

    /// An error about this layer's parameters.
    pub fn invalid(&self, message: impl std::fmt::Display) -> Error {
        Error::layer(&self.layer.name, &self.layer.type_name, message)
    }

    /// A weight array as float32 (fp16/codebook decoded).
    pub fn weight_f32(&self, name: &str) -> Result<Vec<f32>> {
        let w = self.weight(name)?;
        Ok(w.to_f32())
    }

    /// A weight array as stored.
    pub fn weight(&self, name: &str) -> Result<&'a WeightData> {
        self.layer.weight(name).map(|w| &w.data).ok_or_else(|| {
            self.invalid(format!(
                "weight array {name:?} is missing (load the model with its .bin, or fill random weights)"
            ))
        })
    }

    /// A weight array that may be absent (e.g. bias when `bias_term` is 0).
    pub fn optional_f32(&self, name: &str) -> Option<Vec<f32>> {
        self.layer.weight(name).map(|w| w.data.to_f32())
    }
}

pub fn unsupported(layer: &Layer, detail: &str) -> Error {
    Error::Unsupported { layer: layer.name.clone(), layer_type: layer.type_name.clone(), detail: detail.to_string() }
}

/// Rejects axes outside -4..=3 (no blob has more than 4 dims), as ncnn's `load_param` does.
pub fn check_axes(p: &Params, what: &str, axes: &[i32]) -> Result<()> {
    match axes.iter().find(|a| !(-4..=3).contains(*a)) {
        Some(a) => Err(p.invalid(format!("{what} {a} is outside -4..3"))),
        None => Ok(()),
    }
}
