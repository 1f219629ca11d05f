//! ncnnq: an ncnn model codec, inference engine and int8 quantizer.

pub mod engine;
pub mod error;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod optimize;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
