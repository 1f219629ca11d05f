//! What conv-like layers (Convolution, ConvolutionDepthWise, Deconvolution, InnerProduct and their
//! int8 forms) read alike from their params, decoded into the ground's types.

use super::Params;
use crate::base::Activation;

impl Activation {
    /// The fused activation (ids 9 and 10). ncnn converts an all-int `activation_params` array
    /// (`-23310=2,0,6`) by value.
    pub fn of_layer(params: &Params) -> Activation {
        Activation::from_params(params.int(9), &params.float_values(10))
    }
}
