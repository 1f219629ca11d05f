//! The Winograd transforms, written on arrays of lanes (tiles for the input side, output
//! channels for the output side) so each path's entry point compiles them into its vectors;
//! each path's [`WinogradFns`], which dispatch picks from.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

// The transforms are matrix products; index loops mirror the formulas.
#![allow(clippy::needless_range_loop)]

use crate::kernels::simd::RegAct;
#[cfg(target_arch = "x86_64")]
use crate::kernels::simd::{
    x86::{Avx2, Avx512},
    F32Vec,
};

/// One Winograd variant F(M,3) with N = M+2 point tiles; matrices padded to 8.
pub trait Variant {
    const M: usize;
    const N: usize;
    const G: [[f32; 3]; 8];
    /// The dense matrices, which the factored `bt`/`at` are tested against.
    #[allow(dead_code)]
    const BT: [[f32; 8]; 8];
    #[allow(dead_code)]
    const AT: [[f32; 8]; 6];
    /// Bᵀ·d for one column of N values (factored: fewer operations than the dense matrix).
    fn bt<T: Lane>(d: &[T; 8]) -> [T; 8];
    /// Aᵀ·m for one column of N values, M results.
    fn at<T: Lane>(m: &[T; 8]) -> [T; 6];
    /// This variant's entry points among a path's.
    fn fns(path: &WinogradFns) -> TransformFns;
}

/// One value per lane; plain arrays so each path's entry point vectorizes them to its width.
pub type Lanes<const L: usize> = [f32; L];

/// What the transforms compute on: plain lanes, or (the x86 input transform) a register, so that
/// LLVM keeps each value in one vector instead of choosing its own layout (on plain lanes it
/// turned F(6,3)'s row transforms into scatters across the row).
pub trait Lane: Copy {
    fn zero() -> Self;
    fn add(a: Self, b: Self) -> Self;
    fn sub(a: Self, b: Self) -> Self;
    /// a·s + b, fused
    fn fma(a: Self, s: f32, b: Self) -> Self;
}

impl<const L: usize> Lane for Lanes<L> {
    #[inline(always)]
    fn zero() -> Self {
        [0.0; L]
    }
    #[inline(always)]
    fn add(a: Self, b: Self) -> Self {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    fn sub(a: Self, b: Self) -> Self {
        std::array::from_fn(|i| a[i] - b[i])
    }
    #[inline(always)]
    fn fma(a: Self, s: f32, b: Self) -> Self {
        std::array::from_fn(|i| a[i].mul_add(s, b[i]))
    }
}

/// `Lane` for an x86 register type: its `F32Vec` operations.
#[cfg(target_arch = "x86_64")]
macro_rules! lane_for_register {
    ($v:ty) => {
        // SAFETY (each method): a register value is made only by the unsafe `F32Vec`
        // constructors or intrinsics, on a CPU that runs its instructions (AVX2 and FMA, or
        // AVX-512F), and these inline into the entry points compiled for it.
        impl Lane for $v {
            #[inline(always)]
            fn zero() -> Self {
                unsafe { <$v as F32Vec>::zero() }
            }
            #[inline(always)]
            fn add(a: Self, b: Self) -> Self {
                unsafe { <$v as F32Vec>::add(a, b) }
            }
            #[inline(always)]
            fn sub(a: Self, b: Self) -> Self {
                unsafe { <$v as F32Vec>::sub(a, b) }
            }
            #[inline(always)]
            fn fma(a: Self, s: f32, b: Self) -> Self {
                unsafe { <$v as F32Vec>::fma(a, <$v as F32Vec>::splat(s), b) }
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
lane_for_register!(Avx2);
#[cfg(target_arch = "x86_64")]
lane_for_register!(Avx512);

#[inline(always)]
fn add<T: Lane>(a: T, b: T) -> T {
    T::add(a, b)
}
#[inline(always)]
fn sub<T: Lane>(a: T, b: T) -> T {
    T::sub(a, b)
}
/// a·s + b
#[inline(always)]
fn fma<T: Lane>(a: T, s: f32, b: T) -> T {
    T::fma(a, s, b)
}

pub struct F63;
pub struct F43;
pub struct F23;

impl Variant for F63 {
    fn fns(path: &WinogradFns) -> TransformFns {
        path.f63
    }
    const M: usize = 6;
    const N: usize = 8;
    #[rustfmt::skip]
    const G: [[f32; 3]; 8] = [
        [1.0, 0.0, 0.0],
        [-2.0 / 9.0, -2.0 / 9.0, -2.0 / 9.0],
        [-2.0 / 9.0, 2.0 / 9.0, -2.0 / 9.0],
        [1.0 / 90.0, 1.0 / 45.0, 2.0 / 45.0],
        [1.0 / 90.0, -1.0 / 45.0, 2.0 / 45.0],
        [1.0 / 45.0, 1.0 / 90.0, 1.0 / 180.0],
        [1.0 / 45.0, -1.0 / 90.0, 1.0 / 180.0],
        [0.0, 0.0, 1.0],
    ];
    #[rustfmt::skip]
    const BT: [[f32; 8]; 8] = [
        [1.0, 0.0, -5.25, 0.0, 5.25, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, -4.25, -4.25, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 4.25, -4.25, -1.0, 1.0, 0.0],
        [0.0, 0.5, 0.25, -2.5, -1.25, 2.0, 1.0, 0.0],
        [0.0, -0.5, 0.25, 2.5, -1.25, -2.0, 1.0, 0.0],
        [0.0, 2.0, 4.0, -2.5, -5.0, 0.5, 1.0, 0.0],
        [0.0, -2.0, 4.0, 2.5, -5.0, -0.5, 1.0, 0.0],
        [0.0, -1.0, 0.0, 5.25, 0.0, -5.25, 0.0, 1.0],
    ];
    #[rustfmt::skip]
    const AT: [[f32; 8]; 6] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 32.0, 32.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 16.0, -16.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 8.0, 8.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 4.0, -4.0, 0.0],
        [0.0, 1.0, 1.0, 16.0, 16.0, 2.0, 2.0, 0.0],
        [0.0, 1.0, -1.0, 32.0, -32.0, 1.0, -1.0, 1.0],
    ];
    #[inline(always)]
    fn bt<T: Lane>(d: &[T; 8]) -> [T; 8] {
        let r0 = fma(sub(d[4], d[2]), 5.25, sub(d[0], d[6]));
        let r7 = fma(sub(d[3], d[5]), 5.25, sub(d[7], d[1]));
        let a = fma(d[4], -4.25, add(d[2], d[6]));
        let b = fma(d[3], -4.25, add(d[1], d[5]));
        let c = fma(d[4], -1.25, fma(d[2], 0.25, d[6]));
        let e = fma(d[5], 2.0, fma(d[3], -2.5, fma(d[1], 0.5, T::zero())));
        let f = fma(fma(d[4], -1.25, d[2]), 4.0, d[6]);
        let h = fma(d[5], 0.5, fma(d[3], -2.5, fma(d[1], 2.0, T::zero())));
        [r0, add(a, b), sub(a, b), add(c, e), sub(c, e), add(f, h), sub(f, h), r7]
    }
    #[inline(always)]
    fn at<T: Lane>(m: &[T; 8]) -> [T; 6] {
        let (p1, n1) = (add(m[1], m[2]), sub(m[1], m[2]));
        let (p3, n3) = (add(m[3], m[4]), sub(m[3], m[4]));
        let (p5, n5) = (add(m[5], m[6]), sub(m[5], m[6]));
        [
            fma(p5, 32.0, add(add(m[0], p1), p3)),
            fma(n5, 16.0, fma(n3, 2.0, n1)),
            fma(p5, 8.0, fma(p3, 4.0, p1)),
            fma(n5, 4.0, fma(n3, 8.0, n1)),
            fma(p5, 2.0, fma(p3, 16.0, p1)),
            add(fma(n3, 32.0, add(n1, n5)), m[7]),
        ]
    }
}

impl Variant for F43 {
    fn fns(path: &WinogradFns) -> TransformFns {
        path.f43
    }
    const M: usize = 4;
    const N: usize = 6;
    #[rustfmt::skip]
    const G: [[f32; 3]; 8] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
        [0.0; 3],
        [0.0; 3],
    ];
    #[rustfmt::skip]
    const BT: [[f32; 8]; 8] = [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, -4.0, -4.0, 1.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 4.0, -4.0, -1.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0, 0.0, 0.0],
        [0.0; 8],
        [0.0; 8],
    ];
    #[rustfmt::skip]
    const AT: [[f32; 8]; 6] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 1.0, 0.0, 0.0],
        [0.0; 8],
        [0.0; 8],
    ];
    #[inline(always)]
    fn bt<T: Lane>(d: &[T; 8]) -> [T; 8] {
        let a = fma(d[2], -4.0, d[4]);
        let b = fma(d[1], -4.0, d[3]);
        let c = sub(d[4], d[2]);
        let e = sub(d[3], d[1]);
        let z = T::zero();
        [
            fma(d[0], 4.0, fma(d[2], -5.0, d[4])),
            add(a, b),
            sub(a, b),
            fma(e, 2.0, c),
            fma(e, -2.0, c),
            fma(d[1], 4.0, fma(d[3], -5.0, d[5])),
            z,
            z,
        ]
    }
    #[inline(always)]
    fn at<T: Lane>(m: &[T; 8]) -> [T; 6] {
        let (p1, n1) = (add(m[1], m[2]), sub(m[1], m[2]));
        let (p3, n3) = (add(m[3], m[4]), sub(m[3], m[4]));
        let z = T::zero();
        [add(add(m[0], p1), p3), fma(n3, 2.0, n1), fma(p3, 4.0, p1), add(fma(n3, 8.0, n1), m[5]), z, z]
    }
}

impl Variant for F23 {
    fn fns(path: &WinogradFns) -> TransformFns {
        path.f23
    }
    const M: usize = 2;
    const N: usize = 4;
    #[rustfmt::skip]
    const G: [[f32; 3]; 8] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
        [0.0; 3],
        [0.0; 3],
        [0.0; 3],
        [0.0; 3],
    ];
    #[rustfmt::skip]
    const BT: [[f32; 8]; 8] = [
        [1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, -1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0],
        [0.0; 8],
        [0.0; 8],
        [0.0; 8],
        [0.0; 8],
    ];
    #[rustfmt::skip]
    const AT: [[f32; 8]; 6] = [
        [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0],
        [0.0; 8],
        [0.0; 8],
        [0.0; 8],
        [0.0; 8],
    ];
    #[inline(always)]
    fn bt<T: Lane>(d: &[T; 8]) -> [T; 8] {
        let z = T::zero();
        [sub(d[0], d[2]), add(d[1], d[2]), sub(d[2], d[1]), sub(d[1], d[3]), z, z, z, z]
    }
    #[inline(always)]
    fn at<T: Lane>(m: &[T; 8]) -> [T; 6] {
        let z = T::zero();
        [add(add(m[0], m[1]), m[2]), sub(sub(m[1], m[2]), m[3]), z, z, z, z]
    }
}

/// U = G g Gᵀ (N×N, row-major into `u`) of one 3×3 kernel.
pub fn kernel<W: Variant>(g: &[f32], u: &mut [f32; 64]) {
    let n = W::N;
    let mut t = [[0.0f64; 3]; 8];
    for (i, row) in t.iter_mut().enumerate().take(n) {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| f64::from(W::G[i][k]) * f64::from(g[k * 3 + j])).sum();
        }
    }
    for i in 0..n {
        for j in 0..n {
            u[i * n + j] = (0..3).map(|k| t[i][k] * f64::from(W::G[j][k])).sum::<f64>() as f32;
        }
    }
}

/// Tiling of one convolution: padded input pw×ph, output ow×oh in tw×th tiles of m×m.
#[derive(Clone, Copy)]
pub struct Geometry {
    pub pw: usize,
    pub ph: usize,
    pub ow: usize,
    pub oh: usize,
    pub tw: usize,
    pub th: usize,
    pub m: usize,
    /// Floats between consecutive input channels in V, and between consecutive transform points
    /// ξ of one channel: `[inch][vs][L]` (`v_stride`) in the fused plan, `[ξ][panel][inch][L]` in
    /// the phased one.
    pub v_ch: usize,
    pub v_xi: usize,
    /// Floats per tile in M (at least `N²·outch_pad`, see `m_stride`).
    pub ms: usize,
}

impl Geometry {
    /// Top-left output (= padded input) corner of tile `t`, if it exists.
    fn origin(&self, t: usize) -> Option<(usize, usize)> {
        (t < self.tw * self.th).then(|| ((t / self.tw) * self.m, (t % self.tw) * self.m))
    }
}

/// Calls `f(offset in the output plane, length)` for every output row of tiles t0..t0+count.
pub fn for_each_tile_row(g: &Geometry, t0: usize, count: usize, mut f: impl FnMut(usize, usize)) {
    for t in t0..t0 + count {
        let Some((y0, x0)) = g.origin(t) else { break };
        let len = g.m.min(g.ow - x0);
        for y in y0..(y0 + g.m).min(g.oh) {
            f(y * g.ow + x0, len);
        }
    }
}

/// Channels per run of [`input`]'s batched writes.
const BATCH: usize = 8;

/// V = Bᵀ d B for tiles t0..t0+L of every channel: channel c's point ξ (L lanes) written at
/// `v + c·g.v_ch + ξ·g.v_xi` (nothing else written). Unsafe: `v` valid for those writes.
#[inline(always)]
pub(super) unsafe fn input<W: Variant, const L: usize, const AVX_GATHER: bool, const BATCHED: bool>(
    input: &[f32],
    inch: usize,
    g: &Geometry,
    t0: usize,
    v: *mut f32,
) {
    #[cfg(target_arch = "x86_64")]
    if AVX_GATHER && L == 8 {
        // SAFETY: the caller's contract; AVX_GATHER is only set by entry points compiled with
        // AVX2 and FMA.
        return unsafe { input_wide::<W, BATCHED>(input, inch, g, t0, v) };
    }
    let n = W::N;
    let plane = g.pw * g.ph;
    let origins: [Option<(usize, usize)>; L] = std::array::from_fn(|l| g.origin(t0 + l));
    let mut d = [[[0.0f32; L]; 8]; 8];
    debug_assert!(!BATCHED || g.v_ch == L);
    // `BATCHED`: channels adjacent at each point (the phased plan's `[ξ][panel][inch][L]`, v_ch =
    // L): BATCH channels' points are gathered here and leave as runs of BATCH·L floats, not N²
    // scattered L-float writes per channel (those made vgg16's input transforms 3.7× slower).
    let mut batch = [[[0.0f32; L]; 64]; BATCH];
    for c in 0..inch {
        let src = &input[c * plane..(c + 1) * plane];
        for (l, origin) in origins.iter().enumerate() {
            let Some((y0, x0)) = *origin else {
                for row in &mut d {
                    for col in row.iter_mut() {
                        col[l] = 0.0;
                    }
                }
                continue;
            };
            if y0 + n <= g.ph && x0 + n <= g.pw {
                for (r, row) in d.iter_mut().enumerate().take(n) {
                    let s = &src[(y0 + r) * g.pw + x0..][..n];
                    for (col, &x) in row.iter_mut().zip(s) {
                        col[l] = x;
                    }
                }
            } else {
                // Edge tile: what lies past the padded input feeds only discarded outputs.
                for (r, row) in d.iter_mut().enumerate().take(n) {
                    for (cx, col) in row.iter_mut().enumerate().take(n) {
                        let (y, x) = (y0 + r, x0 + cx);
                        col[l] = if y < g.ph && x < g.pw { src[y * g.pw + x] } else { 0.0 };
                    }
                }
            }
        }
        // Columns first (t = Bᵀ d), then rows (V = t B). Two formulations of the same sums, one
        // per tile size, for the code LLVM makes of them: F(6,3)'s is fastest as a loop over
        // columns; on 6-point tiles LLVM vectorizes that loop across columns, with gather and
        // scatter instructions (3x slower), unless each column's transform is kept whole.
        let mut t = [[[0.0f32; L]; 8]; 8];
        if n == 8 {
            for col in 0..n {
                let out = W::bt(&std::array::from_fn(|k| d[k][col]));
                for i in 0..n {
                    t[i][col] = out[i];
                }
            }
        } else {
            let by_column: [[Lanes<L>; 8]; 8] =
                std::array::from_fn(
                    |col| {
                        if col < n {
                            W::bt(&std::array::from_fn(|k| d[k][col]))
                        } else {
                            [[0.0; L]; 8]
                        }
                    },
                );
            t = std::array::from_fn(|i| std::array::from_fn(|col| by_column[col][i]));
        }
        for i in 0..n {
            let out = W::bt(&t[i]);
            for j in 0..n {
                if BATCHED {
                    batch[c % BATCH][i * n + j] = out[j];
                } else {
                    // SAFETY: the caller's contract.
                    unsafe {
                        std::ptr::copy_nonoverlapping(out[j].as_ptr(), v.add(c * g.v_ch + (i * n + j) * g.v_xi), L);
                    }
                }
            }
        }
        if BATCHED && (c % BATCH == BATCH - 1 || c + 1 == inch) {
            // SAFETY: the caller's contract.
            unsafe { flush_batch(&batch, n * n, c, g, v) };
        }
    }
}

/// Writes the batch of [`input`]'s channels that ends at channel `c` (`batch[channel][ξ]`) to V,
/// where those channels are adjacent at each of the `points` points. Unsafe: `v` valid for those
/// writes.
#[inline(always)]
unsafe fn flush_batch<const L: usize>(
    batch: &[[Lanes<L>; 64]; BATCH],
    points: usize,
    c: usize,
    g: &Geometry,
    v: *mut f32,
) {
    let first = c - c % BATCH;
    for xi in 0..points {
        // SAFETY: the caller's contract.
        unsafe {
            let dst = v.add(first * g.v_ch + xi * g.v_xi);
            // L floats at a time, a constant size: one run of (c + 1 - first)·L was a call to
            // memcpy for each point.
            for (b, channel) in batch.iter().enumerate().take(c + 1 - first) {
                std::ptr::copy_nonoverlapping(channel[xi].as_ptr(), dst.add(b * L), L);
            }
        }
    }
}

/// [`input`] on eight lanes (x86, AVX2 and FMA): each row of a channel's eight tiles gathered by
/// an 8×8 transpose of 8-value row reads (a lane whose row has fewer readable values, edge tile
/// or no tile, reads a zero-padded copy instead), and the transforms on registers ([`Lane`] for
/// `Avx2`): on plain lanes LLVM compiled F(6,3)'s into scatters, and vgg16's 56×56 256→256
/// input transforms took a fifth of the layer's time. Unsafe: as [`input`], and the CPU must
/// run AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn input_wide<W: Variant, const BATCHED: bool>(
    input: &[f32],
    inch: usize,
    g: &Geometry,
    t0: usize,
    v: *mut f32,
) {
    const L: usize = 8;
    let n = W::N;
    let plane = g.pw * g.ph;
    let origins: [Option<(usize, usize)>; L] = std::array::from_fn(|l| g.origin(t0 + l));
    let full: [bool; L] = std::array::from_fn(|l| origins[l].is_some_and(|(y0, x0)| y0 + n <= g.ph && x0 + 8 <= g.pw));
    let offsets: [usize; L] = std::array::from_fn(|l| origins[l].map_or(0, |(y0, x0)| y0 * g.pw + x0));
    let mut edge = [[0.0f32; 8]; L];
    debug_assert!(!BATCHED || g.v_ch == L);
    let mut batch = [[[0.0f32; L]; 64]; BATCH];
    let zero = <Avx2 as Lane>::zero();
    for c in 0..inch {
        let src = &input[c * plane..(c + 1) * plane];
        let mut d = [[zero; 8]; 8];
        for (r, row) in d.iter_mut().enumerate().take(n) {
            for (l, e) in edge.iter_mut().enumerate() {
                if full[l] {
                    continue;
                }
                *e = [0.0; 8];
                if let Some((y0, x0)) = origins[l] {
                    if y0 + r < g.ph {
                        let avail = g.pw.saturating_sub(x0).min(8);
                        e[..avail].copy_from_slice(&src[(y0 + r) * g.pw + x0..][..avail]);
                    }
                }
            }
            // SAFETY: `full` lanes' rows lie in the plane (checked above), the others read `edge`.
            let ptrs: [*const f32; 8] = std::array::from_fn(|l| {
                if full[l] {
                    unsafe { src.as_ptr().add(offsets[l] + r * g.pw) }
                } else {
                    edge[l].as_ptr()
                }
            });
            // SAFETY: the CPU runs AVX2 (the caller's contract); 8 floats readable at each pointer.
            *row = unsafe { avx::transpose8(ptrs) }.map(Avx2);
        }
        // Columns first (t = Bᵀ d), then rows (V = t B).
        let mut t = [[zero; 8]; 8];
        for col in 0..n {
            let out = W::bt(&std::array::from_fn(|k| d[k][col]));
            for i in 0..n {
                t[i][col] = out[i];
            }
        }
        for i in 0..n {
            let out = W::bt(&t[i]);
            for j in 0..n {
                // SAFETY: the caller's contract (V), or within `batch`.
                unsafe {
                    let dst = if BATCHED {
                        batch[c % BATCH][i * n + j].as_mut_ptr()
                    } else {
                        v.add(c * g.v_ch + (i * n + j) * g.v_xi)
                    };
                    F32Vec::store(out[j], dst);
                }
            }
        }
        if BATCHED && (c % BATCH == BATCH - 1 || c + 1 == inch) {
            // SAFETY: the caller's contract.
            unsafe { flush_batch(&batch, n * n, c, g, v) };
        }
    }
}

/// Y = Aᵀ M A for tiles t0..t0+count and output channels o0..o1, plus bias and the in-register
/// activation, scattered into the output planes at `dst`. `mp` is `[count][g.ms ≥ ξ·outch_pad]`.
/// `AVX_STORE`: whole tile rows leave by an in-register transpose (x86 entry points only), where
/// the portable body writes each channel's values one scalar at a time (on 16-channel lanes that
/// was 40% of the transform's time).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn output<W: Variant, const L: usize, const AVX_STORE: bool>(
    mp: &[f32],
    outch_pad: usize,
    g: &Geometry,
    t0: usize,
    count: usize,
    o0: usize,
    o1: usize,
    bias: Option<&[f32]>,
    act: RegAct,
    dst: *mut f32,
    _outch: usize,
) {
    unsafe {
        let (n, m) = (W::N, W::M);
        let plane = g.ow * g.oh;
        let mut s = [[[0.0f32; L]; 8]; 6];
        // Each tile's rows of Y; made once: zeroed for every tile and 16 channels, its 2.3 KB cost
        // F(2,3)'s 512-channel layers more than their arithmetic.
        let mut ys = [[[0.0f32; L]; 6]; 6];
        debug_assert!(n <= 8 && m <= 6);
        for r in 0..count {
            let Some((y0, x0)) = g.origin(t0 + r) else { break };
            let mut o = o0;
            while o < o1 {
                let lanes = L.min(o1 - o);
                let load = |xi: usize| -> [f32; L] {
                    let base = r * g.ms + xi * outch_pad + o;
                    <[f32; L]>::try_from(&mp[base..base + L]).expect("L lanes")
                };
                let b: Lanes<L> = std::array::from_fn(|l| match bias {
                    Some(b) if l < lanes => b[o + l],
                    _ => 0.0,
                });
                let rows = m.min(g.oh - y0);
                // Columns first (s = Aᵀ M), then rows (Y = s A), bias, activation.
                #[cfg(target_arch = "x86_64")]
                let wide = AVX_STORE && L == 16;
                #[cfg(not(target_arch = "x86_64"))]
                let wide = false;
                if wide {
                    #[cfg(target_arch = "x86_64")]
                    {
                        let base = r * g.ms + o;
                        assert!(base + (n * n - 1) * outch_pad + L <= mp.len());
                        // SAFETY: `AVX_STORE` with 16 lanes is only set by entry points compiled
                        // with AVX-512F; every load lies in `mp` (checked above); `ys` and `b`
                        // hold 16 lanes.
                        output_rows_avx512::<W>(
                            mp.as_ptr().add(base),
                            outch_pad,
                            b.as_ptr(),
                            rows,
                            act,
                            ys.as_mut_ptr().cast(),
                        );
                    }
                } else {
                    for col in 0..n {
                        let column: [Lanes<L>; 8] =
                            std::array::from_fn(|k| if k < n { load(k * n + col) } else { [0.0; L] });
                        let out = W::at(&column);
                        for i in 0..m {
                            s[i][col] = out[i];
                        }
                    }
                    for (i, y) in ys.iter_mut().enumerate().take(rows) {
                        *y = W::at(&s[i]);
                        for yv in y.iter_mut().take(m) {
                            *yv = act.apply_lanes(add(*yv, b));
                        }
                    }
                }
                for (i, y) in ys.iter().enumerate().take(rows) {
                    let row = (y0 + i) * g.ow + x0;
                    let cols = m.min(g.ow - x0);
                    // Whole rows with a constant count: a runtime count is compiled into masked
                    // vector stores, which are slow here.
                    if cols == W::M && AVX_STORE {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `AVX_STORE` is only set by entry points compiled with AVX2
                        // (16 lanes: AVX-512); rows of M values of `lanes` channels lie in `dst`.
                        {
                            let (y, d) = (y.as_ptr().cast::<f32>(), dst.add(o * plane + row));
                            if L == 16 {
                                avx::store16(y, W::M, lanes, d, plane);
                            } else {
                                avx::store8(y, W::M, lanes, d, plane);
                            }
                        }
                    } else if cols == W::M {
                        for l in 0..lanes {
                            let d = dst.add((o + l) * plane + row);
                            for j in 0..W::M {
                                *d.add(j) = y[j][l];
                            }
                        }
                    } else {
                        for l in 0..lanes {
                            let d = dst.add((o + l) * plane + row);
                            for j in 0..cols {
                                std::ptr::write_volatile(d.add(j), y[j][l]);
                            }
                        }
                    }
                }
                o += L;
            }
        }
    }
}

/// [`output`]'s arithmetic on 16 output channels in AVX-512 registers ([`Lane`] for `Avx512`):
/// one tile's M (point ξ's 16 channels at `mp + ξ·outch_pad`) to its first `rows` rows of Y, bias
/// (`b`, 16 lanes) and activation added, into `ys` (`[6][6][16]`). On plain 16-float lanes LLVM
/// split every value into two 256-bit halves. Unsafe: the CPU must run AVX-512F, the pointers be
/// valid for those reads and writes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn output_rows_avx512<W: Variant>(
    mp: *const f32,
    outch_pad: usize,
    b: *const f32,
    rows: usize,
    act: RegAct,
    ys: *mut f32,
) {
    let (n, m) = (W::N, W::M);
    let z = <Avx512 as Lane>::zero();
    let mut s = [[z; 8]; 6];
    // SAFETY: the caller's contract.
    unsafe {
        for col in 0..n {
            let column: [Avx512; 8] =
                std::array::from_fn(|k| if k < n { Avx512::load(mp.add((k * n + col) * outch_pad)) } else { z });
            let out = W::at(&column);
            for i in 0..m {
                s[i][col] = out[i];
            }
        }
        let bv = Avx512::load(b);
        for i in 0..rows {
            let y = W::at(&s[i]);
            for j in 0..m {
                act.apply(<Avx512 as Lane>::add(y[j], bv)).store(ys.add((i * 6 + j) * 16));
            }
        }
    }
}

pub type InputFn = unsafe fn(&[f32], usize, &Geometry, usize, usize, *mut f32);
pub type OutputFn =
    unsafe fn(&[f32], usize, &Geometry, usize, usize, usize, usize, Option<&[f32]>, RegAct, *mut f32, usize);

/// One variant's input and output transforms on one path (unsafe: the CPU must run the path).
#[derive(Clone, Copy)]
pub struct TransformFns {
    /// V written `[inch][vs][L]` (any strides).
    pub(crate) input: InputFn,
    /// V written with channels adjacent at each point (`g.v_ch` = L).
    pub(crate) input_adjacent: InputFn,
    pub(crate) output: OutputFn,
}

/// Output channels (padded) from which [`super::run_phased`] lays V out ξ-major. The products'
/// A is then contiguous (a k block of one tile panel at one ξ), as the GEMM's packed A; the input
/// transform writes N² runs (of 8 channels) per tile panel instead of one, which cost it about
/// as much as the products saved at 128 output channels: 112×112 128→128 alone (AVX-512, 1
/// thread, perf samples) products 1257 → 936, input transform 401 → 770, layer 12.2–13.0 →
/// 14.9–15.4 ms; 28×28 128→128 0.82 → 0.99 ms. From 256 channels, `profile_net` medians of 6
/// rounds alternated with panel-major V, AVX-512: vgg16 1 thread `conv3_2`/`3_3` 14.2/13.7 →
/// 13.8/13.1 ms, `conv5_x` 5.70–5.77 → 5.53–5.64, `conv4_x` ±1 %; 2 threads (7 rounds) `conv3_2`/`3_3`
/// 7.2/6.7 → 6.7/6.2, `conv5_x` 3.08–3.13 → 2.77–2.87 (an earlier 5 rounds: 3–9 % slower on
/// `conv3_x`/`4_x`, `conv5_x` 2 % slower to 6 % faster); resnet18 `res4` 2 threads 0.89–0.91 →
/// 0.84–0.85, 1 thread ±1 %.
pub(crate) const BY_XI_OUTCH: usize = 256;
/// On AVX-512 from 128 channels since its input transforms compute on registers: in-network
/// medians of runs alternated in one process (1 thread, 25 rounds) resnet18 `res3a_branch2b`/
/// `res3b_branch2a`/`res3b_branch2b` (28×28 128→128) 1.78/1.51/1.46 → 1.56/1.39/1.35 ms, googlenet
/// `conv2/3x3` (56×56 64→192) 3.99 → 3.66, vgg16 (8 rounds) `conv2_1` 9.50 → 8.72, `conv2_2`
/// 14.77 → 14.56. The other paths, not measured, keep 256.
#[cfg(target_arch = "x86_64")]
pub(crate) const BY_XI_OUTCH_AVX512: usize = 128;

/// A path's transforms for each variant. Their input lanes are the path's microkernel's `mr`
/// (tiles are the GEMM's row side), so they pair with that path's GEMM only.
#[derive(Clone, Copy)]
pub struct WinogradFns {
    pub(crate) f63: TransformFns,
    pub(crate) f43: TransformFns,
    pub(crate) f23: TransformFns,
    /// The products' kernel, of the path's microkernel's mr × nr tile.
    pub(crate) product: super::product::ProdFn,
    /// Output channels (padded) from which the phased plan lays V out ξ-major (see
    /// [`BY_XI_OUTCH`]).
    pub(crate) by_xi_outch: usize,
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// Loads 8 floats from each of 8 rows and returns the columns.
    #[inline(always)]
    pub unsafe fn transpose8(rows: [*const f32; 8]) -> [__m256; 8] {
        unsafe {
            let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(rows[i]));
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ]
        }
    }

    /// Writes channel l's first `m` (2, 4 or 6) values, `y[j·16 + l]` for j < m, to
    /// `dst + l·stride`, for l < `lanes`: the m×16 block transposed in registers. After the
    /// unpacks and shuffles, 128-bit group k of `lo[i]` holds rows 0-3 of channel 4k+i and of
    /// `hi[i]` rows 4-7.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn store16(y: *const f32, m: usize, lanes: usize, dst: *mut f32, stride: usize) {
        unsafe {
            let r: [__m512; 8] =
                std::array::from_fn(|j| if j < m { _mm512_loadu_ps(y.add(j * 16)) } else { _mm512_setzero_ps() });
            let half = |r: &[__m512]| {
                let (t0, t1) = (_mm512_unpacklo_ps(r[0], r[1]), _mm512_unpackhi_ps(r[0], r[1]));
                let (t2, t3) = (_mm512_unpacklo_ps(r[2], r[3]), _mm512_unpackhi_ps(r[2], r[3]));
                let u = [
                    _mm512_shuffle_ps::<0x44>(t0, t2),
                    _mm512_shuffle_ps::<0xEE>(t0, t2),
                    _mm512_shuffle_ps::<0x44>(t1, t3),
                    _mm512_shuffle_ps::<0xEE>(t1, t3),
                ];
                u.map(|v| {
                    [
                        _mm512_extractf32x4_ps::<0>(v),
                        _mm512_extractf32x4_ps::<1>(v),
                        _mm512_extractf32x4_ps::<2>(v),
                        _mm512_extractf32x4_ps::<3>(v),
                    ]
                })
            };
            let lo = half(&r[..4]);
            let hi = if m > 4 { half(&r[4..]) } else { [[_mm_setzero_ps(); 4]; 4] };
            store_groups(&lo, &hi, m, lanes, dst, stride);
        }
    }

    /// [`store16`] for 8 channels (AVX2).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn store8(y: *const f32, m: usize, lanes: usize, dst: *mut f32, stride: usize) {
        unsafe {
            let r: [__m256; 8] =
                std::array::from_fn(|j| if j < m { _mm256_loadu_ps(y.add(j * 8)) } else { _mm256_setzero_ps() });
            let half = |r: &[__m256]| {
                let (t0, t1) = (_mm256_unpacklo_ps(r[0], r[1]), _mm256_unpackhi_ps(r[0], r[1]));
                let (t2, t3) = (_mm256_unpacklo_ps(r[2], r[3]), _mm256_unpackhi_ps(r[2], r[3]));
                let u = [
                    _mm256_shuffle_ps::<0x44>(t0, t2),
                    _mm256_shuffle_ps::<0xEE>(t0, t2),
                    _mm256_shuffle_ps::<0x44>(t1, t3),
                    _mm256_shuffle_ps::<0xEE>(t1, t3),
                ];
                u.map(|v| [_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v)])
            };
            let lo = half(&r[..4]);
            let hi = if m > 4 { half(&r[4..]) } else { [[_mm_setzero_ps(); 2]; 4] };
            store_groups(&lo, &hi, m, lanes, dst, stride);
        }
    }

    /// Stores channel c = 4k+i's rows from `lo[i][k]` (0-3) and `hi[i][k]` (4-5).
    #[inline(always)]
    unsafe fn store_groups<const K: usize>(
        lo: &[[__m128; K]; 4],
        hi: &[[__m128; K]; 4],
        m: usize,
        lanes: usize,
        dst: *mut f32,
        stride: usize,
    ) {
        unsafe {
            for c in 0..lanes {
                let (k, i) = (c / 4, c % 4);
                let p = dst.add(c * stride);
                match m {
                    2 => _mm_store_sd(p.cast(), _mm_castps_pd(lo[i][k])),
                    4 => _mm_storeu_ps(p, lo[i][k]),
                    _ => {
                        _mm_storeu_ps(p, lo[i][k]);
                        _mm_store_sd(p.add(4).cast(), _mm_castps_pd(hi[i][k]));
                    }
                }
            }
        }
    }
}

macro_rules! entry_points {
    ($table:ident, $input:ident, $output:ident, $product:ident, $vec:ty, $nv:literal, $features:literal, $in_lanes:literal, $out_lanes:literal, $avx:literal, $by_xi:expr) => {
        pub(crate) const $table: WinogradFns = WinogradFns {
            f63: TransformFns {
                input: $input::<F63, false>,
                input_adjacent: $input::<F63, true>,
                output: $output::<F63>,
            },
            f43: TransformFns {
                input: $input::<F43, false>,
                input_adjacent: $input::<F43, true>,
                output: $output::<F43>,
            },
            f23: TransformFns {
                input: $input::<F23, false>,
                input_adjacent: $input::<F23, true>,
                output: $output::<F23>,
            },
            product: $product,
            by_xi_outch: $by_xi,
        };

        #[target_feature(enable = $features)]
        unsafe fn $product(t: &super::product::Tile) {
            unsafe { super::product::prod::<$vec, $in_lanes, $nv>(t) }
        }

        #[target_feature(enable = $features)]
        unsafe fn $input<W: Variant, const BATCHED: bool>(
            x: &[f32],
            inch: usize,
            g: &Geometry,
            t0: usize,
            lanes: usize,
            v: *mut f32,
        ) {
            debug_assert_eq!(lanes, $in_lanes);
            unsafe { input::<W, $in_lanes, $avx, BATCHED>(x, inch, g, t0, v) }
        }
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $output<W: Variant>(
            mp: &[f32],
            outch_pad: usize,
            g: &Geometry,
            t0: usize,
            count: usize,
            o0: usize,
            o1: usize,
            bias: Option<&[f32]>,
            act: RegAct,
            dst: *mut f32,
            outch: usize,
        ) {
            unsafe { output::<W, $out_lanes, $avx>(mp, outch_pad, g, t0, count, o0, o1, bias, act, dst, outch) }
        }
    };
}

#[cfg(target_arch = "aarch64")]
use crate::kernels::simd::arm::Neon;
#[cfg(target_arch = "x86_64")]
entry_points!(AVX2, input_avx2, output_avx2, product_avx2, Avx2, 2, "avx2,fma", 6, 8, true, BY_XI_OUTCH);
#[cfg(target_arch = "x86_64")]
entry_points!(
    AVX512,
    input_avx512,
    output_avx512,
    product_avx512,
    Avx512,
    2,
    "avx512f,avx2,fma",
    8,
    16,
    true,
    BY_XI_OUTCH_AVX512
);
#[cfg(target_arch = "aarch64")]
entry_points!(NEON, input_neon, output_neon, product_neon, Neon, 2, "neon", 8, 8, false, BY_XI_OUTCH);
