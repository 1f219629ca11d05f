//! One span of output pixels of one channel: what each path's depthwise kernel computes, and the
//! portable body that is the reference path and every SIMD path's tail.

/// A span of output pixels of one channel: `acc[j] = Σ_taps w[t] · data[taps[t] + j·stride]`.
pub(crate) struct Row<'a> {
    /// The whole input buffer, so vector loads may run past a plane as long as they stay inside.
    pub data: &'a [i8],
    /// Offset in `data` of each tap's first input byte for this span.
    pub taps: &'a [usize],
    pub weights: &'a [i8],
    pub stride: usize,
}

/// The portable body from output `from` on.
#[inline(always)]
pub(crate) fn row_scalar(row: &Row, from: usize, acc: &mut [i32]) {
    for (ox, a) in acc.iter_mut().enumerate().skip(from) {
        let mut s = 0i32;
        for (&t, &w) in row.taps.iter().zip(row.weights) {
            s += i32::from(row.data[t + ox * row.stride]) * i32::from(w);
        }
        *a = s;
    }
}

/// The reference path's kernel: the whole span in the portable body.
pub(crate) fn row_reference(row: &Row, acc: &mut [i32]) {
    row_scalar(row, 0, acc);
}
