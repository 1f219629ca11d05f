//! The inference engine: tensors and the executor that runs a graph's layers.

pub mod executor;
pub mod tensor;

pub use executor::{Net, NetOptions, Observer};
pub use tensor::{Shape, Tensor, TensorData};
