//! The GEMM driver: packed weights, the convolution source B is gathered from, the tiling over
//! column panels and row panels, threads, and the per-path dispatch.
//!
//! Loop order: each task packs one B panel (NR columns × all of k, small enough for L1/L2) and
//! sweeps the rows of A over it, so B is packed once per panel and A streams from L2. When there
//! are fewer panels than threads, rows are split between tasks too (each re-packs its panel;
//! that only happens for small images where packing is cheap).

use super::epilogue::{Epilogue, Out, OutPtr};
use super::{pack, reference, Path};
use rayon::prelude::*;
use std::borrow::Cow;

/// The quantized, padded input of a convolution and its geometry: B is its im2col matrix,
/// rows `(c, ky, kx)` for channels `c0..c0+channels`, columns the output pixels `(oy, ox)`.
#[derive(Debug, Clone, Copy)]
pub struct ConvSource<'a> {
    /// Padded planes, `pw·ph` bytes each.
    pub data: &'a [i8],
    pub pw: usize,
    pub ph: usize,
    /// First channel and channel count of this GEMM (a group of a grouped convolution).
    pub c0: usize,
    pub channels: usize,
    /// (w, h) of kernel, dilation and stride.
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub stride: (usize, usize),
    pub ow: usize,
    pub oh: usize,
}

impl ConvSource<'_> {
    /// A plain k×n matrix (row-major) seen as a 1×1 convolution source.
    pub fn dense(data: &[i8], k: usize, n: usize) -> ConvSource<'_> {
        ConvSource {
            data,
            pw: n,
            ph: 1,
            c0: 0,
            channels: k,
            kernel: (1, 1),
            dilation: (1, 1),
            stride: (1, 1),
            ow: n,
            oh: 1,
        }
    }

    pub fn k(&self) -> usize {
        self.channels * self.kernel.0 * self.kernel.1
    }

    pub fn n(&self) -> usize {
        self.ow * self.oh
    }

    /// B[r][j].
    #[inline]
    pub fn at(&self, r: usize, j: usize) -> i8 {
        let (kw, kh) = self.kernel;
        let c = self.c0 + r / (kw * kh);
        let t = r % (kw * kh);
        let (ky, kx) = (t / kw, t % kw);
        let (oy, ox) = (j / self.ow, j % self.ow);
        let y = oy * self.stride.1 + ky * self.dilation.1;
        let x = ox * self.stride.0 + kx * self.dilation.0;
        self.data[(c * self.ph + y) * self.pw + x]
    }

    /// Offset in `data` of B row r's first pixel: `B[r][j] = data[rows[r] + oy·sh·pw + ox·sw]`.
    pub fn row_offsets(&self) -> Vec<usize> {
        let (kw, kh) = self.kernel;
        (0..self.k())
            .map(|r| {
                let c = self.c0 + r / (kw * kh);
                let t = r % (kw * kh);
                let (ky, kx) = (t / kw, t % kw);
                c * self.pw * self.ph + ky * self.dilation.1 * self.pw + kx * self.dilation.0
            })
            .collect()
    }

    fn check(&self) {
        let (ew, eh) = (self.dilation.0 * (self.kernel.0 - 1) + 1, self.dilation.1 * (self.kernel.1 - 1) + 1);
        assert!(self.kernel.0 > 0 && self.kernel.1 > 0 && self.stride.0 > 0 && self.stride.1 > 0);
        assert!(self.ow == 0 || (self.ow - 1) * self.stride.0 + ew <= self.pw, "conv source: width");
        assert!(self.oh == 0 || (self.oh - 1) * self.stride.1 + eh <= self.ph, "conv source: height");
        assert!((self.c0 + self.channels) * self.pw * self.ph <= self.data.len(), "conv source: channels");
    }
}

/// Element types a packed buffer holds: every bit pattern is a valid value.
///
/// # Safety
/// Implementors are plain integers of alignment ≤ 2.
pub(crate) unsafe trait Plain: Copy + Default + Send + Sync + 'static {}
unsafe impl Plain for i8 {}
unsafe impl Plain for u8 {}
unsafe impl Plain for i16 {}

/// A buffer of packed elements, 2-byte aligned, viewed as the path's element type.
#[derive(Clone, Default)]
pub(crate) struct Buf {
    words: Vec<i16>,
    bytes: usize,
}

impl Buf {
    pub fn zeroed<T: Plain>(len: usize) -> Buf {
        let bytes = len * std::mem::size_of::<T>();
        Buf { words: vec![0; bytes.div_ceil(2)], bytes }
    }

    pub fn view<T: Plain>(&self) -> &[T] {
        // SAFETY: T is a plain integer with alignment ≤ 2 (the backing store's), any bit pattern
        // is a valid T, and the length stays within the allocation.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const T, self.bytes / std::mem::size_of::<T>()) }
    }

    pub fn view_mut<T: Plain>(&mut self) -> &mut [T] {
        // SAFETY: as in `view`, and we hold the only reference.
        unsafe {
            std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut T, self.bytes / std::mem::size_of::<T>())
        }
    }
}

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
    /// [`epilogue::finish_row_body`] compiled for the path.
    ///
    /// # Safety
    /// The CPU has the path's features; `out` holds `acc.len()` elements owned by the caller.
    unsafe fn finish_row(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr);
    /// Packs B's columns `j0..j0+NR` (all `kp` rows; rows past k and columns past n are zero)
    /// into `[k / G][NR][G]` with the path's element type. `rows` are [`ConvSource::row_offsets`].
    ///
    /// # Safety
    /// The CPU has the path's features.
    unsafe fn pack_b(src: &ConvSource, rows: &[usize], j0: usize, kp: usize, panel: &mut [Self::B]);
}

/// Weights packed for one path: `m` rows of `k` int8 values.
pub struct PackedA {
    path: Path,
    pub m: usize,
    pub k: usize,
    /// k rounded up to the path's group size.
    kp: usize,
    data: Buf,
    /// 128·Σ_k w[p][k] per row for the u8-offset paths, else empty.
    comp: Vec<i32>,
}

impl PackedA {
    /// Packs row-major `w` (m×k) for `path`.
    pub fn new(path: Path, w: &[i8], m: usize, k: usize) -> PackedA {
        assert_eq!(w.len(), m * k, "PackedA: {m}×{k} weights expected");
        assert!(path.available(), "int8 path {path} cannot run on this CPU");
        let plain = |w: &[i8]| {
            let mut data = Buf::zeroed::<i8>(w.len());
            data.view_mut::<i8>().copy_from_slice(w);
            PackedA { path, m, k, kp: k, data, comp: Vec::new() }
        };
        match path {
            Path::Reference => plain(w),
            #[cfg(target_arch = "x86_64")]
            Path::Avx512Vnni => pack::pack_a::<super::x86::Vnni512>(path, w, m, k),
            #[cfg(target_arch = "x86_64")]
            Path::AvxVnni => pack::pack_a::<super::x86::AvxVnni>(path, w, m, k),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => pack::pack_a::<super::x86::Avx2>(path, w, m, k),
            #[cfg(target_arch = "aarch64")]
            Path::Neon => pack::pack_a::<super::aarch64::Neon>(path, w, m, k),
            #[cfg(target_arch = "aarch64")]
            Path::Dotprod => pack::pack_a::<super::aarch64::Dotprod>(path, w, m, k),
            #[allow(unreachable_patterns)]
            other => panic!("int8 path {other} is not compiled for this architecture"),
        }
    }

    pub(crate) fn from_parts(path: Path, m: usize, k: usize, kp: usize, data: Buf, comp: Vec<i32>) -> PackedA {
        PackedA { path, m, k, kp, data, comp }
    }

    pub fn path(&self) -> Path {
        self.path
    }
}

/// C = A·B(src) then the epilogue, written to `out` (m rows of n = ow·oh values).
///
/// Panics when sizes disagree: callers validate shapes against the layer first.
pub fn conv_gemm(a: &PackedA, src: &ConvSource, ep: &Epilogue, mut out: Out) {
    src.check();
    let (m, n) = (a.m, src.n());
    assert_eq!(src.k(), a.k, "conv_gemm: B has {} rows, A has {} columns", src.k(), a.k);
    assert_eq!(out.len(), m * n, "conv_gemm: output size");
    assert!(ep.scale.len() >= m && ep.bias.is_none_or(|b| b.len() >= m), "conv_gemm: epilogue per row");
    assert_eq!(matches!(out, Out::I8(_)), ep.requant.is_some(), "conv_gemm: int8 output iff requantized");
    if m == 0 || n == 0 {
        return;
    }
    super::counters::count(super::counters::Kind::Gemm, a.path);
    match a.path {
        Path::Reference => reference::conv_gemm(a.data.view::<i8>(), m, a.k, src, ep, &mut out),
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => drive::<super::x86::Vnni512>(a, src, ep, out.ptr()),
        #[cfg(target_arch = "x86_64")]
        Path::AvxVnni => drive::<super::x86::AvxVnni>(a, src, ep, out.ptr()),
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => drive::<super::x86::Avx2>(a, src, ep, out.ptr()),
        #[cfg(target_arch = "aarch64")]
        Path::Neon => drive::<super::aarch64::Neon>(a, src, ep, out.ptr()),
        #[cfg(target_arch = "aarch64")]
        Path::Dotprod => drive::<super::aarch64::Dotprod>(a, src, ep, out.ptr()),
        #[allow(unreachable_patterns)]
        other => panic!("int8 path {other} is not compiled for this architecture"),
    }
}

/// The tiled, threaded GEMM of one SIMD path.
pub(crate) fn drive<K: Kernel>(a: &PackedA, src: &ConvSource, ep: &Epilogue, out: OutPtr) {
    let (m, n, kp) = (a.m, src.n(), a.kp);
    let (mr, nr) = (K::MR, K::NR);
    let n_panels = n.div_ceil(nr);
    let m_panels = m.div_ceil(mr);
    let threads = rayon::current_num_threads().max(1);
    // Enough tasks to balance the threads; rows are split only when the columns are too few.
    let m_parts =
        if threads == 1 || n_panels >= 4 * threads { 1 } else { (4 * threads).div_ceil(n_panels).min(m_panels) };
    let rows_per_part = m_panels.div_ceil(m_parts);
    let panels_per_task = if threads == 1 { n_panels } else { (n_panels * m_parts).div_ceil(8 * threads).max(1) };
    let n_tasks = n_panels.div_ceil(panels_per_task);
    let a_data = a.data.view::<K::A>();
    let comp = &a.comp;
    let rows = src.row_offsets();
    let task = |t: usize| {
        let (pt, part) = (t % n_tasks, t / n_tasks);
        let mp0 = part * rows_per_part;
        let mp1 = ((part + 1) * rows_per_part).min(m_panels);
        let mut panel = Buf::zeroed::<K::B>(kp * nr);
        let mut tile = vec![0i32; mr * nr];
        for np in pt * panels_per_task..((pt + 1) * panels_per_task).min(n_panels) {
            let j0 = np * nr;
            let cols = nr.min(n - j0);
            // SAFETY: `drive::<K>` is only reached for a path the CPU has (PackedA::new / dispatch).
            unsafe { K::pack_b(src, &rows, j0, kp, panel.view_mut::<K::B>()) };
            for mp in mp0..mp1 {
                let i0 = mp * mr;
                let a_panel = &a_data[mp * kp * mr..(mp + 1) * kp * mr];
                // SAFETY: panel sizes are kp·MR and kp·NR elements; tile holds MR·NR.
                unsafe { K::micro(kp / K::G, a_panel.as_ptr(), panel.view::<K::B>().as_ptr(), tile.as_mut_ptr()) };
                for r in 0..mr.min(m - i0) {
                    let p = i0 + r;
                    let c = if K::OFFSET { comp[p] } else { 0 };
                    let at = p * n + j0;
                    let dst = match out {
                        // SAFETY: row p, columns j0..j0+cols of the m×n output belong to this task.
                        OutPtr::F32(o) => OutPtr::F32(unsafe { o.add(at) }),
                        OutPtr::I8(o) => OutPtr::I8(unsafe { o.add(at) }),
                    };
                    // SAFETY: dst holds `cols` elements of this task's tile.
                    unsafe { K::finish_row(&tile[r * nr..r * nr + cols], c, p, ep, dst) };
                }
            }
        }
    };
    let total = n_tasks * m_parts;
    if total == 1 {
        task(0);
    } else {
        (0..total).into_par_iter().for_each(task);
    }
}

/// [`epilogue::finish_row_body`] compiled for `path` (the depthwise kernels share it).
///
/// # Safety
/// `path` is available on this CPU; `out` holds `acc.len()` elements owned by the caller.
pub(crate) unsafe fn finish_row(path: Path, acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => super::x86::finish_row_avx512(acc, comp, row, ep, out),
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 | Path::AvxVnni => super::x86::finish_row_avx2(acc, comp, row, ep, out),
        #[cfg(target_arch = "aarch64")]
        Path::Neon | Path::Dotprod => super::aarch64::finish_row_neon(acc, comp, row, ep, out),
        _ => super::epilogue::finish_row_body(acc, comp, row, ep, out),
    }
}

/// `out = q(x · scale)` on `path`, in parallel for large tensors.
pub fn quantize(path: Path, x: &[f32], scale: f32, out: &mut [i8]) {
    assert_eq!(x.len(), out.len());
    const CHUNK: usize = 1 << 15;
    let one = |x: &[f32], out: &mut [i8]| quantize_chunk(path, x, scale, out);
    if x.len() <= CHUNK {
        one(x, out);
    } else {
        x.par_chunks(CHUNK).zip(out.par_chunks_mut(CHUNK)).for_each(|(x, o)| one(x, o));
    }
}

fn quantize_chunk(path: Path, x: &[f32], scale: f32, out: &mut [i8]) {
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => unsafe { super::x86::quantize_avx512(x, scale, out) },
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 | Path::AvxVnni => unsafe { super::x86::quantize_avx2(x, scale, out) },
        // NEON is the aarch64 baseline: the portable body already vectorizes there.
        _ => reference::quantize(x, scale, out),
    }
}

/// An activation tensor on its way into an int8 layer.
#[derive(Clone, Copy)]
pub enum Activations<'a> {
    /// Float values, quantized with the layer's input scale.
    F32(&'a [f32]),
    /// Already int8 (a requantized blob): used as is.
    I8(&'a [i8]),
}

/// The quantized input planes (`c` channels of `h×w`) with `pads` = [left, right, top, bottom]
/// filled with `pad_value`: (c, h + top + bottom, w + left + right). An int8 input without
/// padding is borrowed as is.
pub fn quantize_pad<'a>(
    path: Path,
    x: Activations<'a>,
    scale: f32,
    (c, h, w): (usize, usize, usize),
    pads: [usize; 4],
    pad_value: i8,
) -> (Cow<'a, [i8]>, usize, usize) {
    let [left, right, top, bottom] = pads;
    let (pw, ph) = (w + left + right, h + top + bottom);
    if pw == w && ph == h {
        return match x {
            Activations::F32(v) => {
                let mut out = vec![0i8; v.len()];
                quantize(path, v, scale, &mut out);
                (Cow::Owned(out), pw, ph)
            }
            Activations::I8(v) => (Cow::Borrowed(v), pw, ph),
        };
    }
    let mut out = vec![0i8; c * pw * ph];
    // Each plane: pad rows, then per input row its left pad, values, right pad.
    let plane = |(ch, dst): (usize, &mut [i8])| {
        dst[..top * pw].fill(pad_value);
        dst[(top + h) * pw..].fill(pad_value);
        for y in 0..h {
            let row = &mut dst[(y + top) * pw..(y + top + 1) * pw];
            row[..left].fill(pad_value);
            row[left + w..].fill(pad_value);
            let d = &mut row[left..left + w];
            let s = (ch * h + y) * w;
            match x {
                Activations::F32(v) => quantize_chunk(path, &v[s..s + w], scale, d),
                Activations::I8(v) => d.copy_from_slice(&v[s..s + w]),
            }
        }
    };
    if c * pw * ph >= 1 << 15 {
        out.par_chunks_mut(pw * ph).enumerate().for_each(plane);
    } else {
        out.chunks_mut(pw * ph).enumerate().for_each(plane);
    }
    (Cow::Owned(out), pw, ph)
}
