//! Layer implementations, one file per family. `op.rs` is the interface they implement,
//! `registry.rs` the one map from an ncnn layer type to its implementation and `conv_params.rs`
//! what conv-like layers read alike from their params.

pub mod activation;
pub mod argmax;
pub mod attention;
pub mod binaryop;
pub mod cast;
pub mod channelwise;
pub mod concat;
pub mod conv_params;
pub mod convolution;
pub mod convolution_depthwise;
pub mod convolution_depthwise_int8;
pub mod convolution_int8;
pub mod crop;
pub mod deconvolution;
pub mod detection_output;
pub mod eltwise;
pub mod embed;
pub mod flip;
pub mod gemm;
pub mod glu;
pub mod innerproduct;
pub mod innerproduct_int8;
pub mod int8;
pub mod interp;
pub mod matmul;
pub mod memorydata;
pub mod norm;
pub mod normalize;
pub mod op;
pub mod padding;
pub mod passthrough;
pub mod permute;
pub mod pooling;
pub mod priorbox;
pub mod reduction;
pub mod registry;
pub mod reshape;
pub mod shape_expr;
pub mod shuffle;
pub mod slice;
pub mod softmax;
pub mod tile;
pub mod unaryop;
pub mod yolo_detection;

pub use op::{check_axes, map_inplace, map_op, one, single, take, unsupported, Chain, Context, Map, Op, Params};
pub use registry::{build, is_supported};

// Not public: the element-wise layers' chunk size, which they read as `super::PAR_CHUNK`.
use op::PAR_CHUNK;
