//! Calibration statistics gathered by running the fp32 engine over a calibration set. The
//! calibration math itself (kl, aciq, eq) lives in Python (`ncnnq.methods`).

pub mod histogram;
pub mod patches;
pub mod stats;

pub use histogram::{LinearHistogram, WideningHistogram, FINE_BINS, NCNN_BINS};
pub use stats::{BlobStats, Collector, StatsMode};
