//! Calibration statistics over an activation tensor: its absmax and a histogram of |v|.
//!
//! These run on every watched blob of every calibration sample, so they are as costly as a
//! cheap layer. The absmax is a max over the float bits (for non-negative floats the integer
//! order is the float order), which vectorizes. The histogram is bound by its scattered
//! increments: the bin indices are computed a block at a time in vector registers, and zeros (up
//! to half of a ReLU output) are kept out of bin 0, whose increments would otherwise form one long
//! chain through memory: the AVX-512 path packs the non-zero indices together, the others send
//! zeros to [`SPARE`] scratch bins in turn. The counts are split into a byte per bin and a carry
//! plane (`high[i]·256 + low[i]`): an increment touches one byte, so the bins one tensor hits
//! (~1200 cache lines of a 65536-bin histogram as u32) fit the L1 cache as bytes; the carry plane
//! is touched once every 256 counts of a bin. Counting into u32 took twice as long.

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
/// `bins = low.len() - SPARE`: bin i holds `high[i]·256 + low[i]` (a byte, and its carries).
/// The last [`SPARE`] entries of both are scratch whose contents mean nothing. The caller keeps
/// every count below [`MAX_COUNT`] (at most that many values between resets).
pub fn bin_nonzero(path: F32Path, values: &[f32], scale: f32, low: &mut [u8], high: &mut [u16]) {
    assert!(
        low.len() == high.len() && low.len() > SPARE && low.len() - SPARE <= 1 << 24,
        "histogram of {} low and {} high bins",
        low.len(),
        high.len()
    );
    let bins = low.len() - SPARE;
    // SAFETY: dispatch hands out only paths this CPU runs.
    unsafe { (path.kernels().histogram.bin)(values, scale, low, high, bins) }
}

/// Bin `i` of [`bin_nonzero`]'s split counts: `high[i]·256 + low[i]`.
#[inline]
pub fn split_count(low: &[u8], high: &[u16], i: usize) -> u32 {
    u32::from(high[i]) << 8 | u32::from(low[i])
}

/// The largest count a bin of [`bin_nonzero`] holds: `u16::MAX·256 + 255`.
pub const MAX_COUNT: u64 = (1 << 24) - 1;
