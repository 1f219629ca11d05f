//! Calibration statistics gathered by running the fp32 engine over a calibration set. The
//! calibration math itself (kl, aciq, eq) lives in Python (`ncnnq.methods`); what eq-like methods
//! need of a layer's int8 arithmetic is in [`crate::probe`].

pub mod histogram;
pub mod stats;

pub use histogram::{LinearHistogram, WideningHistogram, FINE_BINS, NCNN_BINS};
pub use stats::{BlobStats, Collector, StatsMode};
