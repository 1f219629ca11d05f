//! The ground: the value types that kernels, layers, the engine and calibration all share. It
//! imports nothing from the crate but the error type, so anything may import it and a kernel
//! never has to reach up into a layer for a type it computes with.

pub mod activation;
pub mod alloc;
pub mod geometry;
pub mod parallel;
pub mod pool_stats;
pub mod recycling_alloc;
pub mod tensor;

pub use activation::Activation;
pub use geometry::{Geometry, Padding};
pub use tensor::{Shape, Tensor, TensorData};
