//! Convolution input patches (im2col columns) at sampled output positions, with the layer's own
//! padding rules: what the `eq` search needs to evaluate a layer on cached inputs.

use crate::base::{alloc, Geometry};
use crate::engine::Tensor;
use crate::error::{Error, Result};
use crate::layers::Params;
use crate::model::Layer;

/// Columns (c·kh·kw rows, in that order) for `count` output positions drawn without replacement
/// from the layer's output plane, and those positions (oy·outw + ox). All positions when there
/// are fewer than `count`.
pub struct Patches {
    pub rows: usize,
    pub columns: Vec<f32>,
    pub positions: Vec<usize>,
    pub out_size: (usize, usize),
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn sample_patches(layer: &Layer, input: &Tensor, count: usize, seed: u64) -> Result<Patches> {
    let p = Params::new(layer)?;
    let g = Geometry::from_params(&p)?;
    let s = input.shape;
    if s.dims == 4 {
        return Err(Error::shape(&layer.name, &layer.type_name, format!("4-D input {s} has no 2-D patches")));
    }
    let (w, h, c) = (s.w, s.h, s.c);
    let (ow, oh, pad) = g
        .output_size(w, h)
        .ok_or_else(|| Error::shape(&layer.name, &layer.type_name, format!("kernel does not fit input {s}")))?;
    let total = ow * oh;
    let mut positions: Vec<usize> = alloc::collect(0..total)?;
    if count < total {
        // Partial Fisher-Yates: the first `count` entries become a uniform sample.
        let mut state = seed;
        for i in 0..count {
            let j = i + (splitmix(&mut state) % (total - i) as u64) as usize;
            positions.swap(i, j);
        }
        positions.truncate(count);
        positions.sort_unstable();
    }
    let (kw, kh) = g.kernel;
    let (dw, dh) = g.dilation;
    let (sw, sh) = g.stride;
    let rows = c * kh * kw;
    let n = positions.len();
    let mut columns = alloc::zeroed::<f32>(alloc::count(&[rows, n])?)?;
    let x = input.f32();
    for ch in 0..c {
        let plane = &x[ch * w * h..(ch + 1) * w * h];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = (ch * kh + ky) * kw + kx;
                for (j, &pos) in positions.iter().enumerate() {
                    let (oy, ox) = (pos / ow, pos % ow);
                    let iy = (oy * sh + ky * dh) as isize - pad.top as isize;
                    let ix = (ox * sw + kx * dw) as isize - pad.left as isize;
                    columns[row * n + j] = if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                        plane[iy as usize * w + ix as usize]
                    } else {
                        g.pad_value
                    };
                }
            }
        }
    }
    Ok(Patches { rows, columns, positions, out_size: (ow, oh) })
}
