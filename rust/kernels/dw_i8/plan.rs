//! The vector plan of the byte-permute depthwise kernel (AVX-512 VBMI + VNNI): a channel's outputs
//! cut into vectors of up to 16 consecutive outputs (consecutive in the output plane, so a vector
//! may run on into the next row), each read from one 64-byte window of a kernel row of the input.
//! A vector's lane l takes the kernel row's taps from bytes `4l..4l+4` of the window permuted by
//! its pattern (`vpermb`), so one `vpdpbusd` sums all taps of a kernel row (up to 4) for 16
//! outputs. The plan depends on the geometry only and serves every channel of a layer.

use crate::kernels::conv_depthwise::plane::Plane;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A kernel that computes one channel's sums by a [`VecPlan`] (`data` is the whole input, the
/// channel's padded plane starts at `origin`; `weights` are its kh·kw), where `available()`.
#[derive(Clone, Copy)]
pub struct PlaneKernel {
    pub(crate) available: fn() -> bool,
    /// # Safety
    /// The CPU runs the kernel's path and `available()` holds; the plan is `data`'s geometry's.
    pub(crate) run: unsafe fn(plan: &VecPlan, data: &[i8], origin: usize, weights: &[i8], acc: &mut [i32]),
}

/// Plans a thread keeps (a network has a few depthwise geometries; a 112×112 plan is 784
/// vectors, as long to make as a tenth of the layer).
const KEPT: usize = 16;

thread_local! {
    static PLANS: RefCell<Vec<(Plane, Option<Rc<VecPlan>>)>> = const { RefCell::new(Vec::new()) };
}

/// [`VecPlan::new`] for `src`, made once per thread and geometry.
pub(crate) fn cached(src: &Plane) -> Option<Rc<VecPlan>> {
    let key = *src;
    PLANS.with_borrow_mut(|plans| {
        if let Some((_, plan)) = plans.iter().find(|(k, _)| *k == key) {
            return plan.clone();
        }
        let plan = VecPlan::new(src).map(Rc::new);
        if plans.len() == KEPT {
            plans.remove(0);
        }
        plans.push((key, plan.clone()));
        plan
    })
}

/// Up to 16 outputs from one 64-byte window per kernel row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanVec {
    /// First output (index in the channel's ow·oh plane).
    pub out: usize,
    pub lanes: usize,
    /// Offset of the window's first byte in the padded plane (kernel row 0).
    pub at: usize,
    /// Index of the byte permutation in [`VecPlan::patterns`].
    pub pattern: usize,
    /// The window's bytes the lanes read (loads are masked to them: no read past the data).
    pub load_mask: u64,
}

/// Every vector of one channel, the patterns they use and the kernel rows' spacing.
#[derive(Debug, Clone)]
pub(crate) struct VecPlan {
    pub vecs: Vec<PlanVec>,
    /// 64 byte indices each: byte 4l + t is tap t of lane l (taps past the kernel width read
    /// byte 0, against a zero weight).
    pub patterns: Vec<[u8; 64]>,
    /// Offset between consecutive kernel rows in the padded plane.
    pub row_step: usize,
    pub kh: usize,
    pub kw: usize,
}

/// Kernel rows the kernel keeps weights for.
pub(crate) const MAX_KH: usize = 16;

impl VecPlan {
    /// The plan for `src`'s geometry, or None when a kernel row is wider than 4 taps, there are
    /// more than [`MAX_KH`] of them, or a kernel row's taps span 64 bytes or more.
    pub(crate) fn new(src: &Plane) -> Option<VecPlan> {
        let ((kw, kh), (dw, dh), (sw, sh)) = (src.kernel, src.dilation, src.stride);
        let reach = (kw - 1) * dw;
        if kw == 0 || kw > 4 || kh == 0 || kh > MAX_KH || reach > 63 {
            return None;
        }
        let (ow, n) = (src.ow, src.ow * src.oh);
        let offset = |i: usize| (i / ow) * sh * src.pw + (i % ow) * sw;
        let mut index: HashMap<[u8; 64], usize> = HashMap::new();
        let mut plan = VecPlan { vecs: Vec::new(), patterns: Vec::new(), row_step: dh * src.pw, kh, kw };
        let mut i0 = 0;
        while i0 < n {
            let base = offset(i0);
            let mut lanes = 1;
            while lanes < 16 && i0 + lanes < n && offset(i0 + lanes) - base + reach <= 63 {
                lanes += 1;
            }
            let mut pattern = [0u8; 64];
            for l in 0..lanes {
                for t in 0..kw {
                    pattern[4 * l + t] = (offset(i0 + l) - base + t * dw) as u8;
                }
            }
            let last = offset(i0 + lanes - 1) - base + reach;
            let load_mask = if last >= 63 { u64::MAX } else { (1u64 << (last + 1)) - 1 };
            let next = plan.patterns.len();
            let pattern = *index.entry(pattern).or_insert_with(|| {
                plan.patterns.push(pattern);
                next
            });
            plan.vecs.push(PlanVec { out: i0, lanes, at: base, pattern, load_mask });
            i0 += lanes;
        }
        Some(plan)
    }

    /// Each kernel row's weights of one channel as the kernel broadcasts them (`kw` bytes, zeros
    /// after), and `−128·Σw`: the kernel reads inputs as `u8 = s8 + 128` and starts from it.
    pub(crate) fn channel_weights(&self, w: &[i8]) -> ([i32; MAX_KH], i32) {
        let mut rows = [0i32; MAX_KH];
        for (ky, r) in rows.iter_mut().enumerate().take(self.kh) {
            let mut b = [0u8; 4];
            for t in 0..self.kw {
                b[t] = w[ky * self.kw + t] as u8;
            }
            *r = i32::from_le_bytes(b);
        }
        let sum: i32 = w[..self.kh * self.kw].iter().map(|&v| i32::from(v)).sum();
        (rows, -128 * sum)
    }
}
