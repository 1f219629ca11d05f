//! One channel's depthwise geometry, and the signature of each path's per-channel kernel.

use crate::kernels::simd::RegAct;

/// The geometry of one channel: a padded input plane and its output plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// One channel's unpadded input plane (w×h) and where it sits in the padded plane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unpadded<'a> {
    pub data: &'a [f32],
    pub w: usize,
    pub h: usize,
    pub left: usize,
    pub top: usize,
    pub value: f32,
}

/// One horizontally stride-2, dilation-1 channel straight from its unpadded input, through a band
/// buffer of `vector::split_band` values (unsafe: the CPU must run the path).
pub(crate) type SplitChannelFn =
    unsafe fn(p: &Plane, x: &Unpadded, band: &mut [f32], w: &[f32], bias: f32, act: RegAct, out: &mut [f32]);

/// 3×3, dilation-1 channels (stride 1 padded by one on every side, or stride 2 padded by one at
/// the left and top), straight from their unpadded input: `x.data` holds `channels` consecutive
/// w×h planes, `w` their 9 weights each, `bias` one value each (unsafe: the CPU must run the path).
pub(crate) type DirectChannelsFn =
    unsafe fn(p: &Plane, x: &Unpadded, channels: usize, w: &[f32], bias: Option<&[f32]>, act: RegAct, out: &mut [f32]);
