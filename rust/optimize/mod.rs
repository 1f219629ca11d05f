//! `ncnnoptimize`'s graph rewrites (spec/optimize.md §3), in ncnn's order, then shape inference
//! (§4), the optional cut (§6.5) and the output storage (§6.3).
//!
//! Each pass is a small function over the graph IR that records where it fired. Where ncnn's
//! pass would change what the network computes (it skips checks the spec lists as bugs) the pass
//! here declines and says why; README.md lists every such difference.

pub mod cut;
pub mod eliminate;
pub mod fuse_activation;
pub mod fuse_batchnorm;
pub mod fuse_binaryop;
pub mod pass_log;
pub mod pattern;
pub mod replace;
pub mod shape_inference;

pub use pass_log::{PassFn, PassLog};
pub use shape_inference::ShapeInference;

use crate::error::{Error, Result};
use crate::model::weights::f32_to_f16_bits;
use crate::model::{bin_file, Graph, WeightData};

/// Every pass, in ncnnoptimize's order.
pub const PASSES: &[(&str, PassFn)] = &[
    ("fuse_batchnorm_scale", fuse_batchnorm::batchnorm_scale),
    ("fuse_convolution_batchnorm", fuse_batchnorm::convolution_batchnorm),
    ("fuse_convolution_mul", fuse_binaryop::convolution_mul),
    ("fuse_convolution_add", fuse_binaryop::convolution_add),
    ("fuse_convolutiondepthwise_batchnorm", fuse_batchnorm::convolutiondepthwise_batchnorm),
    ("fuse_convolutiondepthwise_mul", fuse_binaryop::convolutiondepthwise_mul),
    ("fuse_convolutiondepthwise_add", fuse_binaryop::convolutiondepthwise_add),
    ("fuse_deconvolution_batchnorm", fuse_batchnorm::deconvolution_batchnorm),
    ("fuse_deconvolution_mul", fuse_binaryop::deconvolution_mul),
    ("fuse_deconvolution_add", fuse_binaryop::deconvolution_add),
    ("fuse_deconvolutiondepthwise_batchnorm", fuse_batchnorm::deconvolutiondepthwise_batchnorm),
    ("fuse_innerproduct_batchnorm", fuse_batchnorm::innerproduct_batchnorm),
    ("fuse_innerproduct_add", fuse_binaryop::innerproduct_add),
    ("fuse_innerproduct_dropout", fuse_batchnorm::innerproduct_dropout),
    ("replace_reduction_with_global_pooling", replace::reduction_with_global_pooling),
    ("replace_prelu_with_leaky_relu", replace::prelu_with_leaky_relu),
    ("fuse_convolution_activation", fuse_activation::convolution_activation),
    ("fuse_convolutiondepthwise_activation", fuse_activation::convolutiondepthwise_activation),
    ("fuse_deconvolution_activation", fuse_activation::deconvolution_activation),
    ("fuse_deconvolutiondepthwise_activation", fuse_activation::deconvolutiondepthwise_activation),
    ("fuse_innerproduct_activation", fuse_activation::innerproduct_activation),
    ("fuse_memorydata_binaryop", fuse_binaryop::memorydata_binaryop),
    ("fuse_binaryop_eltwise", fuse_binaryop::binaryop_eltwise),
    ("eliminate_dropout", eliminate::dropout),
    ("eliminate_pooling1x1", eliminate::pooling1x1),
    ("eliminate_noop", eliminate::noop),
    ("eliminate_split", eliminate::split),
    ("eliminate_flatten_after_global_pooling", eliminate::flatten_after_global_pooling),
    ("eliminate_reshape_after_global_pooling", eliminate::reshape_after_global_pooling),
    ("eliminate_reshape_before_binaryop", eliminate::reshape_before_binaryop),
    (
        "replace_convolution_with_innerproduct_after_global_pooling",
        replace::convolution_with_innerproduct_after_global_pooling,
    ),
    (
        "replace_convolution_with_innerproduct_after_innerproduct",
        replace::convolution_with_innerproduct_after_innerproduct,
    ),
    ("eliminate_flatten_after_innerproduct", eliminate::flatten_after_innerproduct),
    ("eliminate_orphaned_memorydata", eliminate::orphaned_memorydata),
];

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// ncnnoptimize flag 1/65536: tagged float arrays are stored as fp16.
    pub fp16: bool,
    /// Keep only the layers from this one (by name, resolved before the passes, like ncnn).
    pub cut_start: Option<String>,
    /// Keep only the layers up to this one.
    pub cut_end: Option<String>,
    /// Skip shape inference (existing hints are kept).
    pub no_shape_inference: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub layers: usize,
    pub blobs: usize,
    /// Size of the `.bin` the model would be written as.
    pub weight_bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PassReport {
    pub name: &'static str,
    pub log: PassLog,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub passes: Vec<PassReport>,
    pub before: Counts,
    pub after: Counts,
    pub shape_inference: ShapeInference,
    pub notes: Vec<String>,
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// The `.bin` size of a graph's weights, without serializing them.
pub fn weight_bytes(g: &Graph) -> usize {
    let mut total = 0;
    for w in g.layers.iter().flat_map(|l| &l.weights) {
        let n = w.data.len();
        total += match (&w.data, w.tagged) {
            (_, false) => 4 * n,
            (WeightData::F32(_), true) => 4 + 4 * n,
            (WeightData::F16(_), true) => 4 + pad4(2 * n),
            (WeightData::I8(_), true) => 4 + pad4(n),
            (WeightData::Codebook { .. }, true) => 4 + 1024 + pad4(n),
        };
    }
    total
}

pub fn counts(g: &Graph) -> Counts {
    Counts { layers: g.layers.len(), blobs: g.referenced_blob_count(), weight_bytes: weight_bytes(g) }
}

/// ncnn's writer replaces float32 values with 0 < |v| < 1e-30 by 0 (formats.md §3.4).
fn flush_tiny(v: f32) -> f32 {
    if v != 0.0 && v.abs() < 1e-30 {
        0.0
    } else {
        v
    }
}

/// The output storage of ncnnoptimize: tagged float arrays as fp16 or fp32 per the flag, raw
/// arrays fp32, int8 untouched; float32 output flushed like ncnn's writer.
pub fn set_storage(g: &mut Graph, fp16: bool) {
    for w in g.layers.iter_mut().flat_map(|l| l.weights.iter_mut()) {
        w.data = match &mut w.data {
            WeightData::I8(_) => continue,
            WeightData::F16(_) if fp16 && w.tagged => continue,
            WeightData::F32(v) if !(fp16 && w.tagged) => {
                for x in v.iter_mut() {
                    *x = flush_tiny(*x);
                }
                continue;
            }
            data if fp16 && w.tagged => WeightData::F16(data.to_f32().iter().map(|&v| f32_to_f16_bits(v)).collect()),
            data => WeightData::F32(data.to_f32().into_iter().map(flush_tiny).collect()),
        };
    }
}

fn resolve_layer(g: &Graph, name: Option<&String>, what: &str) -> Result<Option<usize>> {
    match name {
        None => Ok(None),
        Some(n) => g
            .layer_index(n)
            .map(Some)
            .ok_or_else(|| Error::input(format!("{what}: the model has no layer named {n:?}"))),
    }
}

/// Runs every pass, then shape inference, the cut and the output storage. The input graph is
/// not modified.
pub fn optimize(input: &Graph, options: &Options) -> Result<(Graph, Report)> {
    let cut_start = resolve_layer(input, options.cut_start.as_ref(), "cutstart")?;
    let cut_end = resolve_layer(input, options.cut_end.as_ref(), "cutend")?;
    if let (Some(s), Some(e)) = (cut_start, cut_end) {
        if s > e {
            return Err(Error::input(format!(
                "cutstart layer {:?} comes after cutend layer {:?}",
                input.layers[s].name, input.layers[e].name
            )));
        }
    }
    bin_file::check_weights(input).map_err(|e| {
        Error::input(format!("optimize needs the model's weights (load its .bin or fill random weights): {e}"))
    })?;

    let before = counts(input);
    let mut g = input.clone();
    g.warnings.clear();
    let mut passes = Vec::with_capacity(PASSES.len());
    for &(name, pass) in PASSES {
        let mut log = PassLog::default();
        pass(&mut g, &mut log);
        passes.push(PassReport { name, log });
    }

    let original_index: Vec<usize> = (0..g.layers.len()).filter(|&i| pattern::is_live(&g.layers[i])).collect();
    g.layers.retain(pattern::is_live);
    g.compact_blobs();
    g.relink().map_err(|e| Error::input(format!("internal error: the optimized graph is invalid: {e}")))?;

    let shape_inference = if options.no_shape_inference {
        ShapeInference::Skipped { reason: "disabled by the caller".into() }
    } else {
        shape_inference::infer(&mut g)
    };

    let mut notes = Vec::new();
    if cut_start.is_some() || cut_end.is_some() {
        let (cut_graph, note) = cut::cut(&g, &original_index, cut_start, cut_end)?;
        g = cut_graph;
        notes.push(note);
    }
    set_storage(&mut g, options.fp16);
    let after = counts(&g);
    Ok((g, Report { passes, before, after, shape_inference, notes }))
}

#[cfg(test)]
pub(crate) mod test_util;
