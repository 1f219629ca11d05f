//! What follows the integer accumulation (runtime-int8.md §2 steps 4–6, §6): de-scale, bias,
//! fused activation, then float output or requantization with round-half-away-from-zero and a
//! clamp to ±127. One scalar body, inlined into each path's `#[target_feature]` wrapper, so the
//! compiler vectorizes it per instruction set without changing a value (the fused multiply-add
//! is exactly rounded everywhere; without FMA hardware it is a libm call, slow but equal; Rust
//! never contracts a product and a sum on its own).

use crate::base::Activation;

/// How accumulator row `p` becomes output row `p`:
/// `y = act(acc · scale[p] + bias[p])`, then `q(y · s_out)` when requantizing.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// `1 / (s_in · s_w[p])`, or 0 where `s_w[p]` is 0 (see [`descale_factor`]).
    pub scale: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub activation: Activation,
    /// `s_out` when the output is requantized to int8 (`int8_scale_term` > 100).
    pub requant: Option<f32>,
    /// `acc·scale + bias` as one fused multiply-add (ncnn's x86 convolutions) or as a product
    /// then a sum (its inner products and most depthwise kernels).
    pub fused: bool,
}

/// `1/(s_in·s_w)` in float32, multiply first (ncnn's order); 0 when `s_w` is 0.
pub fn descale_factor(s_in: f32, s_w: f32) -> f32 {
    if s_w == 0.0 {
        0.0
    } else {
        1.0 / (s_in * s_w)
    }
}

/// The output of a GEMM or depthwise kernel: m rows of n values, row-major.
pub enum Out<'a> {
    F32(&'a mut [f32]),
    I8(&'a mut [i8]),
}

impl Out<'_> {
    pub fn len(&self) -> usize {
        match self {
            Out::F32(v) => v.len(),
            Out::I8(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn ptr(&mut self) -> OutPtr {
        match self {
            Out::F32(v) => OutPtr::F32(v.as_mut_ptr()),
            Out::I8(v) => OutPtr::I8(v.as_mut_ptr()),
        }
    }
}

/// A raw output pointer shared by worker threads that write disjoint tiles.
#[derive(Clone, Copy)]
pub(crate) enum OutPtr {
    F32(*mut f32),
    I8(*mut i8),
}

// SAFETY: threads write disjoint elements only (each tile of C belongs to one task).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer `at` elements further on.
    ///
    /// # Safety
    /// `at` elements on must lie within (or one past) the output the pointer points into.
    #[inline(always)]
    pub(crate) unsafe fn add(self, at: usize) -> OutPtr {
        // SAFETY: the caller's contract.
        unsafe {
            match self {
                OutPtr::F32(o) => OutPtr::F32(o.add(at)),
                OutPtr::I8(o) => OutPtr::I8(o.add(at)),
            }
        }
    }
}

/// ncnn's float2int8: round half away from zero, clamp to [−127, 127]. Exact for every float
/// (the fraction `v − trunc(v)` is exact); NaN gives −127 as ncnn's x86 SIMD path does.
#[inline(always)]
pub fn float2int8(v: f32) -> i8 {
    let t = v.trunc();
    let r = if (v - t).abs() >= 0.5 { t + 1f32.copysign(v) } else { t };
    // max/min return the other operand for NaN, so r is finite and in range: the unchecked
    // conversion is sound, and unlike `as` it vectorizes.
    #[allow(clippy::manual_clamp)] // clamp would keep NaN
    let r = r.max(-127.0).min(127.0);
    // SAFETY: r is an integer in [−127, 127].
    unsafe { r.to_int_unchecked::<i32>() as i8 }
}

/// `out[i] = q(x[i] · scale)`: quantizing an activation tensor with its single scale.
#[inline(always)]
pub fn quantize_body(x: &[f32], scale: f32, out: &mut [i8]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = float2int8(v * scale);
    }
}

/// `out[r·cols + j] = q(x[r·stride + j] · scale)` for the `out.len() / cols` rows: a block of
/// channel rows' columns (a GEMM task's share of a 1×1 convolution's input), quantized in one call.
/// Each row goes in fixed chunks of 16 (one vector on AVX-512) and then one by one: a plain loop
/// vectorizes 64 values at a time, and a 32-value row would take its scalar remainder. The same
/// value per element as [`quantize_body`].
#[inline(always)]
pub fn quantize_rows_body(x: &[f32], stride: usize, cols: usize, scale: f32, out: &mut [i8]) {
    const CHUNK: usize = 16;
    let split = cols / CHUNK * CHUNK;
    for (r, o) in out.chunks_exact_mut(cols.max(1)).enumerate() {
        let xr = &x[r * stride..r * stride + cols];
        for (d, s) in o[..split].chunks_exact_mut(CHUNK).zip(xr[..split].chunks_exact(CHUNK)) {
            let d: &mut [i8; CHUNK] = d.try_into().expect("chunks of CHUNK");
            let s: &[f32; CHUNK] = s.try_into().expect("chunks of CHUNK");
            for i in 0..CHUNK {
                d[i] = float2int8(s[i] * scale);
            }
        }
        for (d, &s) in o[split..].iter_mut().zip(&xr[split..]) {
            *d = float2int8(s * scale);
        }
    }
}

#[inline(always)]
fn descale<const FUSED: bool>(a: i32, comp: i32, scale: f32, bias: f32) -> f32 {
    let v = a.wrapping_sub(comp) as f32;
    if FUSED {
        v.mul_add(scale, bias)
    } else {
        v * scale + bias
    }
}

/// `out[i] = f(acc[i])`, in fixed chunks of 16 and then one by one. A plain loop is vectorized
/// four vectors at a time with an 8-lane remainder loop, so the GEMM's rows of 32 values (one
/// tile's width) never reached the wide body: on a 64-channel stem convolution the epilogue was
/// half the layer's time. A chunk of constant length is one vector on AVX-512 (two on AVX2,
/// four on NEON). The same operations per element in any order: the results do not change.
#[inline(always)]
fn by_chunks<T: Copy, F: Fn(i32) -> T>(acc: &[i32], out: &mut [T], f: F) {
    const CHUNK: usize = 16;
    let split = acc.len() / CHUNK * CHUNK;
    for (d, a) in out[..split].chunks_exact_mut(CHUNK).zip(acc[..split].chunks_exact(CHUNK)) {
        let d: &mut [T; CHUNK] = d.try_into().expect("chunks of CHUNK");
        let a: &[i32; CHUNK] = a.try_into().expect("chunks of CHUNK");
        for i in 0..CHUNK {
            d[i] = f(a[i]);
        }
    }
    for (d, &a) in out[split..].iter_mut().zip(&acc[split..]) {
        *d = f(a);
    }
}

#[inline(always)]
fn row_with<const FUSED: bool, F: Fn(f32) -> f32>(
    acc: &[i32],
    comp: i32,
    scale: f32,
    bias: f32,
    requant: Option<f32>,
    act: F,
    out: OutPtr,
) {
    // bias −0.0 stands for "no bias": x·s + (−0.0) and fma(x, s, −0.0) both equal x·s exactly,
    // so one loop serves both.
    match (out, requant) {
        (OutPtr::F32(o), _) => {
            // SAFETY: the caller gives `acc.len()` writable elements at `o`.
            let o = unsafe { std::slice::from_raw_parts_mut(o, acc.len()) };
            by_chunks(acc, o, |a| act(descale::<FUSED>(a, comp, scale, bias)));
        }
        (OutPtr::I8(o), Some(s_out)) => {
            // SAFETY: as above.
            let o = unsafe { std::slice::from_raw_parts_mut(o, acc.len()) };
            by_chunks(acc, o, |a| float2int8(act(descale::<FUSED>(a, comp, scale, bias)) * s_out));
        }
        (OutPtr::I8(_), None) => unreachable!("int8 output without s_out is rejected by the callers"),
    }
}

/// Finishes one accumulator row (`acc` = row `row`'s values, `comp` subtracted first) into
/// `out`, which must hold `acc.len()` elements of the output type.
///
/// # Safety
/// `out` points to `acc.len()` writable elements that no one else touches meanwhile.
#[inline(always)]
pub(crate) unsafe fn finish_row_body(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr) {
    let scale = ep.scale[row];
    let bias = ep.bias.map_or(-0.0, |b| b[row]);
    if ep.fused {
        with_activation::<true>(acc, comp, scale, bias, ep, out);
    } else {
        with_activation::<false>(acc, comp, scale, bias, ep, out);
    }
}

/// A tile's rows: row `r` of `acc` (`cols` values from `r·ld` on, `comps[r]` subtracted first) is
/// output row `row0 + r`, written `r·out_ld` elements after `out`. The epilogue's choices
/// (fused, activation) are made once for the tile, not once per row: a GEMM tile's rows are 32
/// values, and per row the call and the choices cost as much as the values.
///
/// # Safety
/// Each output row holds `cols` writable elements that no one else touches meanwhile.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only the x86 tiles finish whole tiles
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn finish_tile_body(
    acc: &[i32],
    ld: usize,
    cols: usize,
    comps: &[i32],
    row0: usize,
    ep: &Epilogue,
    out: OutPtr,
    out_ld: usize,
) {
    let rows = comps.len();
    let tile = Tile { acc, ld, cols, comps, row0, out, out_ld };
    debug_assert!(rows == 0 || (rows - 1) * ld + cols <= acc.len());
    if ep.fused {
        tile_activation::<true>(&tile, ep);
    } else {
        tile_activation::<false>(&tile, ep);
    }
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only the x86 tiles finish whole tiles
struct Tile<'a> {
    acc: &'a [i32],
    ld: usize,
    cols: usize,
    comps: &'a [i32],
    row0: usize,
    out: OutPtr,
    out_ld: usize,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only the x86 tiles finish whole tiles
#[inline(always)]
fn tile_activation<const FUSED: bool>(t: &Tile, ep: &Epilogue) {
    match ep.activation {
        Activation::Identity => tile_with::<FUSED, _>(t, ep, |v| v),
        Activation::Relu => tile_with::<FUSED, _>(t, ep, |v| v.max(0.0)),
        Activation::LeakyRelu(s) => tile_with::<FUSED, _>(t, ep, move |v| if v > 0.0 { v } else { v * s }),
        Activation::Clip(lo, hi) => tile_with::<FUSED, _>(t, ep, move |v| v.max(lo).min(hi)),
        other => tile_with::<FUSED, _>(t, ep, move |v| other.apply(v)),
    }
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only the x86 tiles finish whole tiles
#[inline(always)]
fn tile_with<const FUSED: bool, F: Fn(f32) -> f32 + Copy>(t: &Tile, ep: &Epilogue, act: F) {
    for (r, &comp) in t.comps.iter().enumerate() {
        let row = t.row0 + r;
        let scale = ep.scale[row];
        let bias = ep.bias.map_or(-0.0, |b| b[row]);
        // SAFETY: the caller's contract: output row r lies `r·out_ld` elements on.
        let out = unsafe { t.out.add(r * t.out_ld) };
        row_with::<FUSED, _>(&t.acc[r * t.ld..r * t.ld + t.cols], comp, scale, bias, ep.requant, act, out);
    }
}

#[inline(always)]
fn with_activation<const FUSED: bool>(acc: &[i32], comp: i32, scale: f32, bias: f32, ep: &Epilogue, out: OutPtr) {
    let q = ep.requant;
    match ep.activation {
        Activation::Identity => row_with::<FUSED, _>(acc, comp, scale, bias, q, |v| v, out),
        Activation::Relu => row_with::<FUSED, _>(acc, comp, scale, bias, q, |v| v.max(0.0), out),
        Activation::LeakyRelu(s) => {
            row_with::<FUSED, _>(acc, comp, scale, bias, q, move |v| if v > 0.0 { v } else { v * s }, out);
        }
        Activation::Clip(lo, hi) => row_with::<FUSED, _>(acc, comp, scale, bias, q, move |v| v.max(lo).min(hi), out),
        other => row_with::<FUSED, _>(acc, comp, scale, bias, q, move |v| other.apply(v), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float2int8_rounds_half_away_and_clamps() {
        let cases: [(f32, i8); 16] = [
            (0.0, 0),
            (-0.0, 0),
            (0.5, 1),
            (-0.5, -1),
            (0.499_999_97, 0),
            (-0.499_999_97, 0),
            (1.5, 2),
            (2.5, 3),
            (-2.5, -3),
            (126.5, 127),
            (-126.5, -127),
            (127.5, 127),
            (-127.5, -127),
            (-128.0, -127),
            (1e30, 127),
            (f32::NAN, -127),
        ];
        for (v, want) in cases {
            assert_eq!(float2int8(v), want, "q({v})");
        }
        // Agrees with C's round() (half away from zero) over a dense sweep.
        let mut v = -130.0f32;
        while v < 130.0 {
            let want = (v.round() as i32).clamp(-127, 127) as i8;
            assert_eq!(float2int8(v), want, "q({v})");
            v += 0.0371;
        }
    }

    #[test]
    fn descale_factor_is_zero_for_zero_or_infinite_weight_scale() {
        assert_eq!(descale_factor(2.0, 0.0), 0.0);
        assert_eq!(descale_factor(2.0, f32::INFINITY), 0.0);
        assert_eq!(descale_factor(2.0, 4.0), 1.0 / 8.0);
    }
}
