//! The microkernel and GEMV bodies, generic over the vector type, each path's entry points, and
//! each path's [`GemmFns`] (the tile shape with its kernels), which dispatch picks from.
//!
//! `unsafe`: the kernels' one contract ([`crate::kernels`]); each body is one block under it.

use crate::kernels::simd::{hsum, F32Vec, RegAct};

/// One microkernel call: a `rows`×`cols` tile of C (at most mr×nr) from kc steps of packed A
/// (kc groups of mr values, `lda` apart: mr when packed) and B (kc rows of nr values, `ldb`
/// apart: nr when packed).
pub(crate) struct Tile {
    pub kc: usize,
    pub a: *const f32,
    pub lda: usize,
    pub b: *const f32,
    pub ldb: usize,
    pub c: *mut f32,
    pub ldc: usize,
    pub rows: usize,
    pub cols: usize,
    /// mr values, used when `accumulate` is false.
    pub bias: *const f32,
    /// Add to C (a later k block) instead of starting from the bias.
    pub accumulate: bool,
    pub act: RegAct,
}

/// Runs one tile (unsafe: the CPU must run the path, and the tile's pointers be valid for its sizes).
pub(crate) type MicroFn = unsafe fn(&Tile);
/// y = A·x + bias then the in-register activation, A row-major m×k with m = `y.len()` (unsafe: the
/// CPU must run the path).
pub(crate) type GemvFn = unsafe fn(a: &[f32], k: usize, x: &[f32], y: &mut [f32], bias: &[f32], act: RegAct);

/// One path's GEMM kernels as dispatch keeps them: the tile shape, the microkernel (none on the
/// reference path, which multiplies row by row), narrower microkernels for the last columns and
/// the GEMV.
#[derive(Clone, Copy)]
pub struct GemmFns {
    pub mr: usize,
    pub nr: usize,
    pub(crate) micro: Option<MicroFn>,
    /// Microkernels of the same mr and narrower tiles (widths descending, each a divisor of nr)
    /// for the last, partial column panel: on AVX-512 a 14×14 map's 196 columns cost 208
    /// columns of work rather than 224. Only where a narrow tile keeps the FMA units busy (a
    /// half-width AVX2 tile issues as many broadcasts per FMA and does half the work).
    pub(crate) narrow: &'static [(usize, MicroFn)],
    pub(crate) gemv: GemvFn,
    /// A taller tile of the same width for the GEMM path alone ([`super::PackedA`] picks it by
    /// the row count; Winograd keeps `mr`): on AVX-512, 12×32 loads each B vector for 12 FMAs
    /// rather than 8, and ran the large 1×1 convolutions 5–10 % faster (1 thread, minimums,
    /// alternated: mobilenet's 512-channel pointwise layers 0.92–0.96 and squeezenet 1.1's
    /// conv10, 1000 rows, 0.90 of the 8×32 tile's time).
    pub(crate) tall: Option<&'static GemmFns>,
}

impl GemmFns {
    /// The tile for a GEMM of `m` rows: the tall one unless its padding of the last row panel
    /// costs more than it saves (a row of the 12-row tile taken as 0.9 of an 8-row one): 16 or
    /// 32 rows stay at 8 (squeezenet 1.1's fire2/fire3 squeeze 1×1, 16 rows padded to 24, ran
    /// 1.24–1.26× as long on the 12-row tile), 48 or 1000 go to 12.
    pub(crate) fn for_rows(&self, m: usize) -> GemmFns {
        match self.tall {
            Some(t) if m.next_multiple_of(t.mr) * 9 < m.next_multiple_of(self.mr) * 10 => *t,
            _ => *self,
        }
    }

    /// The kernels and widths that cover a last panel of `cols` (< nr) columns: the widest full
    /// narrow tiles that fit, then the narrowest (partial) for the rest; the full-width kernel
    /// when that would cover as many columns in one call.
    pub(crate) fn tail_split(&self, cols: usize, mut visit: impl FnMut(MicroFn, usize, usize)) {
        let Some(micro) = self.micro else { return };
        let narrowest = self.narrow.last().map_or(self.nr, |&(w, _)| w);
        if cols + narrowest > self.nr {
            return visit(micro, 0, cols);
        }
        let mut at = 0;
        while at < cols {
            let rem = cols - at;
            let &(w, f) = self.narrow.iter().find(|&&(w, _)| w <= rem).unwrap_or(&self.narrow[self.narrow.len() - 1]);
            let n = w.min(rem);
            visit(f, at, n);
            at += n;
        }
    }
}

/// The reference path: no microkernel, a scalar GEMV.
pub(crate) const REFERENCE: GemmFns = GemmFns { mr: 1, nr: 1, micro: None, narrow: &[], gemv: gemv_scalar, tall: None };

/// Largest mr·nr of any kernel (the partial-tile scratch).
const MAX_TILE: usize = 512;

/// Accumulates an MR × (NV·LANES) tile in registers over kc steps of packed A and B.
#[inline(always)]
unsafe fn micro<V: F32Vec, const MR: usize, const NV: usize>(t: &Tile) {
    unsafe {
        match MR {
            6 => micro_6::<V, NV>(t),
            8 => micro_8::<V, NV>(t),
            12 => micro_12::<V, NV>(t),
            _ => unreachable!("no {MR}-row microkernel"),
        }
    }
}

/// The microkernel for one row count, each row's accumulators a variable of their own (`acc` as
/// one `[[V; NV]; MR]` array stayed in registers at 8 rows, but at 12 LLVM unrolled its loops
/// too late to break it up: it zeroed the array with a memset and stored every accumulator back
/// to the stack after each FMA, at half the speed).
macro_rules! micro_rows {
    ($name:ident: $($acc:ident $i:literal),+) => {
        #[inline(always)]
        unsafe fn $name<V: F32Vec, const NV: usize>(t: &Tile) {
            const MR: usize = 0 $(+ { let _ = $i; 1 })+;
            unsafe {
                let nr = NV * V::LANES;
                debug_assert!(MR * nr <= MAX_TILE && t.rows <= MR && t.cols <= nr);
                let full = t.rows == MR && t.cols == nr;
                // Initialised only for a partial tile: zeroing 2 KB on every call cost as much as a
                // small tile's products.
                let mut scratch: [f32; MAX_TILE];
                let (cp, ldc) = if full {
                    (t.c, t.ldc)
                } else {
                    scratch = [0.0; MAX_TILE];
                    (scratch.as_mut_ptr(), nr)
                };
                if t.accumulate && !full {
                    for i in 0..t.rows {
                        std::ptr::copy_nonoverlapping(t.c.add(i * t.ldc), cp.add(i * nr), t.cols);
                    }
                }
                $(
                    let mut $acc: [V; NV] = if t.accumulate {
                        std::array::from_fn(|v| V::load(cp.add($i * ldc + v * V::LANES)))
                    } else {
                        [V::splat(*t.bias.add($i)); NV]
                    };
                )+
                let (mut a, mut b) = (t.a, t.b);
                // In a network run the packed weights come cold from memory, and a panel is read
                // again for each column tile from L1, so the hardware prefetchers lose the stream:
                // fetch the next panel (which follows this one in memory) while this one is used,
                // a line every 2 steps.
                let ahead = t.lda * t.kc;
                for _ in 0..t.kc {
                    V::prefetch(a.add(ahead));
                    let bv: [V; NV] = std::array::from_fn(|v| V::load(b.add(v * V::LANES)));
                    $(
                        let av = V::splat(*a.add($i));
                        for (r, &x) in $acc.iter_mut().zip(&bv) {
                            *r = V::fma(av, x, *r);
                        }
                    )+
                    a = a.add(t.lda);
                    b = b.add(t.ldb);
                }
                $(
                    for (v, &r) in $acc.iter().enumerate() {
                        t.act.apply(r).store(cp.add($i * ldc + v * V::LANES));
                    }
                )+
                if !full {
                    for i in 0..t.rows {
                        std::ptr::copy_nonoverlapping(cp.add(i * nr), t.c.add(i * t.ldc), t.cols);
                    }
                }
            }
        }
    };
}

micro_rows!(micro_6: a0 0, a1 1, a2 2, a3 3, a4 4, a5 5);
micro_rows!(micro_8: a0 0, a1 1, a2 2, a3 3, a4 4, a5 5, a6 6, a7 7);
micro_rows!(micro_12: a0 0, a1 1, a2 2, a3 3, a4 4, a5 5, a6 6, a7 7, a8 8, a9 9, a10 10, a11 11);

/// y = A·x + bias, four rows at a time so each load of x serves four rows.
#[inline(always)]
unsafe fn gemv<V: F32Vec>(a: &[f32], k: usize, x: &[f32], y: &mut [f32], bias: &[f32], act: RegAct) {
    unsafe {
        let m = y.len();
        let l = V::LANES;
        let kv = k / l * l;
        let xp = x.as_ptr();
        let mut i = 0;
        while i < m {
            let rows = 4.min(m - i);
            let mut acc = [V::zero(); 4];
            let ap: [*const f32; 4] = std::array::from_fn(|r| a.as_ptr().add((i + r.min(rows - 1)) * k));
            let mut p = 0;
            while p < kv {
                let xv = V::load(xp.add(p));
                for r in 0..4 {
                    acc[r] = V::fma(V::load(ap[r].add(p)), xv, acc[r]);
                }
                p += l;
            }
            for r in 0..rows {
                let mut s = hsum(acc[r]);
                for (q, &xq) in x.iter().enumerate().skip(kv) {
                    s += *ap[r].add(q) * xq;
                }
                y[i + r] = act.apply_scalar(s + bias[i + r]);
            }
            i += 4;
        }
    }
}

unsafe fn gemv_scalar(a: &[f32], k: usize, x: &[f32], y: &mut [f32], bias: &[f32], act: RegAct) {
    for (i, yv) in y.iter_mut().enumerate() {
        let s: f32 = a[i * k..(i + 1) * k].iter().zip(x).map(|(&p, &q)| p * q).sum();
        *yv = act.apply_scalar(s + bias[i]);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;
    use crate::kernels::simd::x86::{Avx2, Avx512};

    pub(crate) const AVX2: GemmFns =
        GemmFns { mr: 6, nr: 16, micro: Some(micro_avx2), narrow: &[], gemv: gemv_avx2, tall: None };
    pub(crate) const AVX512: GemmFns = GemmFns {
        mr: 8,
        nr: 32,
        micro: Some(micro_avx512),
        narrow: &[(16, micro_avx512_16)],
        gemv: gemv_avx512,
        tall: Some(&AVX512_TALL),
    };
    const AVX512_TALL: GemmFns = GemmFns {
        mr: 12,
        nr: 32,
        micro: Some(micro_avx512_12),
        narrow: &[(16, micro_avx512_12_16)],
        gemv: gemv_avx512,
        tall: None,
    };

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn micro_avx2(t: &Tile) {
        unsafe { micro::<Avx2, 6, 2>(t) }
    }
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemv_avx2(a: &[f32], k: usize, x: &[f32], y: &mut [f32], bias: &[f32], act: RegAct) {
        unsafe { gemv::<Avx2>(a, k, x, y, bias, act) }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn micro_avx512(t: &Tile) {
        unsafe { micro::<Avx512, 8, 2>(t) }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn micro_avx512_16(t: &Tile) {
        unsafe { micro::<Avx512, 8, 1>(t) }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn micro_avx512_12(t: &Tile) {
        unsafe { micro::<Avx512, 12, 2>(t) }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn micro_avx512_12_16(t: &Tile) {
        unsafe { micro::<Avx512, 12, 1>(t) }
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn gemv_avx512(a: &[f32], k: usize, x: &[f32], y: &mut [f32], bias: &[f32], act: RegAct) {
        unsafe { gemv::<Avx512>(a, k, x, y, bias, act) }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use super::*;
    use crate::kernels::simd::arm::Neon;

    pub(crate) const NEON: GemmFns =
        GemmFns { mr: 8, nr: 8, micro: Some(micro_neon), narrow: &[], gemv: gemv_neon, tall: None };

    #[target_feature(enable = "neon")]
    pub unsafe fn micro_neon(t: &Tile) {
        unsafe { micro::<Neon, 8, 2>(t) }
    }
    #[target_feature(enable = "neon")]
    pub unsafe fn gemv_neon(a: &[f32], k: usize, x: &[f32], y: &mut [f32], bias: &[f32], act: RegAct) {
        unsafe { gemv::<Neon>(a, k, x, y, bias, act) }
    }
}
