//! ncnn layer type name -> the builder of its implementation: the one place that lists every
//! layer the engine runs.

use super::op::{unsupported, Op};
use super::{
    activation, argmax, attention, binaryop, cast, channelwise, concat, convolution, convolution_depthwise, crop,
    deconvolution, detection_output, eltwise, embed, flip, gemm, glu, innerproduct, interp, matmul, memorydata, norm,
    normalize, padding, passthrough, permute, pooling, priorbox, reduction, reshape, shuffle, slice, softmax, tile,
    unaryop, yolo_detection,
};
use crate::error::Result;
use crate::model::Layer;

type Builder = fn(&Layer) -> Result<Box<dyn Op>>;

/// ncnn layer type -> implementation. A type missing here is reported when a model loads.
fn registry(type_name: &str) -> Option<Builder> {
    Some(match type_name {
        "Input" => passthrough::build_input,
        "Split" => passthrough::build_split,
        "Noop" => passthrough::build_noop,
        "Dropout" => passthrough::build_dropout,
        "ReLU" => activation::build_relu,
        "Sigmoid" => activation::build_sigmoid,
        "Swish" => activation::build_swish,
        "HardSwish" => activation::build_hardswish,
        "HardSigmoid" => activation::build_hardsigmoid,
        "GELU" => activation::build_gelu,
        "Clip" => activation::build_clip,
        "ELU" => activation::build_elu,
        "CELU" => activation::build_celu,
        "SELU" => activation::build_selu,
        "Mish" => activation::build_mish,
        "TanH" => activation::build_tanh,
        "AbsVal" => activation::build_absval,
        "Softplus" => activation::build_softplus,
        "BNLL" => activation::build_bnll,
        "Erf" => activation::build_erf,
        "Threshold" => activation::build_threshold,
        "PReLU" => activation::build_prelu,
        "UnaryOp" => unaryop::build_unaryop,
        "Power" => unaryop::build_power,
        "Exp" => unaryop::build_exp,
        "Log" => unaryop::build_log,
        "BinaryOp" => binaryop::build,
        "Eltwise" => eltwise::build,
        "BatchNorm" => channelwise::build_batchnorm,
        "Scale" => channelwise::build_scale,
        "Bias" => channelwise::build_bias,
        "Cast" => cast::build,
        "Softmax" => softmax::build,
        "Concat" => concat::build,
        "Pooling" => pooling::build,
        "Convolution" => convolution::build,
        "ConvolutionDepthWise" => convolution_depthwise::build,
        "InnerProduct" => innerproduct::build,
        "Deconvolution" => deconvolution::build,
        "DeconvolutionDepthWise" => deconvolution::build_depthwise,
        "LRN" => normalize::build_lrn,
        "MVN" => normalize::build_mvn,
        "Normalize" => normalize::build_normalize,
        "LayerNorm" => norm::build_layernorm,
        "RMSNorm" => norm::build_rmsnorm,
        "GroupNorm" => norm::build_groupnorm,
        "InstanceNorm" => norm::build_instancenorm,
        "Gemm" => gemm::build,
        "MultiHeadAttention" => attention::build,
        "Embed" => embed::build,
        "PriorBox" => priorbox::build,
        "DetectionOutput" => detection_output::build,
        "YoloDetectionOutput" => yolo_detection::build_yolo,
        "Yolov3DetectionOutput" => yolo_detection::build_yolov3,
        "Slice" => slice::build,
        "Crop" => crop::build,
        "Padding" => padding::build,
        "Reshape" => reshape::build_reshape,
        "Flatten" => reshape::build_flatten,
        "Squeeze" => reshape::build_squeeze,
        "ExpandDims" => reshape::build_expanddims,
        "Permute" => permute::build,
        "ShuffleChannel" => shuffle::build_shufflechannel,
        "PixelShuffle" => shuffle::build_pixelshuffle,
        "Reorg" => shuffle::build_reorg,
        "Interp" => interp::build,
        "Reduction" => reduction::build,
        "ArgMax" => argmax::build,
        "MemoryData" => memorydata::build,
        "Tile" => tile::build,
        "MatMul" => matmul::build,
        "Flip" => flip::build,
        "GLU" => glu::build,
        _ => return None,
    })
}

pub fn is_supported(type_name: &str) -> bool {
    registry(type_name).is_some()
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    match registry(&layer.type_name) {
        Some(build) => build(layer),
        None => Err(unsupported(layer, "the engine has no implementation of it")),
    }
}
