//! The inference engine: the executor that runs a graph's layers on tensors.

pub mod executor;

pub use crate::base::tensor::{Shape, Tensor, TensorData};
pub use executor::{thread_count, Net, NetOptions, Observer, MAX_THREADS};
