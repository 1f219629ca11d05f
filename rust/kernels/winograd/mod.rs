//! Winograd convolution for 3×3 stride-1 kernels: F(6,3) (8×8 input tiles), F(4,3) (6×6) and
//! F(2,3) (4×4), the variant chosen per input size. Output = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per tile, the ⊙ summed
//! over input channels as N² small GEMMs: for each transform position ξ,
//! M_ξ (tiles × outch) = V_ξ (tiles × inch) · U_ξ (inch × outch). Tiles are the GEMM's row side
//! so a few tiles waste little; U is packed once (lazily, on first use of each variant).
//!
//! The matrices are the Cook–Toom ones for the points 0, ±1, ±2, ±1/2 (and ∞), with F(6,3)'s
//! ±1/2 columns scaled by 32 into Aᵀ (as ncnn does) to keep magnitudes balanced.

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

/// Which variant (tile size m) to use, or None when the GEMM is cheaper. Costs per channel pair:
/// Winograd's products (tiles padded to the kernel's mr, times N²) plus its transforms (per tile
/// and point, shared by a row or column of channel pairs); the GEMM's 9 products per output
/// (padded to nr), which run at a better rate than Winograd's small products. The weights were
/// fitted to timings of the benchmark models' 3×3 layers (cold and warm caches, AVX-512): F(6,3)
/// wins on large maps, F(4,3) around 14×14, F(2,3) on 7×7 (where bigger tiles are mostly padding).
fn choose(kernel: &GemmFns, ow: usize, oh: usize, inch: usize, outch: usize) -> Option<usize> {
    const TRANSFORM: f64 = 16.0;
    const GEMM_RATE: f64 = 0.6;
    let per_pair_transforms = TRANSFORM * (1.0 / inch as f64 + 1.0 / outch as f64);
    let cost = |m: usize| {
        let n2 = ((m + 2) * (m + 2)) as f64;
        let tiles = ow.div_ceil(m) * oh.div_ceil(m);
        tiles.next_multiple_of(kernel.mr) as f64 * n2 + per_pair_transforms * tiles as f64 * n2
    };
    let direct = GEMM_RATE * 9.0 * (ow * oh).next_multiple_of(kernel.nr) as f64;
    let (m, best) = [6, 4, 2].into_iter().map(|m| (m, cost(m))).min_by(|a, b| a.1.total_cmp(&b.1))?;
    (best < direct).then_some(m)
}

pub fn pays_for_size(w: &Weights, ow: usize, oh: usize) -> bool {
    ow > 0 && oh > 0 && pick(&dispatch::F32.selected().kernels().gemm, ow, oh, w.inch, w.outch).is_some()
}

/// `NCNNQ_WINOGRAD=off|f23|f43|f63` forces the choice for every 3×3 stride-1 convolution that can
/// use Winograd (for measuring the cost model); unset or `auto` lets [`choose`] decide.
fn forced() -> Option<Option<usize>> {
    static FORCED: OnceLock<Option<Option<usize>>> = OnceLock::new();
    *FORCED.get_or_init(|| match std::env::var("NCNNQ_WINOGRAD").as_deref() {
        Ok("off") => Some(None),
        Ok("f23") => Some(Some(2)),
        Ok("f43") => Some(Some(4)),
        Ok("f63") => Some(Some(6)),
        Ok("") | Ok("auto") | Err(_) => None,
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

thread_local! {
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
    conv3x3s1_with(dispatch::F32.selected(), w, input, pw, ph, out, ow, oh, ep, None)
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

/// Budget for one job's transformed input and products (stays in L2).
const JOB_BYTES: usize = 768 * 1024;

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
    let micro = gemm.micro.expect("a path with Winograd transforms has a microkernel");
    let fns = W::fns(&path.kernels().winograd.expect("checked by conv3x3s1_with"));
    let (inch, outch, outch_pad) = (w.inch, w.outch, packed.outch_pad);
    let (tw, th) = (ow.div_ceil(m), oh.div_ceil(m));
    let tile_panels = (tw * th).div_ceil(mr);
    let per_panel = n2 * mr * (inch + outch_pad) * 4;
    let group = (JOB_BYTES / per_panel).clamp(1, tile_panels);
    let groups = tile_panels.div_ceil(group);
    let threads = parallel::current_threads();
    let o_panels = outch_pad / nr;
    let o_splits = if groups >= 2 * threads { 1 } else { (2 * threads).div_ceil(groups).min(o_panels) };
    let o_per = o_panels.div_ceil(o_splits);
    let o_splits = o_panels.div_ceil(o_per);
    let (reg_act, rest_act) = RegAct::split(ep.activation);
    let zeros = [0.0f32; 16];
    let dst = OutPtr(out.as_mut_ptr());
    let geo = transform::Geometry { pw, ph, ow, oh, tw, th, m };

    let job = |job: usize| {
        let (gi, os) = (job / o_splits, job % o_splits);
        let p0 = gi * group;
        let p1 = (p0 + group).min(tile_panels);
        let (op0, op1) = (os * o_per, ((os + 1) * o_per).min(o_panels));
        BUFS.with(|bufs| {
            let (vbuf, mbuf) = &mut *bufs.borrow_mut();
            let vlen = (p1 - p0) * n2 * inch * mr;
            let mlen = (p1 - p0) * n2 * mr * outch_pad;
            if vbuf.len() < vlen {
                vbuf.resize(vlen, 0.0);
            }
            if mbuf.len() < mlen {
                mbuf.resize(mlen, 0.0);
            }
            // V: [panel][inch][ξ][mr] (a channel's transform is written in one run: laid out
            // ξ-major, its 64 vectors would be 4 KB apart and evict each other from L1)
            for p in p0..p1 {
                let v = &mut vbuf[(p - p0) * n2 * inch * mr..][..n2 * inch * mr];
                // SAFETY: dispatch hands out only paths this CPU runs.
                unsafe { (fns.input)(input, inch, &geo, p * mr, mr, v) };
            }
            // M: [panel][mr][ξ][outch_pad] (the output transform reads a tile's ξ in one run)
            for xi in 0..n2 {
                for op in op0..op1 {
                    let b = packed.data[((xi * o_panels + op) * inch) * nr..].as_ptr();
                    for p in p0..p1 {
                        let tile = Tile {
                            kc: inch,
                            a: vbuf[((p - p0) * inch * n2 + xi) * mr..].as_ptr(),
                            lda: n2 * mr,
                            b,
                            ldb: nr,
                            c: mbuf[((p - p0) * mr * n2 + xi) * outch_pad + op * nr..].as_mut_ptr(),
                            ldc: n2 * outch_pad,
                            rows: mr,
                            cols: nr,
                            bias: zeros.as_ptr(),
                            accumulate: false,
                            act: RegAct::None,
                        };
                        // SAFETY: as above; buffers sized above; full tiles.
                        unsafe { micro(&tile) };
                    }
                }
            }
            let (o0, o1) = (op0 * nr, (op1 * nr).min(outch));
            for p in p0..p1 {
                let mp = &mbuf[(p - p0) * n2 * mr * outch_pad..][..n2 * mr * outch_pad];
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
    parallel::for_each(groups * o_splits, job);
}
