//! Winograd convolution for 3×3 stride-1 kernels: F(6,3) (8×8 input tiles), F(4,3) (6×6) and
//! F(2,3) (4×4), the variant chosen per input size. Output = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per tile, the ⊙ summed
//! over input channels as N² small GEMMs: for each transform position ξ,
//! `M_ξ` (tiles × outch) = `V_ξ` (tiles × inch) · `U_ξ` (inch × outch). Tiles are the GEMM's row side
//! so a few tiles waste little; U is packed once (lazily, on first use of each variant).
//!
//! The matrices are the Cook–Toom ones for the points 0, ±1, ±2, ±1/2 (and ∞), with F(6,3)'s
//! ±1/2 columns scaled by 32 into Aᵀ (as ncnn does) to keep magnitudes balanced.

pub(crate) mod product;
#[cfg(test)]
mod tests;
pub(crate) mod transform;

use crate::base::parallel;
use crate::kernels::dispatch::{self, F32Path};
use crate::kernels::gemm_f32::micro::GemmFns;
use crate::kernels::gemm_f32::{Epilogue, Tile};
use crate::kernels::simd::RegAct;
use std::cell::RefCell;
use std::sync::OnceLock;
use transform::Variant;

/// Whether Winograd can beat the GEMM for these channel counts (small ones are transform-bound)
/// on this process's f32 path.
pub fn pays(inch: usize, outch: usize) -> bool {
    dispatch::F32.selected().kernels().winograd.is_some() && inch >= 8 && outch >= 8
}

/// Which variant (tile size m) to use, or None when the im2col GEMM is cheaper: the smallest
/// estimated time. Arithmetic: the products (tiles padded to the microkernel's mr, output
/// channels to its nr), plus Winograd's transforms (each tile's N² points per input channel,
/// and per output channel). Memory: in a network run the weights come cold from memory, and
/// Winograd's transformed weights are N²/9 times the raw ones. The rates are fitted to the 3×3
/// layers of the benchmark models alone on AVX-512, one thread: 10.5 ps per product (about 190
/// GFLOPS), 0.31 ns per transformed point and channel (0.24 ns for F(2,3), whose 4×4 transforms
/// take two additions per point and pass), 20 GB/s from memory, the whole transfer counted.
/// (Counting it half hidden, with one transform rate, put the 14×14 layers on F(4,3); F(2,3)
/// measured 2–18 % faster on every one of them: squeezenet fire6–9, resnet18 res4, googlenet
/// `inception_4a`–`4e`, vgg16 conv5. No other choice in those models changed.)
///
/// A layer run in phases by several chunks of tiles ([`run_phased`]) reads U once per chunk. When
/// U and a chunk's V and M together exceed [`L3_BYTES`], those reads come from memory again, and
/// each is counted: vgg16's 56×56 256→256 layers (F(6,3): U 16.8 MB, two chunks of 8.4 MB) took
/// 7.0–7.4 ms each against 6.2–6.6 ms on F(4,3) (U 9.4 MB, chunks of 4.1 MB that stay beside it),
/// `profile_net` minimums, AVX-512, one thread; the model counting U once chose F(6,3).
///
/// Compute does not always hide the transfer: a transfer at [`COLD_BYTE`]'s rate (weights cold in
/// a network run on a host with less memory bandwidth per core) longer than the arithmetic costs
/// the difference, when that exceeds the 20 GB/s term. That is what decides layers of few tiles and
/// large U, whose products are short against U: on an Intel Xeon (model 207, AVX-512, 2 vCPUs)
/// googlenet's 7×7 `inception_5a/3x3` and `5b/3x3` took 0.52 / 0.72 ms on the GEMM against
/// 0.85 / 1.22 on F(2,3) (`profile_net` in-network minimums of 3 rounds, one thread; two threads
/// 0.29 / 0.41 against 0.41 / 0.60), resnet18's 7×7 512→512 layers 2.43–2.46 ms against
/// 2.99–3.05 (two threads 1.35–1.39 against 1.58–1.63), and `squeezenet_ssd`'s 1×1, 2×2 and 4×4
/// heads half as long (`fire11_mbox_conf` 0.56 against 1.08 ms). Every other choice in the
/// benchmark models stays. At 7 GB/s `squeezenet_ssd`'s 18×18 512→24 `fire9_mbox_loc` left F(6,3)
/// too: 1.32 against 1.37 ms on one thread, but 0.98 against 0.75 on two (7 rounds).
fn choose(kernel: &GemmFns, ow: usize, oh: usize, inch: usize, outch: usize) -> Option<usize> {
    const PRODUCT: f64 = 10.5e-12;
    const BYTE: f64 = 1.0 / 20e9;
    // Arithmetic plus the transfer of `bytes`: at the fitted rate, or the part of a cold transfer
    // the arithmetic does not hide, whichever is longer.
    let total = |arith: f64, bytes: f64| arith + (BYTE * bytes).max(COLD_BYTE * bytes - arith);
    let outch_pad = outch.next_multiple_of(kernel.nr);
    let (inch_f, outch_f, outch_pad_f) = (inch as f64, outch as f64, outch_pad as f64);
    let cost = |m: usize| {
        let n2 = (m + 2) * (m + 2);
        let tiles = ow.div_ceil(m) * oh.div_ceil(m);
        let products = tiles.next_multiple_of(kernel.mr) as f64 * n2 as f64 * inch_f * outch_pad_f;
        let transforms = tiles as f64 * n2 as f64 * (inch_f + outch_f);
        let transform = if m == 2 { 0.24e-9 } else { 0.31e-9 };
        let u_reads = u_reads(n2, kernel.mr, inch, outch_pad, tiles.div_ceil(kernel.mr)) as f64;
        total(PRODUCT * products + transform * transforms, 4.0 * n2 as f64 * inch_f * outch_f * u_reads)
    };
    let pixels = (ow * oh).next_multiple_of(kernel.nr) as f64;
    let direct = total(PRODUCT * 9.0 * inch_f * outch_f * pixels, 4.0 * 9.0 * inch_f * outch_f);
    let (m, best) = [6, 4, 2].into_iter().map(|m| (m, cost(m))).min_by(|a, b| a.1.total_cmp(&b.1))?;
    (best < direct).then_some(m)
}

/// Seconds per byte of weights cold from memory when nothing overlaps the transfer: fitted to
/// [`choose`]'s note (its 7×7 layers go to the GEMM below 8 GB/s, `fire9_mbox_loc` above 7.25).
const COLD_BYTE: f64 = 1.0 / 7.5e9;

pub fn pays_for_size(w: &Weights, ow: usize, oh: usize) -> bool {
    ow > 0 && oh > 0 && pick(&dispatch::F32.selected().kernels().gemm, ow, oh, w.inch, w.outch).is_some()
}

/// `NCNNQ_WINOGRAD=off|f23|f43|f63` forces the choice for every 3×3 stride-1 convolution that can
/// use Winograd (for measuring the cost model); unset or `auto` lets [`choose`] decide.
#[allow(clippy::option_option)] // None: not forced; Some(None): forced off; Some(Some(m)): F(m,3).
fn forced() -> Option<Option<usize>> {
    static FORCED: OnceLock<Option<Option<usize>>> = OnceLock::new();
    *FORCED.get_or_init(|| match std::env::var("NCNNQ_WINOGRAD").as_deref() {
        Ok("off") => Some(None),
        Ok("f23") => Some(Some(2)),
        Ok("f43") => Some(Some(4)),
        Ok("f63") => Some(Some(6)),
        Ok("" | "auto") | Err(_) => None,
        Ok(other) => {
            eprintln!("ncnnq: NCNNQ_WINOGRAD={other} is not off, f23, f43, f63 or auto; using auto");
            None
        }
    })
}

fn pick(kernel: &GemmFns, ow: usize, oh: usize, inch: usize, outch: usize) -> Option<usize> {
    forced().unwrap_or_else(|| choose(kernel, ow, oh, inch, outch))
}

/// U = G g Gᵀ of every (out, in) pair, packed as the B side of the microkernel:
/// `[ξ][outch panel][inch][nr]`.
struct Packed {
    path: F32Path,
    outch_pad: usize,
    data: Vec<f32>,
}

pub struct Weights {
    raw: Vec<f32>,
    outch: usize,
    inch: usize,
    f63: OnceLock<Packed>,
    f43: OnceLock<Packed>,
    f23: OnceLock<Packed>,
}

impl Weights {
    /// From weights laid out `[outch][inch][3][3]`.
    pub fn new(weights: &[f32], outch: usize, inch: usize) -> Weights {
        assert_eq!(weights.len(), outch * inch * 9);
        Weights { raw: weights.to_vec(), outch, inch, f63: OnceLock::new(), f43: OnceLock::new(), f23: OnceLock::new() }
    }

    fn packed<W: Variant>(&self, path: F32Path) -> &Packed {
        let cell = match W::M {
            6 => &self.f63,
            4 => &self.f43,
            _ => &self.f23,
        };
        let p = cell.get_or_init(|| self.pack::<W>(path));
        assert_eq!(p.path, path);
        p
    }

    fn pack<W: Variant>(&self, path: F32Path) -> Packed {
        let (n2, nr) = (W::N * W::N, path.kernels().gemm.nr);
        let outch_pad = self.outch.next_multiple_of(nr);
        let panels = outch_pad / nr;
        let mut data = vec![0.0; n2 * outch_pad * self.inch];
        let mut u = [0.0f32; 64];
        for o in 0..self.outch {
            for i in 0..self.inch {
                let g = &self.raw[(o * self.inch + i) * 9..][..9];
                transform::kernel::<W>(g, &mut u);
                let (panel, lane) = (o / nr, o % nr);
                for (xi, &v) in u[..n2].iter().enumerate() {
                    data[((xi * panels + panel) * self.inch + i) * nr + lane] = v;
                }
            }
        }
        Packed { path, outch_pad, data }
    }
}

/// Depth of one k block of the products: a 32-wide block of U (16 KB) stays in L1 while the
/// tiles' V streams past it. vgg16 on AVX-512, `profile_net` per-layer medians (minimums) of 4
/// rounds alternated with the whole-depth products, 1 thread: `conv3_2` 21.3 (17.9) → 14.1
/// (13.1) ms, `conv4_2` 16.9 (14.5) → 14.2 (13.4); 64, 96 and 192 channels were no better.
const PRODUCT_KC: usize = 128;

thread_local! {
    /// The calling thread's V and M of [`run_phased`] (shared with the pool's workers in its loops).
    static PHASED: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    static BUFS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

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

/// 3×3 stride-1 convolution of a padded input (`pw`×`ph`, inch planes) into `out`
/// (outch planes of `ow`×`oh`, with ow = pw-2, oh = ph-2), then bias and activation.
#[allow(clippy::too_many_arguments)]
pub fn conv3x3s1(
    w: &Weights,
    input: &[f32],
    pw: usize,
    ph: usize,
    out: &mut [f32],
    ow: usize,
    oh: usize,
    ep: Epilogue,
) {
    conv3x3s1_with(dispatch::F32.selected(), w, input, pw, ph, out, ow, oh, ep, None);
}

/// As [`conv3x3s1`] on a given path and optionally a forced tile size (tests).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv3x3s1_with(
    path: F32Path,
    w: &Weights,
    input: &[f32],
    pw: usize,
    ph: usize,
    out: &mut [f32],
    ow: usize,
    oh: usize,
    ep: Epilogue,
    force_m: Option<usize>,
) {
    assert!(pw == ow + 2 && ph == oh + 2 && input.len() == pw * ph * w.inch && out.len() == w.outch * ow * oh);
    assert!(path.kernels().winograd.is_some(), "the {path} path has no Winograd transforms");
    if ow == 0 || oh == 0 || w.outch == 0 {
        return;
    }
    let m = force_m.or_else(|| pick(&path.kernels().gemm, ow, oh, w.inch, w.outch)).unwrap_or(4);
    match m {
        6 => run::<transform::F63>(path, w, input, pw, ph, out, ow, oh, ep),
        2 => run::<transform::F23>(path, w, input, pw, ph, out, ow, oh, ep),
        _ => run::<transform::F43>(path, w, input, pw, ph, out, ow, oh, ep),
    }
}

/// An L2-sized budget for a group of tiles' transformed input and products: layers whose U is
/// larger than [`U_BYTES`] and whose tiles do not fit one such group run [`run_phased`].
const JOB_BYTES: usize = 768 * 1024;
/// Budget for one job of [`run`]'s fused plan: its tiles' transformed input V and products M.
/// Small (most layers' groups are one panel of mr tiles), so a job's V and M stay in L2 beside U
/// and the next job finds them there, and the scratch a layer first touches is small: in a network
/// run these layers start cold (the scratch, U and the output last touched a whole run earlier). On
/// squeezenet (AVX-512, one thread, `profile_net` in-network minimums, budgets alternated in
/// rounds) the eight 3×3 layers took 1.54–1.61 ms instead of 1.95–2.04 ms at 768 KB
/// (fire4/expand3x3 0.19–0.20 ms instead of 0.25–0.27, fire8 0.23–0.24 instead of 0.31; 64 and
/// 192 KB alike, 256 KB slower on the 14×14 layers), and 1.55–1.59 instead of 2.11–2.20 ms on two
/// threads; `squeezenet_v1.1`'s convolutions 3.6–3.9 ms instead of 4.0–4.3; resnet18, googlenet
/// and vgg16 unchanged within noise. Alone and hot a layer took 2–5 % longer (56×56 16→64 F(6,3),
/// 28×28 32→128 F(4,3)).
const FUSED_BYTES: usize = 128 * 1024;
/// Transformed weights larger than this (about L2) are not re-read for each small group of tiles
/// ([`run_phased`]).
const U_BYTES: usize = 1 << 20;
/// Least budget for one chunk of [`run_phased`]: the transformed input and products of its tiles
/// (L3-sized). A chunk may hold up to half as much as U: every chunk reads all of U. Measured on
/// AVX-512: 512 channels on 28×28 (U 38 MB, all tiles' V and M 8 MB) run 2.3× faster in one
/// chunk than in 4 MB chunks; 256 channels on 56×56 (U 9 MB, V and M 15 MB) 1.2× faster in 4 MB
/// chunks than in 12 MB ones (that was before the products ran ξ by ξ, see [`XI_BYTES`]).
const CHUNK_BYTES: usize = 4 << 20;
/// Budget for one transform position's share of a chunk of [`run_phased`]: the lines of V and M
/// its product jobs touch (L2-sized). The jobs of one ξ run one after another, so however many
/// panels a chunk holds, that share stays in L2 while it is used, and a chunk can be larger than
/// [`CHUNK_BYTES`]: it is, when the reads of U it saves outweigh V and M leaving L2 once. vgg16's
/// 56×56 256→256 layers then run F(6,3) in one chunk (U read once; [`choose`] counts it so),
/// where they ran F(4,3) in four: `profile_net`, AVX-512, per-layer medians of 3 rounds
/// alternated with 210cbd3 (on a host running about 5× slower than usual), 1 thread `conv3_1`–`3_3`
/// 8.1 / 16.3 / 15.6 ms against 11.0 / 18.7 / 18.3, 2 threads 5.5 / 10.1 / 9.3 against
/// 7.6 / 12.5 / 11.9. F(4,3) forced (two chunks) ran about as fast: 1 thread 10.0 / 17.0 / 16.9
/// against F(6,3)'s 9.5 / 18.0 / 17.6, 2 threads 4.9 / 8.9 / 8.2 against 5.3 / 8.7 / 8.0 (all
/// measured before the products ran by k blocks, [`PRODUCT_KC`]).
const XI_BYTES: usize = 512 * 1024;

/// How one convolution is blocked: by groups of `group` tile panels, each job transforming,
/// multiplying and transforming back its own group (L2-sized), or in three phases by chunks of
/// at most `chunk` panels, spread evenly ([`run_phased`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Fused { group: usize },
    Phased { chunk: usize },
}

/// The plan for tiles of n2 points in `tile_panels` panels of mr, with U of `u_bytes`.
pub(crate) fn plan(n2: usize, mr: usize, inch: usize, outch_pad: usize, tile_panels: usize) -> Plan {
    let (per_panel, u_bytes) = footprint(n2, mr, inch, outch_pad);
    // Each group of tiles reads all of U again: when U does not fit L2, fewer, larger groups
    // that live in L3 pay less than re-reading it.
    if JOB_BYTES / per_panel < tile_panels && u_bytes > U_BYTES {
        let small = (CHUNK_BYTES.max(u_bytes / 2) / per_panel).clamp(1, tile_panels);
        // A product job reads one line of V per (panel, channel) at its ξ and writes the chunk's
        // M there; the jobs of one ξ run together, so that much stays in L2 however many
        // panels the chunk has.
        let per_panel_xi = inch * (mr * 4).max(64) + mr * outch_pad * 4;
        let large = (XI_BYTES / per_panel_xi).clamp(small, tile_panels);
        let saved = u_bytes * (tile_panels.div_ceil(small) - tile_panels.div_ceil(large));
        let chunk = if saved > per_panel * tile_panels { large } else { small };
        Plan::Phased { chunk }
    } else {
        Plan::Fused { group: (FUSED_BYTES / per_panel).clamp(1, tile_panels) }
    }
}

/// Into how many jobs [`run_phased`] splits each tile panel's transforms (by channels) on
/// `threads` threads: the fewest that make the jobs a multiple of the threads, at least two per
/// thread. A panel is a job at one thread; at two, vgg16's chunks of 5, 7 and 9 panels left one
/// thread a panel's transforms alone at the end of each phase (`conv3_1`'s chunks of 5: input and
/// output transforms 0.066 and 0.120 ms against 0.106 and 0.197 at one thread).
fn transform_parts(panels: usize, threads: usize) -> usize {
    if threads <= 1 || panels == 0 {
        return 1;
    }
    let mut parts = 1;
    while !(panels * parts).is_multiple_of(threads) || panels * parts < 2 * threads {
        parts += 1;
    }
    parts
}

/// `n` (> 0) items in at most `most` parts of equal size, the last possibly shorter: (items per
/// part, parts).
fn equal_parts(n: usize, most: usize) -> (usize, usize) {
    let per = n.div_ceil(most.min(n));
    (per, n.div_ceil(per))
}

/// Bytes of one tile panel's V and M, and of U.
fn footprint(n2: usize, mr: usize, inch: usize, outch_pad: usize) -> (usize, usize) {
    (n2 * mr * (inch + outch_pad) * 4, n2 * inch * outch_pad * 4)
}

/// About the part of L3 a layer's working set keeps (half of 32 MB, shared with other work).
const L3_BYTES: usize = 16 << 20;

/// How many times a layer reads its transformed weights U from memory: once, or once per chunk
/// of [`run_phased`] when U and a chunk's V and M do not stay in L3 together.
pub(crate) fn u_reads(n2: usize, mr: usize, inch: usize, outch_pad: usize, tile_panels: usize) -> usize {
    match plan(n2, mr, inch, outch_pad, tile_panels) {
        Plan::Phased { chunk } => {
            let (per_panel, u_bytes) = footprint(n2, mr, inch, outch_pad);
            if u_bytes + chunk * per_panel > L3_BYTES {
                tile_panels.div_ceil(chunk)
            } else {
                1
            }
        }
        Plan::Fused { .. } => 1,
    }
}

/// One full micro-kernel tile of the M = V·U product: `dims` = `[inch, vs, ms, mr, nr]`, V laid
/// out [panel][inch][vs ≥ ξ][mr] ([`v_stride`]), M [panel][mr][ms ≥ `ξ·outch_pad`] ([`m_stride`]);
/// no bias, no activation.
fn m_tile(dims: [usize; 5], a: *const f32, b: *const f32, c: *mut f32, zeros: &[f32; 16]) -> Tile {
    let [inch, vs, ms, mr, nr] = dims;
    Tile {
        kc: inch,
        a,
        lda: vs * mr,
        b,
        ldb: nr,
        c,
        ldc: ms,
        rows: mr,
        cols: nr,
        bias: zeros.as_ptr(),
        accumulate: false,
        act: RegAct::None,
    }
}

/// Points per input channel in V (`[inch][vs][mr]`): n2, rounded up when a channel's block would
/// be a multiple of 512 bytes. The products read V's panel one channel (lda = vs·mr floats) apart;
/// at F(6,3)'s 64 points and mr = 8 that stride was exactly 2 KB, so a panel's 256 or 512 channels
/// all fell into 2 of L1's 64 sets and came from L2 at every step (vgg16's 56×56 layers took 25 %
/// longer than with F(4,3), whose 1152-byte stride spreads over 32 sets).
pub(crate) fn v_stride(n2: usize, mr: usize) -> usize {
    let mut vs = n2;
    while (vs * mr * 4).is_multiple_of(512) {
        vs += 1;
    }
    vs
}

#[cfg(test)]
use transform::BY_XI_OUTCH;

/// Floats per transform point ξ in [`run_phased`]'s V (`[ξ][panel][inch][mr]`, `len` floats a
/// point), spread off 512-byte multiples so that an input transform's N² writes of one channel
/// do not all fall into the same L1 sets.
pub(crate) fn xi_stride(len: usize) -> usize {
    off_512(len)
}

/// Floats per tile in M (`[mr][ms]`, each tile's `ξ·outch_pad` products first): rounded up by
/// cache lines when a tile's block would be a multiple of 512 bytes. The products write a
/// micro-tile's mr rows one tile apart; at `ξ·outch_pad` a multiple of 4 KB (F(4,3) at 256 output
/// channels: 36 KB) all of them landed in the same 2 L1 sets and evicted the A and B panels there.
pub(crate) fn m_stride(n2: usize, outch_pad: usize) -> usize {
    off_512(n2 * outch_pad)
}

/// `floats`, rounded up by cache lines (16 floats) while it is a multiple of 512 bytes: rows that
/// far apart would map to the same few L1 sets.
fn off_512(floats: usize) -> usize {
    let mut n = floats;
    while (n * 4).is_multiple_of(512) {
        n += 16;
    }
    n
}

/// Grows a reused scratch buffer to `len` (it never shrinks: the next layer may need it again).
fn grow(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}

#[allow(clippy::too_many_arguments)]
fn run<W: Variant>(
    path: F32Path,
    w: &Weights,
    input: &[f32],
    pw: usize,
    ph: usize,
    out: &mut [f32],
    ow: usize,
    oh: usize,
    ep: Epilogue,
) {
    let packed = w.packed::<W>(path);
    let (m, n2) = (W::M, W::N * W::N);
    let gemm = path.kernels().gemm;
    let (mr, nr) = (gemm.mr, gemm.nr);
    let (inch, outch_pad) = (w.inch, packed.outch_pad);
    let (tw, th) = (ow.div_ceil(m), oh.div_ceil(m));
    let tile_panels = (tw * th).div_ceil(mr);
    let group = match plan(n2, mr, inch, outch_pad, tile_panels) {
        Plan::Fused { group } => group,
        Plan::Phased { chunk } => return run_phased::<W>(path, packed, w, input, pw, ph, out, ow, oh, ep, chunk),
    };
    let micro = gemm.micro.expect("a path with Winograd transforms has a microkernel");
    let fns = W::fns(&path.kernels().winograd.expect("checked by conv3x3s1_with"));
    let outch = w.outch;
    // Tile panels spread evenly over the groups, and a few groups made a multiple of the threads:
    // cut every `group` panels, 13 panels made groups of 4, 4, 4 and 1, and the worker, claiming
    // from the back, ran the short one and a long one while the caller ran two long ones.
    let mut groups = tile_panels.div_ceil(group);
    let threads = parallel::current_threads();
    if threads > 1 && groups >= 2 * threads && groups < 4 * threads {
        groups = groups.next_multiple_of(threads).min(tile_panels);
    }
    let o_panels = outch_pad / nr;
    let o_splits = if groups >= 2 * threads { 1 } else { (2 * threads).div_ceil(groups).min(o_panels) };
    let (o_per, o_splits) = equal_parts(o_panels, o_splits);
    let jobs = Jobs::new(groups, o_splits, o_per, o_panels, threads);
    let (reg_act, rest_act) = RegAct::split(ep.activation);
    let zeros = [0.0f32; 16];
    let dst = OutPtr(out.as_mut_ptr());
    let (vs, ms) = (v_stride(n2, mr), m_stride(n2, outch_pad));
    let geo = transform::Geometry { pw, ph, ow, oh, tw, th, m, v_ch: vs * mr, v_xi: mr, ms };

    // Jobs are numbered split-major: the caller (claiming from the front) and the worker (from
    // the back) then each take every group once when the groups differ by a panel (7 panels in
    // groups of 3 and 4, output channels split in two: 3 + 4 panels each, not 3 + 3 against 4 + 4).
    let job = |job: usize| {
        let (gi, op0, op1) = jobs.get(job);
        let p0 = gi * tile_panels / groups;
        let p1 = (gi + 1) * tile_panels / groups;
        BUFS.with(|bufs| {
            let (vbuf, mbuf) = &mut *bufs.borrow_mut();
            let vlen = (p1 - p0) * vs * inch * mr;
            let mlen = (p1 - p0) * mr * ms;
            grow(vbuf, vlen);
            grow(mbuf, mlen);
            // V: [panel][inch][ξ][mr] (a channel's transform is written in one run: laid out
            // ξ-major, its 64 vectors would be 4 KB apart and evict each other from L1)
            for p in p0..p1 {
                let v = &mut vbuf[(p - p0) * vs * inch * mr..][..vs * inch * mr];
                // SAFETY: dispatch hands out only paths this CPU runs; `v` holds the panel.
                unsafe { (fns.input)(input, inch, &geo, p * mr, mr, v.as_mut_ptr()) };
            }
            // M: [panel][mr][ms ≥ ξ·outch_pad] (the output transform reads a tile's ξ in one run)
            for xi in 0..n2 {
                for op in op0..op1 {
                    let b = packed.data[((xi * o_panels + op) * inch) * nr..].as_ptr();
                    for p in p0..p1 {
                        let a = vbuf[((p - p0) * inch * vs + xi) * mr..].as_ptr();
                        let c = mbuf[(p - p0) * mr * ms + xi * outch_pad + op * nr..].as_mut_ptr();
                        let tile = m_tile([inch, vs, ms, mr, nr], a, b, c, &zeros);
                        // SAFETY: as above; buffers sized above; full tiles.
                        unsafe { micro(&tile) };
                    }
                }
            }
            let (o0, o1) = (op0 * nr, (op1 * nr).min(outch));
            for p in p0..p1 {
                let mp = &mbuf[(p - p0) * mr * ms..][..mr * ms];
                // SAFETY: each job writes its own tiles and channels of out.
                unsafe { (fns.output)(mp, outch_pad, &geo, p * mr, mr, o0, o1, ep.bias, reg_act, dst.get(), outch) };
            }
            if let Some(act) = rest_act {
                for p in p0..p1 {
                    transform::for_each_tile_row(&geo, p * mr, mr, |offset, len| {
                        for o in o0..o1 {
                            // SAFETY: as above.
                            let row =
                                unsafe { std::slice::from_raw_parts_mut(dst.get().add(o * ow * oh + offset), len) };
                            act.apply_slice(row);
                        }
                    });
                }
            }
        });
    };
    parallel::for_each(jobs.len(), job);
}

/// The jobs of [`run`]'s fused plan: (tile group, output panels op0..op1) of each index.
///
/// With every group's output channels split (`o_splits` > 1, few groups) the jobs are numbered
/// split-major. Otherwise each job is one whole group, except that when the groups do not share
/// out evenly over the threads, the last `groups % threads` groups are split by output panels into
/// `threads` parts each, numbered where the calling thread's share of whole groups (claimed from
/// the front) meets the workers' (claimed from the back): every thread ends its share on a part.
/// On squeezenet's 14×14 and 28×28 expand3x3 (7 panels of 8 tiles on AVX-512) a worker otherwise
/// ran 4 groups while the caller ran 3 and then waited, and on 56×56 (13 panels) 7 against 6.
/// Only a split group transforms its tiles' input more than once (once per part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Jobs {
    groups: usize,
    o_splits: usize,
    o_per: usize,
    o_panels: usize,
    /// Groups split into parts (the last ones), parts per split group, and the index of the first part.
    split: usize,
    parts: usize,
    first_part: usize,
}

impl Jobs {
    pub(crate) fn new(groups: usize, o_splits: usize, o_per: usize, o_panels: usize, threads: usize) -> Jobs {
        let (mut split, mut parts, mut first_part) = (0, 1, 0);
        if o_splits == 1 && threads > 1 && o_panels >= 2 && groups > threads && !groups.is_multiple_of(threads) {
            split = groups % threads;
            parts = threads.min(o_panels);
            first_part = (groups - split) / threads;
        }
        Jobs { groups, o_splits, o_per, o_panels, split, parts, first_part }
    }

    pub(crate) fn len(&self) -> usize {
        if self.split > 0 {
            self.groups - self.split + self.split * self.parts
        } else {
            self.groups * self.o_splits
        }
    }

    /// Tile group and output panels op0..op1 of job `job`.
    pub(crate) fn get(&self, job: usize) -> (usize, usize, usize) {
        if self.split == 0 {
            let (os, gi) = (job / self.groups, job % self.groups);
            return (gi, os * self.o_per, ((os + 1) * self.o_per).min(self.o_panels));
        }
        let whole = self.groups - self.split;
        let parts_end = self.first_part + self.split * self.parts;
        if job < self.first_part {
            (job, 0, self.o_panels)
        } else if job < parts_end {
            let (k, part) = ((job - self.first_part) / self.parts, (job - self.first_part) % self.parts);
            (whole + k, part * self.o_panels / self.parts, (part + 1) * self.o_panels / self.parts)
        } else {
            (job - self.split * self.parts, 0, self.o_panels)
        }
    }
}

/// The same convolution by chunks of tiles, each in three phases, each phase a parallel loop:
/// every tile's input transform (V), the products (each job one transform position ξ and one
/// panel of output channels, for every tile of the chunk), every tile's output transform. For
/// layers whose transformed weights U are large (many channels), where [`run`]'s groups of tiles
/// that fit L2 would each read all of U again from memory: here U is read once per chunk, and a
/// chunk's V and M are sized for L3 (or larger, see [`XI_BYTES`]).
#[allow(clippy::too_many_arguments)]
fn run_phased<W: Variant>(
    path: F32Path,
    packed: &Packed,
    w: &Weights,
    input: &[f32],
    pw: usize,
    ph: usize,
    out: &mut [f32],
    ow: usize,
    oh: usize,
    ep: Epilogue,
    chunk: usize,
) {
    let m = W::M;
    let mr = path.kernels().gemm.mr;
    let (tw, th) = (ow.div_ceil(m), oh.div_ceil(m));
    let tile_panels = (tw * th).div_ceil(mr);
    let dst = OutPtr(out.as_mut_ptr());
    let ms = m_stride(W::N * W::N, packed.outch_pad);
    // V's strides are set per chunk (`phases`).
    let geo = transform::Geometry { pw, ph, ow, oh, tw, th, m, v_ch: mr, v_xi: 0, ms };
    // The panels spread evenly over the chunks: every chunk's products stream all of U, so a
    // short last chunk costs nearly as much as a full one (vgg16's 56×56 256→256 layers cut by 8
    // panels ran 25 panels as 8, 8, 8 and 1, the 1-panel chunk 0.31–0.36 ms at one thread where
    // its share of the products is 0.06 ms).
    let chunks = tile_panels.div_ceil(chunk);
    PHASED.with(|bufs| {
        let (vbuf, mbuf) = &mut *bufs.borrow_mut();
        for ci in 0..chunks {
            let (c0, c1) = (ci * tile_panels / chunks, (ci + 1) * tile_panels / chunks);
            phases::<W>(packed, w, input, &geo, dst, ep, vbuf, mbuf, c0, c1 - c0, path);
        }
    });
}

/// The three phases of [`run_phased`] for tile panels c0..c0+panels.
#[allow(clippy::too_many_arguments)]
fn phases<W: Variant>(
    packed: &Packed,
    w: &Weights,
    input: &[f32],
    geo: &transform::Geometry,
    dst: OutPtr,
    ep: Epilogue,
    vbuf: &mut Vec<f32>,
    mbuf: &mut Vec<f32>,
    c0: usize,
    panels: usize,
    path: F32Path,
) {
    let n2 = W::N * W::N;
    let gemm = path.kernels().gemm;
    let (mr, nr) = (gemm.mr, gemm.nr);
    let fns_all = path.kernels().winograd.expect("checked by conv3x3s1_with");
    let fns = W::fns(&fns_all);
    let (inch, outch, outch_pad) = (w.inch, w.outch, packed.outch_pad);
    let o_panels = outch_pad / nr;
    let (reg_act, rest_act) = RegAct::split(ep.activation);
    let (ow, oh) = (geo.ow, geo.oh);
    {
        let ms = geo.ms;
        let by_xi = outch_pad >= fns_all.by_xi_outch;
        // Floats per ξ (V ξ-major), or per channel (V panel-major, as in `run`).
        let (xs, vs) = (xi_stride(panels * inch * mr), v_stride(n2, mr));
        let geo = &if by_xi {
            transform::Geometry { v_ch: mr, v_xi: xs, ..*geo }
        } else {
            transform::Geometry { v_ch: vs * mr, v_xi: mr, ..*geo }
        };
        let (vlen, mlen) = (if by_xi { n2 * xs } else { panels * vs * inch * mr }, panels * mr * ms);
        grow(vbuf, vlen);
        grow(mbuf, mlen);
        // Each panel's transforms in `parts` jobs by channels, so that the jobs share out evenly.
        let parts = transform_parts(panels, parallel::current_threads());
        let plane = geo.pw * geo.ph;
        let (in_per, in_parts) = equal_parts(inch, parts);
        // V: [ξ][panel][inch][mr] when `by_xi` (xs floats per ξ), so that a product's A (one ξ,
        // one panel, a k block) is one contiguous run, as the GEMM's packed A is; else
        // [panel][inch][vs][mr].
        let vp = OutPtr(vbuf.as_mut_ptr());
        let input_fn = if by_xi { fns.input_adjacent } else { fns.input };
        parallel::for_each(panels * in_parts, |j| {
            let (p, i0) = (j / in_parts, j % in_parts * in_per);
            let i1 = (i0 + in_per).min(inch);
            // SAFETY: dispatch hands out only paths this CPU runs; every write lies within V
            // (sized above), and jobs write disjoint (panel, channels) blocks of each ξ.
            unsafe {
                let v = vp.get().add((p * inch + i0) * if by_xi { mr } else { vs * mr });
                input_fn(&input[i0 * plane..i1 * plane], i1 - i0, geo, (c0 + p) * mr, mr, v);
            }
        });
        let (v, mp) = (&vbuf[..vlen], OutPtr(mbuf.as_mut_ptr()));
        // M: [panel][mr][ms ≥ ξ·outch_pad]. Jobs by ξ: consecutive jobs (and each thread's, claimed
        // from either end) share the chunk's V at one ξ, which then comes from L2; numbered by
        // output panel, each job read a different ξ and the whole chunk's V was read again for
        // every output panel (vgg16's 28×28 512→512 layers: 8.3 MB, 16 times). 1 thread
        // `conv4_1`–`4_3` 10.0 / 20.3 / 18.4 ms → 8.3 / 16.6 / 16.6, 2 threads 6.5 / 11.7 / 12.4 →
        // 5.0 / 9.5 / 9.3 (as in [`XI_BYTES`]; both before the k blocks below).
        // Within a ξ, by k blocks of [`PRODUCT_KC`] channels: a block of U (one output panel) stays
        // in L1 while every tile panel's V streams past it from L2, and the next block continues
        // the sums in M. Whole-depth, a 256- or 512-channel panel of U (32 or 64 KB) came from L2
        // at every step, or (keeping one tile panel's V in L1 and running every output panel on
        // it) U's 256 KB at that ξ came from L2 once per tile panel.
        let product = fns_all.product;
        let zeros = [0.0f32; 16];
        let kc = PRODUCT_KC.min(inch);
        parallel::for_each(n2, |xi| {
            for k0 in (0..inch).step_by(kc) {
                let kb = kc.min(inch - k0);
                for op in 0..o_panels {
                    let b = packed.data[((xi * o_panels + op) * inch + k0) * nr..].as_ptr();
                    for p in 0..panels {
                        let (a, lda_vs) = if by_xi {
                            (v[xi * xs + (p * inch + k0) * mr..].as_ptr(), 1)
                        } else {
                            (v[((p * inch + k0) * vs + xi) * mr..].as_ptr(), vs)
                        };
                        // SAFETY: within V, U and M (sized above); jobs write disjoint ξ
                        // columns of M; the path's kernel, which this CPU runs.
                        unsafe {
                            let c = mp.get().add(p * mr * ms + xi * outch_pad + op * nr);
                            let full = m_tile([kb, lda_vs, ms, mr, nr], a, b, c, &zeros);
                            product(&Tile { accumulate: k0 > 0, ..full });
                        }
                    }
                }
            }
        });
        let mbuf = &mbuf[..mlen];
        let (o_per, o_parts) = equal_parts(o_panels, parts);
        parallel::for_each(panels * o_parts, |j| {
            let (p, op0) = (j / o_parts, j % o_parts * o_per);
            let (o0, o1) = (op0 * nr, ((op0 + o_per) * nr).min(outch));
            if o0 >= o1 {
                return;
            }
            let mpanel = &mbuf[p * mr * ms..][..mr * ms];
            let t0 = (c0 + p) * mr;
            // SAFETY: each job writes its own tiles and channels of out.
            unsafe { (fns.output)(mpanel, outch_pad, geo, t0, mr, o0, o1, ep.bias, reg_act, dst.get(), outch) };
            if let Some(act) = rest_act {
                transform::for_each_tile_row(geo, t0, mr, |offset, len| {
                    for o in o0..o1 {
                        // SAFETY: as above.
                        let row = unsafe { std::slice::from_raw_parts_mut(dst.get().add(o * ow * oh + offset), len) };
                        act.apply_slice(row);
                    }
                });
            }
        });
    }
}
