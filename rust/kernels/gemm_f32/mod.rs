//! Single-precision matrix multiply: C (m×n) = A (m×k) · B (k×n) + per-row bias, then a fused
//! activation. A is the weight side, packed once at load into panels of `mr` rows; B is packed
//! per tile by a [`PackB`] source (a dense matrix, or an implicit im2col of a convolution input),
//! so the full B never needs to exist.
//!
//! Work is split into jobs over column blocks (and row groups when there are few column blocks)
//! and run on the current thread pool ([`parallel`]); each job packs its B block into a
//! thread-local buffer, except where row groups would pack the same B block again: then B is
//! packed once, in parallel, into a buffer all jobs read.
//! The path's kernels (tile shape, microkernel, GEMV, strided im2col read) come from its
//! [`F32Path`]; [`micro`] and [`gather`] hold each path's entry points.

pub mod epilogue;
pub(crate) mod gather;
pub mod im2col;
pub(crate) mod micro;
pub mod reference;

pub use epilogue::Epilogue;
pub(crate) use micro::Tile;
use micro::{GemmFns, MicroFn};

use super::dispatch::{self, F32Call, F32Path};
use super::simd::RegAct;
use crate::base::parallel;
use std::cell::RefCell;

/// The weight matrix in the layout of one path: for each block of [`KC`] k values, every panel of
/// `mr` rows stored k-major (`[kc][mr]`, rows past m zero), so a GEMM that walks k blocks outside
/// and row panels inside reads the weights in memory order (one stream the prefetchers follow,
/// where panel-major order jumps by a panel's length at every k block: cold weights, as in a
/// network run, then arrive at a fraction of the memory's speed). The reference path keeps A
/// row-major.
pub struct PackedA {
    pub m: usize,
    pub k: usize,
    pub path: F32Path,
    /// The tile the panels are packed for (see [`micro::GemmFns::for_rows`]).
    fns: GemmFns,
    data: Vec<f32>,
}

impl PackedA {
    /// Packs for the process's f32 path.
    pub fn new(a: &[f32], m: usize, k: usize) -> Self {
        PackedA::for_path(dispatch::F32.selected(), a, m, k)
    }

    pub fn for_path(path: F32Path, a: &[f32], m: usize, k: usize) -> Self {
        PackedA::with_tile(path, path.kernels().gemm.for_rows(m), a, m, k)
    }

    /// Packs for one of the path's tiles (`fns`: the path's own or its tall one).
    pub(crate) fn with_tile(path: F32Path, fns: GemmFns, a: &[f32], m: usize, k: usize) -> Self {
        assert_eq!(a.len(), m * k);
        if fns.micro.is_none() {
            return PackedA { m, k, path, fns, data: a.to_vec() };
        }
        let mr = fns.mr;
        let panels = m.div_ceil(mr);
        let mut data = vec![0.0; panels * mr * k];
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            for pi in 0..panels {
                let panel = &mut data[PackedA::offset(mr, panels, k0, kc, pi)..][..kc * mr];
                for r in 0..mr.min(m - pi * mr) {
                    let row = &a[(pi * mr + r) * k + k0..][..kc];
                    for (p, &v) in row.iter().enumerate() {
                        panel[p * mr + r] = v;
                    }
                }
            }
        }
        PackedA { m, k, path, fns, data }
    }

    /// Where panel `pi`'s rows k0..k0+kc start (k0 a multiple of [`KC`]).
    fn offset(mr: usize, panels: usize, k0: usize, kc: usize, pi: usize) -> usize {
        k0 * mr * panels + pi * kc * mr
    }
}

/// A source of B, packed a block at a time.
pub trait PackB: Sync {
    /// Writes rows `k0..k0+kc` of columns `j0..j0+cols` into `dst` as `[kc][nr]`, zero-filling
    /// columns `cols..nr`.
    fn pack(&self, k0: usize, kc: usize, j0: usize, cols: usize, nr: usize, dst: &mut [f32]);

    /// The matrix itself (row-major, with its row stride) when the kernel can read it in place.
    fn direct(&self) -> Option<(&[f32], usize)> {
        None
    }
}

/// A row-major k×n matrix.
pub struct DenseB<'a> {
    pub data: &'a [f32],
    pub n: usize,
}

impl PackB for DenseB<'_> {
    fn pack(&self, k0: usize, kc: usize, j0: usize, cols: usize, nr: usize, dst: &mut [f32]) {
        for p in 0..kc {
            let src = &self.data[(k0 + p) * self.n + j0..][..cols];
            let d = &mut dst[p * nr..(p + 1) * nr];
            d[..cols].copy_from_slice(src);
            d[cols..].iter_mut().for_each(|v| *v = 0.0);
        }
    }

    fn direct(&self) -> Option<(&[f32], usize)> {
        Some((self.data, self.n))
    }
}

/// Depth of one k block: packed A panels (mr·KC) stay in L1 while B blocks come from L2.
const KC: usize = 384;
/// Column panels per column block, about (see [`split`]).
const NC_PANELS: usize = 6;

thread_local! {
    static PACK_BUF: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The calling thread's B packed once for all row groups (see [`gemm_from`]).
    static SHARED_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A raw output pointer handed to jobs that write disjoint tiles.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Through a method, so closures capture the Send wrapper rather than its raw field.
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// C = A·B then the epilogue, for a dense row-major B (k×n) and C (m×n).
pub fn gemm(a: &PackedA, b: &[f32], n: usize, c: &mut [f32], epilogue: Epilogue) {
    gemm_from(a, &DenseB { data: b, n }, n, c, n, epilogue);
}

/// C = A·B then the epilogue, B from any source; `c` holds m rows of `ldc` floats, of which the
/// first n are written.
pub fn gemm_from(a: &PackedA, b: &(impl PackB + ?Sized), n: usize, c: &mut [f32], ldc: usize, epilogue: Epilogue) {
    let (m, k) = (a.m, a.k);
    assert!(ldc >= n && c.len() >= m.saturating_sub(1) * ldc + if m > 0 { n } else { 0 });
    if let Some(bias) = epilogue.bias {
        assert!(bias.len() >= m);
    }
    if m == 0 || n == 0 {
        return;
    }
    a.path.count(F32Call::Gemm);
    let kernel = a.fns;
    let Some(micro) = kernel.micro else {
        let mut dense = vec![0.0; k * n];
        b.pack(0, k, 0, n, n, &mut dense);
        let mut out = vec![0.0; m * n];
        reference::gemm(&a.data, m, k, &dense, n, &mut out, epilogue);
        for (i, row) in out.chunks(n).enumerate() {
            c[i * ldc..i * ldc + n].copy_from_slice(row);
        }
        return;
    };
    let (mr, nr) = (kernel.mr, kernel.nr);
    let (reg_act, rest_act) = RegAct::split(epilogue.activation);
    let n_panels = n.div_ceil(nr);
    let m_panels = m.div_ceil(mr);
    let threads = parallel::current_threads();
    let direct = b.direct();
    // B read in place and no smaller than A: each thread takes its own columns (see
    // [`by_columns`]).
    let by_cols = direct.is_some() && by_columns(m, n, n_panels, threads);
    let (col_blocks, row_groups) = if by_cols { (threads, 1) } else { split(m_panels, n_panels, threads) };
    let k_blocks = k.div_ceil(KC).max(1);
    let share_b = direct.is_none() && row_groups > 1 && k > 0;
    // With B shared, a row group costs no packing, so the panels are shared out evenly: group rg
    // is panels rg·m_panels/row_groups.. (48 rows, 6 panels, in 4 groups: 1, 2, 1, 2, where groups
    // of 2 were 3 jobs, 2 on one thread and 1 on the other). Not one panel per group: a job walks
    // all of k for its panels, so with one panel each it streamed the whole packed B (a 7×7 map's
    // 3×3 s2 convolution from 256 channels: 590 KB; 14×14 from 128: 1 MB) once per panel through
    // L2 beside A, where a group of panels reuses each k block of B from L2 (see the commit).
    // Otherwise groups are equal runs of panels, as many jobs as a multiple of the threads.
    let panels_per_group = if share_b { 0 } else { group_panels(m_panels, row_groups, col_blocks, threads) };
    let row_groups = if share_b { row_groups } else { m_panels.div_ceil(panels_per_group) };
    let group = |rg: usize| {
        if share_b {
            even_group(rg, row_groups, m_panels)
        } else {
            (rg * panels_per_group, ((rg + 1) * panels_per_group).min(m_panels))
        }
    };
    let out = OutPtr(c.as_mut_ptr());
    // A B that must be packed (an implicit im2col) and C split into row groups: every row
    // group's job packed the same columns of B again, so 2 threads did the packing of 4 (a 14×14
    // map's 196 columns are one block in 4 row groups), and googlenet's 5×5 convolutions, whose
    // packing costs about as much as their products, ran slower on 2 threads than on 1. Then B
    // is packed once, its panels shared out between the threads, into one buffer the jobs read.
    let mut shared_buf = Vec::new();
    if share_b {
        shared_buf = SHARED_B.with(RefCell::take);
        let len = k * n_panels * nr;
        if shared_buf.len() < len {
            shared_buf.resize(len, 0.0);
        }
        let dst = OutPtr(shared_buf.as_mut_ptr());
        parallel::for_each(k_blocks * n_panels, |unit| {
            let (kb, jp) = (unit / n_panels, unit % n_panels);
            let k0 = kb * KC;
            let kc = KC.min(k - k0);
            let cols = nr.min(n - jp * nr);
            // SAFETY: units write disjoint [kc][nr] panels within the buffer's len.
            let d = unsafe {
                std::slice::from_raw_parts_mut(dst.get().add(shared_offset(k0, kc, jp, n_panels, nr)), kc * nr)
            };
            b.pack(k0, kc, jp * nr, cols, nr, d);
        });
    }
    let shared = share_b.then_some(&shared_buf[..]);

    let job = |job: usize| {
        let (rg, cb) = (job % row_groups, job / row_groups);
        let (j0, jcols) = if by_cols {
            let (q0, q1) = even_group(cb, col_blocks, n_panels);
            (q0 * nr, (q1 * nr).min(n) - q0 * nr)
        } else {
            let j0 = cb * NC_PANELS * nr;
            (j0, if cb + 1 == col_blocks { n - j0 } else { NC_PANELS * nr })
        };
        let jpanels = jcols.div_ceil(nr);
        let (p0, p1) = group(rg);
        PACK_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            let need = if shared.is_some() { 0 } else { KC.min(k.max(1)) * jpanels * nr };
            if buf.len() < need {
                buf.resize(need, 0.0);
            }
            for kb in 0..k_blocks {
                let k0 = kb * KC;
                let kc = KC.min(k - k0.min(k));
                // Full panels of a dense B are read in place; packing them would cost as much as
                // the products when m is small.
                for jp in 0..jpanels {
                    let cols = nr.min(jcols - jp * nr);
                    if shared.is_none() && (direct.is_none() || cols < nr || kc == 0) {
                        b.pack(k0, kc, j0 + jp * nr, cols, nr, &mut buf[jp * kc * nr..(jp + 1) * kc * nr]);
                    }
                }
                let last = kb + 1 == k_blocks;
                for pi in p0..p1 {
                    let i0 = pi * mr;
                    let rows = mr.min(m - i0);
                    let mut bias = [0.0f32; 16];
                    if let Some(bv) = epilogue.bias {
                        bias[..rows].copy_from_slice(&bv[i0..i0 + rows]);
                    }
                    let apanel = a.data[PackedA::offset(mr, m_panels, k0, kc, pi)..].as_ptr();
                    for jp in 0..jpanels {
                        let cols = nr.min(jcols - jp * nr);
                        let (bp, ldb) = match (shared, direct) {
                            (Some(sb), _) => (sb[shared_offset(k0, kc, j0 / nr + jp, n_panels, nr)..].as_ptr(), nr),
                            (None, Some((data, ld))) if cols == nr && kc > 0 => {
                                (data[k0 * ld + j0 + jp * nr..].as_ptr(), ld)
                            }
                            _ => (buf[jp * kc * nr..].as_ptr(), nr),
                        };
                        let run = |f: MicroFn, at: usize, cols: usize| {
                            let tile = Tile {
                                kc,
                                a: apanel,
                                lda: mr,
                                // SAFETY: `at` is within the panel's nr columns of B.
                                b: unsafe { bp.add(at) },
                                ldb,
                                // SAFETY: within c (checked above); jobs write disjoint tiles.
                                c: unsafe { out.get().add(i0 * ldc + j0 + jp * nr + at) },
                                ldc,
                                rows,
                                cols,
                                bias: bias.as_ptr(),
                                accumulate: kb > 0,
                                act: if last { reg_act } else { RegAct::None },
                            };
                            // SAFETY: dispatch hands out only paths this CPU runs.
                            unsafe { f(&tile) };
                        };
                        if cols == nr {
                            run(micro, 0, cols);
                        } else {
                            kernel.tail_split(cols, run);
                        }
                    }
                    if let (true, Some(act)) = (last, rest_act) {
                        for r in 0..rows {
                            // SAFETY: this job's rows and columns of c.
                            let row =
                                unsafe { std::slice::from_raw_parts_mut(out.get().add((i0 + r) * ldc + j0), jcols) };
                            act.apply_slice(row);
                        }
                    }
                }
            }
        });
    };
    parallel::for_each(row_groups * col_blocks, job);
    if share_b {
        SHARED_B.with(|s| *s.borrow_mut() = shared_buf);
    }
}

/// Where column panel `jp`'s rows k0..k0+kc start in the shared packed B (k0 a multiple of [`KC`]):
/// for each k block, its panels one after another, each `[kc][nr]`.
fn shared_offset(k0: usize, kc: usize, jp: usize, n_panels: usize, nr: usize) -> usize {
    k0 * n_panels * nr + jp * kc * nr
}

/// Whether [`gemm_from`] gives each thread an equal run of column panels (one job each, all of A)
/// rather than a share of the rows (all of B each): for a B read in place with no more rows than
/// columns in C (so A, m×k, is no larger than B, k×n), and enough panels to share out. A B read
/// in place is the previous layer's output, which both threads wrote a part of: in row groups
/// each thread read all of it, half from the other core's cache, and the 1×1 convolutions on
/// 14×14 maps with many input channels (squeezenet 1.1's fire6–fire9 squeeze1x1: 48–64 rows,
/// 256–512 channels) ran no faster on 2 threads than on 1, at up to 2.4 times the CPU time.
fn by_columns(m: usize, n: usize, n_panels: usize, threads: usize) -> bool {
    threads > 1 && 3 * m <= n && n_panels >= 3 * threads && n_panels.div_ceil(NC_PANELS) < 2 * threads
}

/// Row group `rg` of `groups` over `m_panels` panels when B is shared: the panels rg·m/groups..,
/// so group sizes differ by at most one.
fn even_group(rg: usize, groups: usize, m_panels: usize) -> (usize, usize) {
    (rg * m_panels / groups, (rg + 1) * m_panels / groups)
}

/// How [`gemm_from`] splits C: (column blocks, row groups); a job is one row group of one column
/// block. Column blocks are `NC_PANELS` panels, the last one up to half a block more: a last
/// block of its own for a few columns (a 14×14 map's 196 columns: 6 panels and 4 columns) made
/// jobs that streamed as much of A as a full one for little work, and the thread that took them
/// ran ~40 % longer than the other (2-thread 1x1 layers on 14×14 maps −12 %, minimums). With few
/// column blocks the rows are split too, so that the jobs come to a multiple of the threads
/// (equal jobs share out evenly: 5 on 2 threads leave one idle for a job's time). Which job
/// computes an element does not change its sum.
fn split(m_panels: usize, n_panels: usize, threads: usize) -> (usize, usize) {
    let col_blocks = ((n_panels + NC_PANELS / 2) / NC_PANELS).max(1);
    if threads <= 1 {
        return (col_blocks, 1);
    }
    let mut row_groups = if col_blocks >= 2 * threads { 1 } else { (2 * threads).div_ceil(col_blocks) };
    if col_blocks * row_groups < 8 * threads {
        while !(col_blocks * row_groups).is_multiple_of(threads) {
            row_groups += 1;
        }
    }
    (col_blocks, row_groups.clamp(1, m_panels.max(1)))
}

/// Row panels per group of [`gemm_from`] when each row group packs its own B (or reads it in
/// place): about `m_panels / row_groups`, but the groups rounded to make the jobs a multiple of the
/// threads where [`split`] wanted them so. 6 row panels in the 4 groups asked for were 3 groups
/// of 2, and on 2 threads one thread ran two of them while the other waited: squeezenet's fire6
/// and fire7 squeeze1x1 (48 rows, 14×14 map, one column block) took 0.82 of their 1-thread time
/// on 2 threads, fire8/fire9's (64 rows: 4 groups of 2) 0.65. Larger groups first (there 2 of 3),
/// else smaller: 6 groups of 1 took fire6/fire7 squeeze1x1 0.0155/0.0223 ms against 0.0140/0.0201
/// in 2 groups of 3 (medians, 2 threads, alternated).
fn group_panels(m_panels: usize, row_groups: usize, col_blocks: usize, threads: usize) -> usize {
    let per = m_panels.div_ceil(row_groups.max(1)).max(1);
    let jobs = |per: usize| m_panels.div_ceil(per) * col_blocks;
    if threads <= 1 || jobs(per).is_multiple_of(threads) || jobs(per) >= 8 * threads {
        return per;
    }
    let even = |p: &usize| jobs(*p).is_multiple_of(threads);
    (per + 1..=m_panels).find(even).or_else(|| (1..per).rev().find(even)).unwrap_or(per)
}

/// y = A·x (A row-major m×k, not packed) then the epilogue: the 1-column case, where tiling
/// would waste the kernel's width.
pub fn gemv(path: F32Path, a: &[f32], k: usize, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
    let m = y.len();
    assert!(a.len() == m * k && x.len() == k);
    path.count(F32Call::Gemv);
    let gemv = path.kernels().gemm.gemv;
    let (reg_act, rest_act) = RegAct::split(epilogue.activation);
    let zeros;
    let bias = if let Some(b) = epilogue.bias {
        &b[..m]
    } else {
        zeros = vec![0.0; m];
        &zeros
    };
    // Rows per job: enough work to be worth a task.
    let rows = (16384 / k.max(1)).clamp(4, 1024).next_multiple_of(4);
    let run = |ci: usize, ys: &mut [f32]| {
        let r0 = ci * rows;
        let a = &a[r0 * k..(r0 + ys.len()) * k];
        // SAFETY: dispatch hands out only paths this CPU runs; sizes match.
        unsafe { gemv(a, k, x, ys, &bias[r0..r0 + ys.len()], reg_act) };
        if let Some(act) = rest_act {
            act.apply_slice(ys);
        }
    };
    parallel::for_each_chunk(y, rows, 1, run);
}

#[cfg(test)]
mod tests;
