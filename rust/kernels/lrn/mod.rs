//! LRN across channels: x · (bias + α/n · Σ x²)^-β, the sum over a window of channels. One
//! portable body, compiled into each path's entry point so its loops vectorize; with β = 0.75
//! (Caffe's and every benchmark model's) the power is 1/√(t·√t), which vectorizes, where powf
//! would not. Every path therefore computes exactly what the reference computes.

pub(crate) mod channel;
#[cfg(test)]
mod tests;

pub use channel::Across;

use super::dispatch::F32Path;
use crate::base::parallel;

/// Elements per parallel job: small blobs stay on one thread.
const PAR_MIN: usize = 1 << 15;

/// Normalizes `x` (channels of `size` elements) in place; `squares` holds x² of every element.
pub fn across(path: F32Path, p: &Across, squares: &[f32], size: usize, x: &mut [f32]) {
    let channels = x.len().checked_div(size).unwrap_or(0);
    assert!(squares.len() == x.len() && channels * size == x.len());
    if channels == 0 {
        return;
    }
    let channel = path.kernels().lrn;
    let run = |ss: &mut Vec<f32>, q: usize, xq: &mut [f32]| {
        let (lo, hi) = (q.saturating_sub(p.before), (q + p.after).min(channels - 1));
        let window = &squares[lo * size..(hi + 1) * size];
        ss.resize(size, 0.0);
        // SAFETY: dispatch hands out only paths this CPU runs.
        unsafe { channel(p, window, xq, ss) }
    };
    parallel::for_each_chunk_with(x, size, parallel::min_chunks(size, PAR_MIN), run);
}
