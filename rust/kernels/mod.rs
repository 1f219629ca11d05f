//! Compute kernels, one folder per family: a portable reference implementation of each op, SIMD
//! variants beside it, and the dispatch chosen once per process (see [`simd::selected`]).

pub mod conv_depthwise;
pub mod gemm_f32;
pub mod simd;
pub mod winograd;

#[cfg(test)]
pub(crate) mod testutil;
