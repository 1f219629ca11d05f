//! The inference engine: tensors and the executor that runs a graph's layers.

pub mod executor;
pub mod tensor;

pub use executor::{shared_thread_pool, thread_pool, Net, NetOptions, Observer};
pub use tensor::{Shape, Tensor, TensorData};
