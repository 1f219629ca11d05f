//! The portable truth for the calibration statistics kernels.

/// `min(floor(|v|·scale), bins-1)`; NaN and overflow land in the last bin.
#[inline(always)]
pub(crate) fn bin_index(v: f32, scale: f32, bins: usize) -> usize {
    let last = (bins - 1) as f32;
    // f32::min returns the other operand for NaN, so `f` is in [0, bins-1] and converts exactly.
    let f = (v.abs() * scale).min(last);
    // SAFETY: finite and in [0, 2^24].
    unsafe { f.to_int_unchecked::<u32>() as usize }
}

/// The largest finite |v| (0 when there is none) and the number of NaN/infinite values.
pub fn absmax(values: &[f32]) -> (f32, u64) {
    let mut absmax = 0.0f32;
    let mut non_finite = 0;
    for &v in values {
        if v.is_finite() {
            absmax = absmax.max(v.abs());
        } else {
            non_finite += 1;
        }
    }
    (absmax, non_finite)
}

/// Adds one to bin `i` of split counts: to its byte, and a carry to `high` when the byte wraps.
#[inline(always)]
pub(crate) fn increment(low: &mut [u8], high: &mut [u16], i: usize) {
    let c = low[i].wrapping_add(1);
    low[i] = c;
    if c == 0 {
        high[i] = high[i].wrapping_add(1);
    }
}

/// Counts every non-zero v in bin `min(floor(|v|·scale), bins-1)` of the split counts
/// `high[i]·256 + low[i]` (`..bins` of each).
pub fn bin_nonzero(values: &[f32], scale: f32, low: &mut [u8], high: &mut [u16], bins: usize) {
    for &v in values {
        if v != 0.0 {
            increment(low, high, bin_index(v, scale, bins));
        }
    }
}
