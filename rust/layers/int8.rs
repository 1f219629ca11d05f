//! Shared pieces of the int8 layers (runtime-int8.md §1–§4): the stored scales, weights that
//! arrive as int8 or are quantized at load with those scales (formats.md §3.7), the de-scale
//! factors, the input as the kernels take it and the output they write.

use super::Params;
use crate::base::{Geometry, Shape, Tensor, TensorData};
use crate::error::Result;
use crate::kernels::dispatch::I8Path;
use crate::kernels::gemm_i8::{self, epilogue, Activations, Out};
use crate::model::WeightData;
use std::borrow::Cow;

/// One float read from a raw scale array.
pub fn scalar(p: &Params, name: &str) -> Result<f32> {
    let v = p.weight_f32(name)?;
    v.first().copied().ok_or_else(|| p.invalid(format!("{name} is empty")))
}

/// A raw scale array of exactly `n` values.
pub fn array(p: &Params, name: &str, n: usize) -> Result<Vec<f32>> {
    let v = p.weight_f32(name)?;
    if v.len() != n {
        return Err(p.invalid(format!("{name} has {} values, expected {n}", v.len())));
    }
    Ok(v)
}

/// The weights as int8: stored int8 as is; float or fp16 weights quantized at load like ncnn's
/// `create_pipeline` does, row r (of `rows` equal rows) with `q(w · row_scale[r])`.
pub fn weights(p: &Params, rows: usize, row_scale: &[f32]) -> Result<Vec<i8>> {
    match p.weight("weight")? {
        WeightData::I8(v) => Ok(v.clone()),
        other => {
            let f = other.to_f32();
            if rows == 0 || f.len() % rows != 0 || row_scale.len() < rows {
                return Err(p.invalid(format!("{} weights do not split into {rows} scaled rows", f.len())));
            }
            let per = f.len() / rows;
            Ok(f.chunks(per)
                .zip(row_scale)
                .flat_map(|(row, &s)| row.iter().map(move |&w| epilogue::float2int8(w * s)))
                .collect())
        }
    }
}

/// `1/(s_in·s_w[p])` per output (0 where `s_w` is 0).
pub fn descale(s_in: f32, s_w: &[f32]) -> Vec<f32> {
    s_w.iter().map(|&s| epilogue::descale_factor(s_in, s)).collect()
}

/// ncnn pads int8 blobs with `(signed char)pad_value`: truncation toward zero.
pub fn pad_byte(pad_value: f32) -> i8 {
    pad_value as i32 as i8
}

/// The tensor as the kernels take it: floats to quantize, or an int8 blob used as is.
pub fn activations(x: &Tensor) -> Activations<'_> {
    match &x.data {
        TensorData::F32(v) => Activations::F32(v),
        TensorData::I8(v) => Activations::I8(v),
    }
}

/// A layer's output (int8 when it requantizes, else fp32) as the kernel `fill` writes it, with no
/// zeroing pass first.
///
/// # Safety
/// `fill` writes every element before reading any.
pub unsafe fn output(shape: Shape, requantized: bool, fill: impl FnOnce(Out)) -> Result<Tensor> {
    // SAFETY: the caller's promise.
    unsafe {
        Tensor::overwritten(shape, requantized, |data| {
            fill(match data {
                TensorData::F32(v) => Out::F32(v),
                TensorData::I8(v) => Out::I8(v),
            });
        })
    }
}

/// The requantization scale of a layer with `int8_scale_term` > 100.
pub fn top_scale(p: &Params, flag: i32) -> Result<Option<f32>> {
    if flag > 100 {
        Ok(Some(scalar(p, "top_int8_scale")?))
    } else {
        Ok(None)
    }
}

/// The input of an int8 convolution as its kernel reads it: quantized with `scale` and padded as
/// `geometry` pads it, with the pad byte `pad_value`; (planes, padded width, padded height). The
/// caller has checked that the kernel fits (`Geometry::conv_output`).
pub fn padded_input<'a>(
    path: I8Path,
    geometry: &Geometry,
    x: &'a Tensor,
    scale: f32,
    pad_value: i8,
) -> Result<(Cow<'a, [i8]>, usize, usize)> {
    let s = x.shape;
    let (_, _, pad) = geometry.output_size(s.w, s.h).expect("the caller checked that the kernel fits");
    let pads = [pad.left, pad.right, pad.top, pad.bottom];
    gemm_i8::quantize_pad(path, activations(x), scale, (s.c, s.h, s.w), pads, pad_value)
}
