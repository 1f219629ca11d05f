//! The tiled GEMM every SIMD path shares: what one path implements ([`Kernel`]: tile shape, packed
//! element types, micro-kernel, B packer, epilogue), weights packed in its layout ([`pack_a`]), and
//! the loop that runs it over column and row panels on the caller's threads ([`drive`]).
//! [`GemmFns`] is the pair of them dispatch keeps for each path.
//!
//! Loop order: each task packs one B panel (NR columns × all of k, small enough for L1/L2) and
//! sweeps the rows of A over it, so B is packed once per panel and A streams from L2. When there
//! are too few panels to balance the threads on (small maps), all panels are packed once into a
//! shared buffer and the rows of A are split between tasks instead.

use super::epilogue::{Epilogue, Out, OutPtr};
use super::pack::{Buf, PackedWeights, Plain};
use super::source::ConvSource;
use crate::base::parallel;

/// One SIMD path's GEMM: tile shape, packed element types and the `#[target_feature]` entry points.
pub(crate) trait Kernel: 'static {
    const MR: usize;
    const NR: usize;
    /// k values per packed group (4 for byte dot products, 2 for int16 pairs, 1 for lanes).
    const G: usize;
    /// B is stored as u8 = s8 + 128 and rows carry the 128·Σw compensation.
    const OFFSET: bool;
    type A: Plain;
    type B: Plain;
    fn a_of(v: i8) -> Self::A;
    /// `c[MR][NR] = Σ_g a[g][MR][G] · b[g][NR][G]` over `kg` groups (c overwritten).
    ///
    /// # Safety
    /// The CPU has the path's features; `a`, `b`, `c` are valid for the sizes above.
    unsafe fn micro(kg: usize, a: *const Self::A, b: *const Self::B, c: *mut i32);
    /// [`super::epilogue::finish_row_body`] compiled for the path.
    ///
    /// # Safety
    /// The CPU has the path's features; `out` holds `acc.len()` elements owned by the caller.
    unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr);
    /// A tile's rows (see [`super::epilogue::finish_tile_body`]); by default one
    /// [`Kernel::finish_row`] call per row.
    ///
    /// # Safety
    /// As [`Kernel::finish_row`], for each row.
    #[allow(clippy::too_many_arguments)]
    unsafe fn finish_tile(
        acc: &[i32],
        ld: usize,
        cols: usize,
        comps: &[i32],
        row0: usize,
        ep: &Epilogue,
        out: OutPtr,
        out_ld: usize,
    ) {
        for (r, &c) in comps.iter().enumerate() {
            // SAFETY: the caller's contract.
            unsafe { Self::finish_row(&acc[r * ld..r * ld + cols], c, row0 + r, ep, out.add(r * out_ld)) };
        }
    }
    /// [`super::epilogue::quantize_rows_body`] compiled for the path (by default as is: NEON is
    /// aarch64's baseline).
    ///
    /// # Safety
    /// The CPU has the path's features.
    unsafe fn quantize_rows(x: &[f32], stride: usize, cols: usize, scale: f32, out: &mut [i8]) {
        super::epilogue::quantize_rows_body(x, stride, cols, scale, out);
    }
    /// Packs B's columns `j0..j0+NR` (all `kp` rows; rows past k and columns past n are zero)
    /// into `[k / G][NR][G]` with the path's element type. `rows` are [`ConvSource::row_offsets`].
    ///
    /// # Safety
    /// The CPU has the path's features.
    unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [Self::B]);
}

/// One path's GEMM as dispatch keeps it: its weight packer and its tiled product.
#[derive(Clone, Copy)]
pub struct GemmFns {
    /// Packs row-major m×k weights in the path's layout.
    pub(crate) pack_a: fn(w: &[i8], m: usize, k: usize) -> PackedWeights,
    /// C = A·B then the epilogue (sizes checked by the caller).
    ///
    /// # Safety
    /// The CPU runs the path and `a` was packed by its `pack_a`.
    pub(crate) gemm: unsafe fn(a: &PackedWeights, src: &ConvSource, ep: &Epilogue, out: &mut Out),
    /// Whether [`GemmFns::gemm_quantizing`] runs an m×n product on this many threads.
    pub(crate) quantizes: fn(m: usize, n: usize, threads: usize) -> bool,
    /// As `gemm` for a 1×1 convolution (stride 1, no padding) of float input `x` (k rows of n),
    /// quantized with `scale` by the tasks that pack it. Only where `quantizes` says so.
    ///
    /// # Safety
    /// As `gemm`.
    pub(crate) gemm_quantizing:
        unsafe fn(a: &PackedWeights, x: &[f32], scale: f32, n: usize, ep: &Epilogue, out: &mut Out),
}

impl GemmFns {
    /// The tiled GEMM of kernel `K`.
    pub(crate) const fn of<K: Kernel>() -> GemmFns {
        GemmFns {
            pack_a: pack_a::<K>,
            gemm: drive::<K>,
            quantizes: small_map::<K>,
            gemm_quantizing: drive_quantizing::<K>,
        }
    }

    /// A GEMM without the quantizing form (the reference).
    pub(crate) const fn plain(
        pack_a: fn(w: &[i8], m: usize, k: usize) -> PackedWeights,
        gemm: unsafe fn(a: &PackedWeights, src: &ConvSource, ep: &Epilogue, out: &mut Out),
    ) -> GemmFns {
        GemmFns {
            pack_a,
            gemm,
            quantizes: |_, _, _| false,
            gemm_quantizing: |_, _, _, _, _, _| unreachable!("quantizes is false"),
        }
    }
}

/// Whether an m×n product takes [`drive`]'s small-map form on `threads` threads: too few column
/// panels to balance the threads on, so all are packed first (one loop) and the rows of A split.
fn small_map<K: Kernel>(m: usize, n: usize, threads: usize) -> bool {
    threads > 1 && n.div_ceil(K::NR) < 4 * threads && m.div_ceil(K::MR) > 1
}

/// Packs m×k row-major weights for kernel `K`; rows and k beyond the matrix are zero.
pub(crate) fn pack_a<K: Kernel>(w: &[i8], m: usize, k: usize) -> PackedWeights {
    let (mr, g) = (K::MR, K::G);
    let kp = k.div_ceil(g) * g;
    let m_panels = m.div_ceil(mr);
    let mut data = Buf::zeroed::<K::A>(m_panels * mr * kp);
    let dst = data.view_mut::<K::A>();
    for p in 0..m {
        let (mp, r) = (p / mr, p % mr);
        for (kk, &v) in w[p * k..(p + 1) * k].iter().enumerate() {
            let (kg, e) = (kk / g, kk % g);
            dst[((mp * (kp / g) + kg) * mr + r) * g + e] = K::a_of(v);
        }
    }
    let comp = if K::OFFSET {
        (0..m).map(|p| 128 * w[p * k..(p + 1) * k].iter().map(|&v| i32::from(v)).sum::<i32>()).collect()
    } else {
        Vec::new()
    };
    PackedWeights { m, k, kp, data, comp }
}

/// Bytes of packed B a task keeps at once (a block of column panels, in L2 beside A's panel).
const B_BLOCK_BYTES: usize = 64 << 10;

/// Column panels per block of packed B ([`B_BLOCK_BYTES`]) for `kp` rows.
fn block<K: Kernel>(kp: usize) -> usize {
    (B_BLOCK_BYTES / (kp * K::NR * std::mem::size_of::<K::B>()).max(1)).max(1)
}

/// The tiles of row panels mp0..mp1 against the packed column panels np0..np1 (`panels` holds
/// them from np0 on), a block of column panels at a time: each row panel sweeps the whole block,
/// so a tile row's output continues where the previous tile's ended (MR sequential write
/// streams instead of one per output row, m of them, which the prefetchers cannot follow).
///
/// # Safety
/// The CPU has `K`'s features; rows mp0·MR.., columns np0·NR..np1·NR of the `a.m`×`n` output
/// behind `out` belong to the caller.
#[allow(clippy::too_many_arguments)]
unsafe fn sweep<K: Kernel>(
    a: &PackedWeights,
    n: usize,
    ep: &Epilogue,
    out: OutPtr,
    panels: &[K::B],
    (mp0, mp1): (usize, usize),
    (np0, np1): (usize, usize),
) {
    let (m, kp) = (a.m, a.kp);
    let (mr, nr) = (K::MR, K::NR);
    let panel_len = kp * nr;
    let block = block::<K>(kp);
    let a_data = a.data.view::<K::A>();
    let mut tile = vec![0i32; mr * nr];
    let zeros = vec![0i32; mr];
    for b0 in (np0..np1).step_by(block) {
        let b1 = (b0 + block).min(np1);
        for mp in mp0..mp1 {
            let i0 = mp * mr;
            let a_panel = &a_data[mp * kp * mr..(mp + 1) * kp * mr];
            for np in b0..b1 {
                let j0 = np * nr;
                let cols = nr.min(n - j0);
                let b_panel = &panels[(np - np0) * panel_len..];
                // SAFETY: panel sizes are kp·MR and kp·NR elements; tile holds MR·NR.
                unsafe { K::micro(kp / K::G, a_panel.as_ptr(), b_panel.as_ptr(), tile.as_mut_ptr()) };
                let rows = mr.min(m - i0);
                let comps = if K::OFFSET { &a.comp[i0..i0 + rows] } else { &zeros[..rows] };
                // SAFETY: rows i0.., columns j0..j0+cols of the m×n output belong to this task.
                let dst = unsafe { out.add(i0 * n + j0) };
                // SAFETY: as above; each row of dst holds `cols` elements of this task's tile.
                unsafe { K::finish_tile(&tile, nr, cols, comps, i0, ep, dst, n) };
            }
        }
    }
}

/// The tiled, threaded GEMM of one SIMD path: C = A·B(src), then the epilogue, into `out`
/// (`a.m` rows of `src.n()` values; the caller has checked the sizes).
///
/// # Safety
/// The CPU has `K`'s features.
pub(crate) unsafe fn drive<K: Kernel>(a: &PackedWeights, src: &ConvSource, ep: &Epilogue, out: &mut Out) {
    let out = out.ptr();
    let (m, n, kp) = (a.m, src.n(), a.kp);
    let (mr, nr) = (K::MR, K::NR);
    let n_panels = n.div_ceil(nr);
    let m_panels = m.div_ceil(mr);
    let block = block::<K>(kp);
    let threads = parallel::current_threads();
    let rows = src.row_offsets();
    let panel_len = kp * nr;
    // SAFETY (of each call): the caller guarantees the CPU has K's features.
    let sweep =
        |panels: &[K::B], ms: (usize, usize), ns: (usize, usize)| unsafe { sweep::<K>(a, n, ep, out, panels, ms, ns) };
    // Column panel np of B, packed into dst.
    let pack = |np: usize, dst: &mut [K::B]| {
        // SAFETY: the caller guarantees the CPU has K's features.
        unsafe { K::pack_b(src, &rows, np * nr, kp, dst) };
    };
    if small_map::<K>(m, n, threads) {
        // Too few column panels to balance the threads on: pack them all once, side by side,
        // then split the rows. (Splitting rows per panel made each task pack its panel again,
        // an im2col gather as costly as the products on a 7×7 map of a 3×3 convolution.)
        // SAFETY: pack_split's jobs cover every panel's kp rows, and each path's packer writes
        // all NR columns of every row it is given.
        let mut packed = unsafe { Buf::unwritten::<K::B>(panel_len * n_panels) };
        pack_split::<K>(packed.view_mut::<K::B>(), n_panels, kp, threads, |np, k0, k1, dst| {
            // SAFETY: the caller guarantees the CPU has K's features.
            unsafe { K::pack_b(src, &rows[k0.min(rows.len())..k1.min(rows.len())], np * nr, k1 - k0, dst) };
        });
        split_rows(packed.view::<K::B>(), panel_len, (m_panels, n_panels), threads, sweep);
        return;
    }
    // Column panels split between tasks; each packs its own, a block at a time.
    let panels_per_task = if threads == 1 { n_panels } else { n_panels.div_ceil(8 * threads).max(1) };
    let bounds = task_bounds(n_panels, panels_per_task, threads);
    parallel::for_each(bounds.len() - 1, |t: usize| {
        let (np0, np1) = (bounds[t], bounds[t + 1]);
        // SAFETY: each block's panels are packed whole (every path's packer writes all kp rows
        // of NR columns) before its sweep reads them.
        let mut panels = unsafe { Buf::unwritten::<K::B>(panel_len * block.min(np1 - np0)) };
        for b0 in (np0..np1).step_by(block) {
            let b1 = (b0 + block).min(np1);
            for np in b0..b1 {
                pack(np, &mut panels.view_mut::<K::B>()[(np - b0) * panel_len..(np - b0 + 1) * panel_len]);
            }
            sweep(panels.view::<K::B>(), (0, m_panels), (b0, b1));
        }
    });
}

/// The small-map form's products: the rows of A split between tasks, each sweeping all the
/// packed column panels `panels` (`panel_len` elements each). From 4 row panels per thread on,
/// tasks of up to a quarter of a thread's share, shrinking to single row panels where the threads
/// meet ([`task_bounds`]): conv10 of squeezenet (125 row panels) in 8 tasks of 16 left one
/// thread a task (an eighth of the layer) behind the other, 0.045 of its 0.52 ms waited at the
/// loop's end. Fewer row panels: one task each where they share out evenly, else (3 on 2
/// threads) each tile is a task.
fn split_rows<B>(
    panels: &[B],
    panel_len: usize,
    (m_panels, n_panels): (usize, usize),
    threads: usize,
    sweep: impl Fn(&[B], (usize, usize), (usize, usize)) + Sync,
) where
    B: Sync,
{
    if m_panels >= 4 * threads {
        let bounds = task_bounds(m_panels, m_panels.div_ceil(4 * threads), threads);
        parallel::for_each(bounds.len() - 1, |t| sweep(panels, (bounds[t], bounds[t + 1]), (0, n_panels)));
        return;
    }
    if m_panels.is_multiple_of(threads) {
        parallel::for_each(m_panels, |mp| sweep(panels, (mp, mp + 1), (0, n_panels)));
    } else {
        parallel::for_each(m_panels * n_panels, |tile| {
            let (mp, np) = (tile / n_panels, tile % n_panels);
            sweep(&panels[np * panel_len..], (mp, mp + 1), (np, np + 1));
        });
    }
}

/// [`drive`] for a 1×1 convolution (stride 1, no padding) of float input `x` (`a.k` rows of `n`
/// values) quantized with `scale`, in the small-map form ([`small_map`]): each packing job
/// quantizes the block of input it packs (its rows, its panel's columns) into a scratch block
/// first, so the layer runs two parallel loops instead of three (a whole-input quantize loop
/// before the packing one) and packs from values in its own cache. The packed panels, and so
/// the products, are those of `drive` on the quantized input.
///
/// # Safety
/// The CPU has `K`'s features; `small_map::<K>(a.m, n, threads)` holds.
pub(crate) unsafe fn drive_quantizing<K: Kernel>(
    a: &PackedWeights,
    x: &[f32],
    scale: f32,
    n: usize,
    ep: &Epilogue,
    out: &mut Out,
) {
    let out = out.ptr();
    let (m, k, kp) = (a.m, a.k, a.kp);
    let (mr, nr) = (K::MR, K::NR);
    let threads = parallel::current_threads();
    assert!(small_map::<K>(m, n, threads) && x.len() == k * n, "drive_quantizing: a small map");
    let (n_panels, m_panels) = (n.div_ceil(nr), m.div_ceil(mr));
    let panel_len = kp * nr;
    // SAFETY (of each call): the caller guarantees the CPU has K's features.
    let sweep =
        |panels: &[K::B], ms: (usize, usize), ns: (usize, usize)| unsafe { sweep::<K>(a, n, ep, out, panels, ms, ns) };
    // SAFETY: as in `drive`'s small-map form.
    let mut packed = unsafe { Buf::unwritten::<K::B>(panel_len * n_panels) };
    pack_split::<K>(packed.view_mut::<K::B>(), n_panels, kp, threads, |np, k0, k1, dst| {
        // Input rows k0..k1 (those below k) of the panel's columns, quantized side by side.
        let (j0, c1) = (np * nr, k1.min(k));
        let cols = nr.min(n - j0);
        let real = c1.saturating_sub(k0);
        SCRATCH.with(|cell| {
            let mut scratch = cell.take();
            scratch.0.clear();
            scratch.0.resize(real * cols, 0);
            scratch.1.clear();
            scratch.1.extend((0..real).map(|r| r * cols));
            if real > 0 {
                // SAFETY: the caller guarantees the CPU has K's features.
                unsafe { K::quantize_rows(&x[k0 * n + j0..], n, cols, scale, &mut scratch.0) };
            }
            let block = ConvSource::dense(&scratch.0, real, cols);
            // SAFETY: as above.
            unsafe { K::pack_b(&block, &scratch.1, 0, k1 - k0, dst) };
            cell.set(scratch);
        });
    });
    split_rows(packed.view::<K::B>(), panel_len, (m_panels, n_panels), threads, sweep);
}

thread_local! {
    /// [`drive_quantizing`]'s per-thread scratch: a quantized block and its row offsets.
    static SCRATCH: std::cell::Cell<(Vec<i8>, Vec<usize>)> = const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// Where the tasks of `n` column panels start (and, last, `n`): tasks of up to `most` panels,
/// shrinking to single panels towards where the calling thread (claiming from the front) meets
/// the workers (claiming from the back), about `n / threads` from the front. The tasks claimed
/// last are then the small ones: with 13 tasks of 2 panels (resnet18's 28×28 layers), one thread
/// still ran a whole task while the other waited at the loop's end (a tenth of the layer).
fn task_bounds(n: usize, most: usize, threads: usize) -> Vec<usize> {
    let meet = n / threads.max(1);
    let size = |dist: usize| (dist / 4).clamp(1, most.max(1)).min(dist);
    let mut bounds = vec![0];
    let mut at = 0;
    while at < meet {
        at += size(meet - at);
        bounds.push(at);
    }
    let mut back = Vec::new();
    let mut end = n;
    while end > meet {
        back.push(end);
        end -= size(end - meet);
    }
    bounds.extend(back.into_iter().rev());
    bounds
}

/// Packs `n_panels` column panels of `kp` rows into `packed` (side by side) on `threads` threads,
/// by `pack(np, k0, k1, dst)` for rows `k0..k1` of panel `np` (`dst`: their `[(k1-k0)/G][NR][G]`
/// part of the panel). A few panels (7 on a 14×14 map, 2 on 7×7) are cut into row slices as well,
/// so that the jobs are many and share out evenly: 7 whole-panel jobs left one thread a panel's
/// packing behind the other. The slices are taken slice-major (the first rows of every panel,
/// then the next ones), so a thread's jobs read a band of input channels, as the layer before
/// split them between threads. The packed bytes do not depend on the split.
fn pack_split<K: Kernel>(
    packed: &mut [K::B],
    n_panels: usize,
    kp: usize,
    threads: usize,
    pack: impl Fn(usize, usize, usize, &mut [K::B]) + Sync,
) {
    let (nr, g) = (K::NR, K::G);
    let panel_len = kp * nr;
    // Row slices per panel: enough for 4 jobs per thread, of at least 64 rows each.
    let groups = kp / g;
    let max_slices = (kp / 64).max(1);
    let slices = if threads == 1 { 1 } else { (4 * threads).div_ceil(n_panels).clamp(1, max_slices) };
    let per_slice = groups.div_ceil(slices);
    let slices = groups.div_ceil(per_slice.max(1)).max(1);
    let ptr = parallel::SendPtr(packed.as_mut_ptr());
    parallel::for_each(slices * n_panels, |job| {
        let (s, np) = (job / n_panels, job % n_panels);
        let (k0, k1) = (s * per_slice * g, ((s + 1) * per_slice * g).min(kp));
        // SAFETY: rows k0..k1 of panel np are elements np·panel_len + k0·NR .. + k1·NR of
        // `packed`, disjoint between jobs and within it.
        let dst = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(np * panel_len + k0 * nr), (k1 - k0) * nr) };
        pack(np, k0, k1, dst);
    });
}

#[cfg(test)]
mod bounds_tests {
    use super::task_bounds;

    #[test]
    fn task_bounds_cover_the_panels_in_order() {
        for threads in 1..=4 {
            for n in 0..200 {
                for most in 1..8 {
                    let b = task_bounds(n, most, threads);
                    assert_eq!((b[0], *b.last().unwrap()), (0, n), "n {n} most {most} threads {threads}");
                    assert!(b.windows(2).all(|w| w[0] < w[1] && w[1] - w[0] <= most), "{b:?}");
                }
            }
        }
        assert_eq!(task_bounds(25, 2, 2), [0, 2, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 23, 25]);
    }
}
