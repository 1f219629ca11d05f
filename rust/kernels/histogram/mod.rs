//! Calibration statistics over an activation tensor: its absmax and a histogram of |v|.
//!
//! These run on every watched blob of every calibration sample, so they are as costly as a
//! cheap layer. The absmax is a max over the float bits (for non-negative floats the integer
//! order is the float order), which vectorizes. The histogram is bound by its scattered
//! increments: the bin indices are computed a block at a time in vector registers, and zeros (up
//! to half of a ReLU output) are kept out of bin 0, whose increments would otherwise form one long
//! chain through memory: the AVX-512 path packs the non-zero indices together, the others send
//! zeros to [`SPARE`] scratch bins in turn.

pub mod reference;
#[cfg(test)]
mod tests;
pub(crate) mod vector;

pub use vector::SPARE;

use super::dispatch::F32Path;

/// The largest finite |v| of `values` (0 when there is none) and the number of NaN/infinite values.
pub fn absmax(path: F32Path, values: &[f32]) -> (f32, u64) {
    // SAFETY: dispatch hands out only paths this CPU runs.
    unsafe { (path.kernels().histogram.absmax)(values) }
}

/// Counts every non-zero v of `values` in bin `min(floor(|v|·scale), bins-1)`, where
/// `bins = counts.len() - SPARE`; the last [`SPARE`] entries of `counts` are scratch whose
/// contents mean nothing. The caller keeps every count below `u32::MAX` (at most that many
/// values between resets).
pub fn bin_nonzero(path: F32Path, values: &[f32], scale: f32, counts: &mut [u32]) {
    assert!(counts.len() > SPARE && counts.len() - SPARE <= 1 << 24, "histogram of {} bins", counts.len());
    let bins = counts.len() - SPARE;
    // SAFETY: dispatch hands out only paths this CPU runs.
    unsafe { (path.kernels().histogram.bin)(values, scale, counts, bins) }
}
