//! The portable truth for the calibration statistics kernels.

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
            counts[super::bin_index(v, scale, bins)] += 1;
        }
    }
}
