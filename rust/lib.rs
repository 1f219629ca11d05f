//! ncnnq: an ncnn model codec, inference engine and int8 quantizer.

pub mod base;
pub mod calib;
pub mod engine;
pub mod error;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod optimize;
pub mod pixels;
pub mod probe;
pub mod quantize;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
