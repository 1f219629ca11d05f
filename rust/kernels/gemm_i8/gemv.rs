//! Matrix × vector for InnerProduct (and 1-D Convolution input): `y[p] = Σ_k w[p][k]·x[k]`,
//! then the epilogue per output. Weights stay row-major (k padded to 64 with zeros); each path's
//! row kernel runs four rows against one pass over x.

use super::epilogue::{self, Epilogue, Out};
use super::pack::Buf;
use crate::base::parallel;
use crate::kernels::dispatch::{I8Call, I8Path};

/// k is padded to a multiple of this (the widest vector, 64 bytes).
const KPAD: usize = 64;

/// InnerProduct weights for one path.
pub struct PackedRows {
    path: I8Path,
    pub m: usize,
    pub k: usize,
    kp: usize,
    data: Buf,
    /// 128·Σ w[p] for the u8-offset paths (AVX-512 VNNI, AVX-VNNI), else empty.
    comp: Vec<i32>,
}

impl PackedRows {
    pub fn new(path: I8Path, w: &[i8], m: usize, k: usize) -> PackedRows {
        assert_eq!(w.len(), m * k, "PackedRows: {m}×{k} weights expected");
        let kp = k.div_ceil(KPAD) * KPAD;
        let mut data = Buf::zeroed::<i8>(m * kp);
        for (dst, src) in data.view_mut::<i8>().chunks_mut(kp).zip(w.chunks(k.max(1))) {
            dst[..k].copy_from_slice(src);
        }
        let comp = if path.kernels().gemv_offset {
            w.chunks(k.max(1)).take(m).map(|r| 128 * r.iter().map(|&v| i32::from(v)).sum::<i32>()).collect()
        } else {
            Vec::new()
        };
        PackedRows { path, m, k, kp, data, comp }
    }

    pub fn path(&self) -> I8Path {
        self.path
    }
}

/// `y = epilogue(W·x)` for one quantized input vector `x` (k values).
pub fn gemv(w: &PackedRows, x: &[i8], ep: &Epilogue, mut out: Out) {
    const ROWS: usize = 64;
    let (m, k, kp) = (w.m, w.k, w.kp);
    assert_eq!(x.len(), k, "gemv: input length");
    assert_eq!(out.len(), m, "gemv: output length");
    assert!(ep.scale.len() >= m && ep.bias.is_none_or(|b| b.len() >= m), "gemv: epilogue per row");
    assert_eq!(matches!(out, Out::I8(_)), ep.requant.is_some(), "gemv: int8 output iff requantized");
    w.path.count(I8Call::Gemv);
    let kernels = w.path.kernels();
    let offset = kernels.gemv_offset;
    let mut xp = vec![if offset { 0x80u8 } else { 0 }; kp];
    for (d, &v) in xp.iter_mut().zip(x) {
        *d = if offset { (v as u8) ^ 0x80 } else { v as u8 };
    }
    let dot = kernels.gemv_rows;
    let mut acc = vec![0i32; m];
    let data = w.data.view::<i8>();
    // SAFETY: `w.path` came from dispatch, which hands out only paths this CPU runs.
    let run = |i: usize, a: &mut [i32]| unsafe { dot(&data[i * ROWS * kp..(i * ROWS + a.len()) * kp], kp, &xp, a) };
    parallel::for_each_chunk(&mut acc, ROWS, parallel::min_chunks(ROWS * kp, 1 << 16), run);
    let out = out.ptr();
    for (p, &a) in acc.iter().enumerate() {
        let c = if offset { w.comp[p] } else { 0 };
        // SAFETY: element p of the m outputs.
        let dst = unsafe { out.add(p) };
        // SAFETY: one element at dst.
        unsafe { epilogue::finish_row_body(&[a], c, p, ep, dst) };
    }
}
