//! What conv-like layers (Convolution, ConvolutionDepthWise, Deconvolution, InnerProduct and their
//! int8 forms) read alike from their params, decoded into the ground's types.

use super::{Context, Params};
use crate::base::{Activation, Geometry, Padding, Shape};
use crate::error::Result;

impl Activation {
    /// The fused activation (ids 9 and 10). ncnn converts an all-int `activation_params` array
    /// (`-23310=2,0,6`) by value.
    pub fn of_layer(params: &Params) -> Activation {
        Activation::from_params(params.int(9), &params.float_values(10))
    }
}

impl Geometry {
    /// The 3-D output (`outch` channels) of a convolution over input `s`, which must have `inch`
    /// channels, and the input's padding; the layer's error for a 4-D input, another channel
    /// count or a kernel that does not fit the padded input.
    pub fn conv_output(&self, s: Shape, inch: usize, outch: usize, ctx: &Context) -> Result<(Shape, Padding)> {
        if s.dims == 4 {
            return Err(ctx.shape_error(format!("takes 1-D to 3-D input, got {s}")));
        }
        if s.c != inch {
            return Err(ctx.shape_error(format!("input {s} has {} channels but the weights expect {inch}", s.c)));
        }
        let (ow, oh, pad) =
            self.output_size(s.w, s.h).ok_or_else(|| ctx.shape_error(format!("kernel does not fit input {s}")))?;
        Ok((Shape::d3(ow, oh, outch), pad))
    }

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
