//! One channel's depthwise geometry, the signature of each path's per-channel kernel, and the row copy
//! that padding a plane and the wide path's output share.

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

/// `dst = src` for the short rows of depthwise planes, inline: a library call per row of a 7×7
/// or 14×14 plane costs about as much as the copy (under perf, the row copies' calls were 6 % of
/// a `mobilenet_v2` run, a quarter of its depthwise layers). Overlapping fixed-size copies cover a
/// row; each writes the same values.
#[inline(always)]
pub(crate) fn copy_row(dst: &mut [f32], src: &[f32]) {
    let n = src.len();
    assert_eq!(dst.len(), n);
    if n >= 8 {
        let mut i = 0;
        while i + 8 <= n {
            dst[i..i + 8].copy_from_slice(&src[i..i + 8]);
            i += 8;
        }
        if i < n {
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
    }
}
