//! One channel of LRN across channels: the parameters, the portable body (the reference path's
//! kernel) and each path's entry point, which compiles that same body for its instruction set.

#[derive(Debug, Clone, Copy)]
pub struct Across {
    /// Channels before and after the own one that the window covers (clipped at the edges).
    pub before: usize,
    pub after: usize,
    /// α / `local_size`
    pub alpha_div: f32,
    pub beta: f32,
    pub bias: f32,
}

/// One channel (unsafe: the CPU must run the path): `window` is the squares of its window's
/// channels in order, `ss` scratch.
pub(crate) type ChannelFn = unsafe fn(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]);

/// One channel: `window` is the squares of its window's channels in order, `ss` scratch.
#[inline(always)]
pub(crate) fn channel(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]) {
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

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;

    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn channel_avx2(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]) {
        channel(p, window, x, ss);
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn channel_avx512(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]) {
        channel(p, window, x, ss);
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use super::*;

    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn channel_neon(p: &Across, window: &[f32], x: &mut [f32], ss: &mut [f32]) {
        channel(p, window, x, ss);
    }
}
