//! One channel's depthwise geometry, and the signature of each path's per-channel kernel.

use crate::kernels::simd::RegAct;

/// The geometry of one channel: a padded input plane and its output plane.
#[derive(Debug, Clone, Copy)]
pub struct Plane {
    pub pw: usize,
    pub ph: usize,
    pub ow: usize,
    pub oh: usize,
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub stride: (usize, usize),
}

/// One channel: `out = act(bias + Σ w·x)` over its padded input plane, stride 1 or 2 (unsafe: the
/// CPU must run the path).
pub(crate) type ChannelFn = unsafe fn(p: &Plane, x: &[f32], w: &[f32], bias: f32, act: RegAct, out: &mut [f32]);
