//! One span of output pixels of one channel: what each path's depthwise kernel computes, and the
//! portable body that is the reference path and every SIMD path's tail.

/// A span of output pixels of one channel:
/// `acc[j] = Σ_taps w[t] · data[origin + taps[t] + j·stride]`.
pub(crate) struct Row<'a> {
    /// The whole input buffer, so vector loads may run past a plane as long as they stay inside.
    pub data: &'a [i8],
    /// Offset in `data` of the span's first window (its top-left input byte).
    pub origin: usize,
    /// Each tap's offset from a window's top-left byte: the same for every span of a layer, so
    /// they are computed once, not per span (on 7×7 outputs that was as much work as the sums).
    pub taps: &'a [usize],
    /// The largest of `taps`.
    pub reach: usize,
    pub weights: &'a [i8],
    pub stride: usize,
}

/// The portable body from output `from` on.
#[inline(always)]
pub(crate) fn row_scalar(row: &Row, from: usize, acc: &mut [i32]) {
    for (ox, a) in acc.iter_mut().enumerate().skip(from) {
        let mut s = 0i32;
        for (&t, &w) in row.taps.iter().zip(row.weights) {
            s += i32::from(row.data[row.origin + t + ox * row.stride]) * i32::from(w);
        }
        *a = s;
    }
}

/// The reference path's kernel: the whole span in the portable body.
pub(crate) fn row_reference(row: &Row, acc: &mut [i32]) {
    row_scalar(row, 0, acc);
}
