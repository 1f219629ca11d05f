//! Compute kernels, one folder per family: a portable reference implementation of each op, SIMD
//! variants beside it, and the dispatch chosen once per process.

pub mod dw_i8;
pub mod gemm_f32;
pub mod gemm_i8;
