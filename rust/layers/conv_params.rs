//! What conv-like layers (Convolution, ConvolutionDepthWise, Deconvolution, InnerProduct and their
//! int8 forms) read alike from their params, decoded into the ground's types.

use super::Params;
use crate::base::{Activation, Geometry};
use crate::error::Result;

impl Activation {
    /// The fused activation (ids 9 and 10). ncnn converts an all-int `activation_params` array
    /// (`-23310=2,0,6`) by value.
    pub fn of_layer(params: &Params) -> Activation {
        Activation::from_params(params.int(9), &params.float_values(10))
    }
}

impl Geometry {
    pub fn from_params(p: &Params) -> Result<Geometry> {
        Geometry::read(p, false)
    }

    /// Reads the geometry; with `dynamic` the kernel size comes from the weight blob at run time.
    pub fn read(p: &Params, dynamic: bool) -> Result<Geometry> {
        let positive = |id: u32, what: &str| -> Result<usize> {
            let v = p.int(id);
            if dynamic && (id == 1 || id == 11) {
                return Ok(v.max(1) as usize);
            }
            if v <= 0 {
                return Err(p.invalid(format!("{what} must be positive, got {v}")));
            }
            Ok(v as usize)
        };
        Ok(Geometry {
            kernel: (positive(1, "kernel_w")?, positive(11, "kernel_h")?),
            dilation: (positive(2, "dilation_w")?, positive(12, "dilation_h")?),
            stride: (positive(3, "stride_w")?, positive(13, "stride_h")?),
            pads: [p.int(4), p.int(15), p.int(14), p.int(16)],
            pad_value: p.float(18),
        })
    }
}
