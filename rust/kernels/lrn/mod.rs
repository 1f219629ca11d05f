//! LRN across channels: x · (bias + α/n · Σ x²)^-β, the sum over a window of channels. One
//! portable body, compiled into each path's entry point so its loops vectorize; with β = 0.75
//! (Caffe's and every benchmark model's) the power is 1/√(t·√t), which vectorizes, where powf
//! would not. Every path therefore computes exactly what the reference computes.

#[cfg(test)]
mod tests;

use super::simd::Isa;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct Across {
    /// Channels before and after the own one that the window covers (clipped at the edges).
    pub before: usize,
    pub after: usize,
    /// α / local_size
    pub alpha_div: f32,
    pub beta: f32,
    pub bias: f32,
}

/// Elements per parallel task: small blobs stay on one thread.
const PAR_MIN: usize = 1 << 15;

/// Normalizes `x` (channels of `size` elements) in place; `squares` holds x² of every element.
pub fn across(isa: Isa, p: &Across, squares: &[f32], size: usize, x: &mut [f32]) {
    let channels = x.len().checked_div(size).unwrap_or(0);
    assert!(squares.len() == x.len() && channels * size == x.len());
    if channels == 0 {
        return;
    }
    let entry = entry(isa);
    let run = |ss: &mut Vec<f32>, (q, xq): (usize, &mut [f32])| {
        let (lo, hi) = (q.saturating_sub(p.before), (q + p.after).min(channels - 1));
        let window = &squares[lo * size..(hi + 1) * size];
        ss.resize(size, 0.0);
        match entry {
            // SAFETY: the entry's ISA was checked available when the path was chosen.
            Some(f) => unsafe { f(p, window, xq, ss) },
            None => channel(p, window, xq, ss),
        }
    };
    if rayon::current_num_threads() > 1 && x.len() > PAR_MIN {
        let per_task = (PAR_MIN / size).max(1);
        x.par_chunks_mut(size).enumerate().with_min_len(per_task).for_each_init(Vec::new, run);
    } else {
        let mut ss = Vec::new();
        x.chunks_mut(size).enumerate().for_each(|t| run(&mut ss, t));
    }
}

/// One channel: `window` is the squares of its window's channels in order, `ss` scratch.
#[inline(always)]
fn channel(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]) {
    let size = x.len();
    // Summed in channel order from zero, as ncnn does.
    ss.copy_from_slice(&window[..size]);
    for plane in window.chunks_exact(size).skip(1) {
        ss.iter_mut().zip(plane).for_each(|(s, &v)| *s += v);
    }
    if p.beta == 0.75 {
        for (v, &s) in x.iter_mut().zip(ss.iter()) {
            let t = p.bias + p.alpha_div * s;
            *v *= 1.0 / (t * t.sqrt()).sqrt();
        }
    } else {
        for (v, &s) in x.iter_mut().zip(ss.iter()) {
            *v *= (p.bias + p.alpha_div * s).powf(-p.beta);
        }
    }
}

type ChannelFn = unsafe fn(&Across, &[f32], &mut [f32], &mut [f32]);

fn entry(isa: Isa) -> Option<ChannelFn> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(x86::channel_avx2),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(x86::channel_avx512),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(arm::channel_neon),
        _ => None,
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn channel_avx2(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]) {
        channel(p, window, x, ss)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn channel_avx512(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]) {
        channel(p, window, x, ss)
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::*;

    #[target_feature(enable = "neon")]
    pub unsafe fn channel_neon(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]) {
        channel(p, window, x, ss)
    }
}
