//! The int8 probe: what calibration methods need to know of ncnn's int8 arithmetic, computed by
//! the engine itself rather than re-implemented beside it.
//!
//! # Layer probe ([`LayerProbe`])
//! One Convolution, ConvolutionDepthWise (grouped or depthwise) or InnerProduct of an fp32 model.
//! [`LayerProbe::sample`] turns the layer's fp32 input (and output) blob of one sample into
//! [`Patches`]: the im2col columns at sampled output positions, with the layer's own padding, and
//! the fp32 outputs there. [`LayerProbe::simulate`] runs the layer's int8 form on them with given
//! weight scales (per output channel, or per group), input scale, optional output (requantize)
//! scale, optional int8 weights and bias; [`LayerProbe::evaluate_weight_scales`] runs many
//! candidate weight scales of many channels (or groups) in one int8 GEMM per group.
//!
//! **Exactness.** At every sampled position, `simulate` returns bit for bit what ncnnq's int8
//! layer (`layers/*_int8.rs`, as `ncnnq int8` writes it for the same scales, weights and bias)
//! outputs for the same fp32 input: the input quantized by the engine's quantizer, padding as the
//! int8 layer pads (`(i8)pad_value`), weights rounded as ncnn2int8 rounds them (`inf` scales read
//! as 1), exact int32 sums on the process's int8 kernel path, and the engine's epilogue with the
//! layer's own rules: de-scale factors (`rcpps` for x86 depthwise layers of 8k channels), FMA or
//! product-then-sum, fused activation, requantization. Convolutions and depthwise layers run as
//! dense GEMMs over the columns; their int32 sums equal the direct kernels' and the epilogue is
//! the same code, so the values do too (`probe/tests.rs` checks it against `Net`). On request
//! ([`Arithmetic::Portable`]) the epilogue is instead the same on every CPU (exact division,
//! product then sum), which is what `eq` scores with.
//!
//! **Cost.** Sampling is a gather (no arithmetic); a simulation is one quantization of the columns,
//! a weight packing and an int8 GEMM per group, on the caller's thread pool. Nothing is cached.
//!
//! # Network probe ([`NetworkProbe`])
//! The fp32 model with a chosen set of quantizable layers int8 under a table (and optional
//! per-layer int8 weights and biases). [`NetworkProbe::net`] builds an engine [`Net`] that runs
//! exactly as the int8 file `ncnnq int8` writes for that set (the others' table lines commented
//! out) runs in ncnnq's engine: the graph comes from the real rewrite ([`crate::quantize`]:
//! int8 weights, scale arrays, requantize fusion and float boundaries), its float arrays are
//! stored as the file stores them (fp16 by default), and the ops are the engine's. It can be fed
//! at the model's inputs or at any blob (only the layers downstream of the fed blobs run).
//!
//! **Caching and cost.** Building a configuration clones the fp32 graph and rewrites it (cheap
//! next to running it); built ops are cached: each layer used as the fp32 model has it is built
//! once, and rewritten layers are found again by content (bounded at 4 entries per layer, oldest
//! evicted), so switching one layer between int8 and float rebuilds only it and its neighbours
//! whose requantization changed.
//!
//! [`Net`]: crate::engine::Net

pub mod layer;
pub mod network;
mod op_cache;
pub mod patches;
pub mod simulate;

#[cfg(test)]
mod tests;

pub use layer::{Form, LayerProbe};
pub use network::{Config, NetworkProbe};
pub use patches::{BlobView, Patches};
pub use simulate::{Arithmetic, Columns, Output, Quantization};
