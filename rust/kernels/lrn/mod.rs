//! LRN across channels: x · (bias + α/n · Σ x²)^-β, the sum over a window of channels. One
//! portable body, compiled into each path's entry point so its loops vectorize; with β = 0.75
//! (Caffe's and every benchmark model's) the power is 1/√(t·√t), which vectorizes, where powf
//! would not. Every path therefore computes exactly what the reference computes.

pub(crate) mod channel;
#[cfg(test)]
mod tests;

pub use channel::Across;

use super::dispatch::F32Path;
use rayon::prelude::*;

/// Elements per parallel task: small blobs stay on one thread.
const PAR_MIN: usize = 1 << 15;

/// Normalizes `x` (channels of `size` elements) in place; `squares` holds x² of every element.
pub fn across(path: F32Path, p: &Across, squares: &[f32], size: usize, x: &mut [f32]) {
    let channels = x.len().checked_div(size).unwrap_or(0);
    assert!(squares.len() == x.len() && channels * size == x.len());
    if channels == 0 {
        return;
    }
    let channel = path.kernels().lrn;
    let run = |ss: &mut Vec<f32>, (q, xq): (usize, &mut [f32])| {
        let (lo, hi) = (q.saturating_sub(p.before), (q + p.after).min(channels - 1));
        let window = &squares[lo * size..(hi + 1) * size];
        ss.resize(size, 0.0);
        // SAFETY: dispatch hands out only paths this CPU runs.
        unsafe { channel(p, window, xq, ss) }
    };
    if rayon::current_num_threads() > 1 && x.len() > PAR_MIN {
        let per_task = (PAR_MIN / size).max(1);
        x.par_chunks_mut(size).enumerate().with_min_len(per_task).for_each_init(Vec::new, run);
    } else {
        let mut ss = Vec::new();
        x.chunks_mut(size).enumerate().for_each(|t| run(&mut ss, t));
    }
}
