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

/// Counts every non-zero v in bin `min(floor(|v|·scale), bins-1)` of `counts[..bins]`.
pub fn bin_nonzero(values: &[f32], scale: f32, counts: &mut [u32], bins: usize) {
    for &v in values {
        if v != 0.0 {
            counts[bin_index(v, scale, bins)] += 1;
        }
    }
}
