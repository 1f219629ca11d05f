//! Interleaved 8-bit pixels to planar float channels, with ncnn's conversions (`from_pixels`)
//! and its integer grayscale formula, then `substract_mean_normalize`.

use crate::engine::{Shape, Tensor};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelType {
    Rgb,
    Bgr,
    Gray,
    Rgba,
    Bgra,
}

impl PixelType {
    pub fn parse(name: &str) -> Result<PixelType> {
        Ok(match name {
            "RGB" => PixelType::Rgb,
            "BGR" => PixelType::Bgr,
            "GRAY" => PixelType::Gray,
            "RGBA" => PixelType::Rgba,
            "BGRA" => PixelType::Bgra,
            other => return Err(Error::input(format!("unknown pixel format {other:?} (RGB, BGR, GRAY, RGBA, BGRA)"))),
        })
    }

    pub fn channels(self) -> usize {
        match self {
            PixelType::Gray => 1,
            PixelType::Rgb | PixelType::Bgr => 3,
            PixelType::Rgba | PixelType::Bgra => 4,
        }
    }

    /// Index of red, green, blue (and alpha) in an interleaved pixel.
    fn rgba_positions(self) -> [usize; 4] {
        match self {
            PixelType::Rgb => [0, 1, 2, usize::MAX],
            PixelType::Bgr => [2, 1, 0, usize::MAX],
            PixelType::Rgba => [0, 1, 2, 3],
            PixelType::Bgra => [2, 1, 0, 3],
            PixelType::Gray => [0, 0, 0, usize::MAX],
        }
    }
}

/// ncnn's integer luma: (77·R + 150·G + 29·B) >> 8.
fn gray(r: u8, g: u8, b: u8) -> u8 {
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8) as u8
}

/// Converts `w`×`h` interleaved pixels of type `from` to planar float channels of type `to`,
/// then applies `(x - mean[c]) · norm[c]` the way ncnn does (`x·norm + (−mean·norm)`).
/// Empty `mean`/`norm` skip that step.
pub fn from_pixels(
    pixels: &[u8],
    w: usize,
    h: usize,
    from: PixelType,
    to: PixelType,
    mean: &[f32],
    norm: &[f32],
) -> Result<Tensor> {
    let cin = from.channels();
    if pixels.len() != w * h * cin {
        return Err(Error::input(format!("{w}x{h} {from:?} pixels need {} bytes, got {}", w * h * cin, pixels.len())));
    }
    let cout = to.channels();
    let plane = w * h;
    let mut out = vec![0.0f32; plane * cout];
    let src = from.rgba_positions();
    for (i, px) in pixels.chunks_exact(cin).enumerate() {
        let (r, g, b) = (px[src[0]], px[src[1]], px[src[2]]);
        let a = if src[3] == usize::MAX { 255 } else { px[src[3]] };
        let values: [u8; 4] = match to {
            PixelType::Gray if from == PixelType::Gray => [px[0], 0, 0, 0],
            PixelType::Gray => [gray(r, g, b), 0, 0, 0],
            PixelType::Rgb => [r, g, b, 0],
            PixelType::Bgr => [b, g, r, 0],
            PixelType::Rgba => [r, g, b, a],
            PixelType::Bgra => [b, g, r, a],
        };
        for c in 0..cout {
            out[c * plane + i] = f32::from(values[c]);
        }
    }
    for c in 0..cout {
        let norm_c =
            if norm.is_empty() { 1.0 } else { *norm.get(c).ok_or_else(|| too_short("norm", norm.len(), cout))? };
        let mean_c =
            if mean.is_empty() { 0.0 } else { *mean.get(c).ok_or_else(|| too_short("mean", mean.len(), cout))? };
        if mean.is_empty() && norm.is_empty() {
            break;
        }
        let bias = -mean_c * norm_c;
        for v in &mut out[c * plane..(c + 1) * plane] {
            *v = *v * norm_c + bias;
        }
    }
    Ok(Tensor::new(Shape::d3(w, h, cout), out))
}

fn too_short(what: &str, got: usize, channels: usize) -> Error {
    Error::input(format!("{what} has {got} values but the image has {channels} channels"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgr_to_rgb_and_gray() {
        let px = [10u8, 20, 30, 40, 50, 60]; // two BGR pixels
        let t = from_pixels(&px, 2, 1, PixelType::Bgr, PixelType::Rgb, &[], &[]).unwrap();
        assert_eq!(t.f32(), &[30.0, 60.0, 20.0, 50.0, 10.0, 40.0]);
        let g = from_pixels(&px, 2, 1, PixelType::Bgr, PixelType::Gray, &[], &[]).unwrap();
        assert_eq!(g.f32(), &[f32::from(gray(30, 20, 10)), f32::from(gray(60, 50, 40))]);
        let n = from_pixels(&px, 2, 1, PixelType::Bgr, PixelType::Bgr, &[1.0, 2.0, 3.0], &[0.5, 0.5, 0.5]).unwrap();
        assert_eq!(n.f32(), &[4.5, 19.5, 9.0, 24.0, 13.5, 28.5]);
        assert!(from_pixels(&px, 2, 1, PixelType::Bgr, PixelType::Bgr, &[1.0], &[1.0]).is_err());
    }
}
