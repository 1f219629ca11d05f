//! ncnnq: an ncnn model codec, inference engine and int8 quantizer.

pub mod base;
pub mod calib;
pub mod engine;
pub mod error;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod optimize;
pub mod output;
pub mod pixels;
pub mod probe;
pub mod quantize;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};

/// Large blocks (blobs, kernels' scratch) are recycled between runs instead of going back to the
/// system and faulting in again ([`base::recycling_alloc`]).
#[global_allocator]
static ALLOCATOR: base::recycling_alloc::Recycling = base::recycling_alloc::Recycling::new();
