//! The inference engine: the executor that runs a graph's layers on tensors.

mod concat_in_place;
pub mod executor;
mod int8_chain;

pub use crate::base::tensor::{Shape, Tensor, TensorData};
pub use executor::{shared_thread_pool, thread_count, thread_pool, Net, NetOptions, Observer, MAX_THREADS};
