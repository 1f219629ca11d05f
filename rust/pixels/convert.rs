//! Interleaved 8-bit pixels to planar float channels, with ncnn's conversions (`from_pixels`)
//! and its integer grayscale formula, then `substract_mean_normalize`.

use crate::base::{alloc, Shape, Tensor};
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
    for (what, values) in [("mean", mean), ("norm", norm)] {
        if values.len() > cout {
            return Err(Error::input(format!("{what} has {} values but the image has {cout} channels", values.len())));
        }
    }
    let plane = w * h;
    // Each output value is a function of one 8-bit value: a 256-entry table per channel holds
    // `x·norm + (−mean·norm)` as ncnn computes it.
    let mut tables = [[0.0f32; 256]; 4];
    for (c, table) in tables.iter_mut().enumerate().take(cout) {
        let norm_c =
            if norm.is_empty() { 1.0 } else { *norm.get(c).ok_or_else(|| too_short("norm", norm.len(), cout))? };
        let mean_c =
            if mean.is_empty() { 0.0 } else { *mean.get(c).ok_or_else(|| too_short("mean", mean.len(), cout))? };
        let bias = -mean_c * norm_c;
        for (x, t) in table.iter_mut().enumerate() {
            let v = x as f32;
            *t = if mean.is_empty() && norm.is_empty() { v } else { v * norm_c + bias };
        }
    }
    let mut out = alloc::zeroed::<f32>(alloc::count(&[plane, cout])?)?;
    let src = from.rgba_positions();
    if to == PixelType::Gray && from != PixelType::Gray {
        for (o, px) in out.iter_mut().zip(pixels.chunks_exact(cin)) {
            *o = tables[0][usize::from(gray(px[src[0]], px[src[1]], px[src[2]]))];
        }
    } else {
        let dst = to.rgba_positions();
        for (c, (plane_out, table)) in out.chunks_exact_mut(plane).zip(&tables).enumerate() {
            // Which input byte feeds output channel c; `None`: alpha from an image without one.
            let component = dst.iter().position(|&d| d == c).expect("each output channel is a component");
            let from_index = (src[component] != usize::MAX).then_some(src[component]);
            match from_index {
                // cin is 1, 3 or 4.
                Some(k) => match cin {
                    1 => plane_out.iter_mut().zip(pixels).for_each(|(o, &p)| *o = table[usize::from(p)]),
                    3 => convert_channel::<3>(pixels, k, table, plane_out),
                    _ => convert_channel::<4>(pixels, k, table, plane_out),
                },
                None => plane_out.fill(table[255]),
            }
        }
    }
    Ok(Tensor::new(Shape::d3(w, h, cout), out))
}

/// Byte `k` of each `C`-byte pixel through `table`.
fn convert_channel<const C: usize>(pixels: &[u8], k: usize, table: &[f32; 256], out: &mut [f32]) {
    for (o, px) in out.iter_mut().zip(pixels.chunks_exact(C)) {
        *o = table[usize::from(px[k])];
    }
}

fn too_short(what: &str, got: usize, channels: usize) -> Error {
    Error::input(format!("{what} has {got} values but the image has {channels} channels"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversion written the plain way: per pixel, then mean and norm over each plane.
    fn from_pixels_plain(px: &[u8], n: usize, from: PixelType, to: PixelType, mean: &[f32], norm: &[f32]) -> Vec<f32> {
        let (cin, cout) = (from.channels(), to.channels());
        let src = from.rgba_positions();
        let mut out = vec![0.0f32; n * cout];
        for (i, p) in px.chunks_exact(cin).enumerate() {
            let (r, g, b) = (p[src[0]], p[src[1]], p[src[2]]);
            let a = if src[3] == usize::MAX { 255 } else { p[src[3]] };
            let values: [u8; 4] = match to {
                PixelType::Gray if from == PixelType::Gray => [p[0], 0, 0, 0],
                PixelType::Gray => [gray(r, g, b), 0, 0, 0],
                PixelType::Rgb => [r, g, b, 0],
                PixelType::Bgr => [b, g, r, 0],
                PixelType::Rgba => [r, g, b, a],
                PixelType::Bgra => [b, g, r, a],
            };
            for c in 0..cout {
                out[c * n + i] = f32::from(values[c]);
            }
        }
        if !(mean.is_empty() && norm.is_empty()) {
            for c in 0..cout {
                let norm_c = if norm.is_empty() { 1.0 } else { norm[c] };
                let mean_c = if mean.is_empty() { 0.0 } else { mean[c] };
                out[c * n..(c + 1) * n].iter_mut().for_each(|v| *v = *v * norm_c + -mean_c * norm_c);
            }
        }
        out
    }

    #[test]
    fn every_conversion_matches_the_plain_formula() {
        use PixelType::*;
        let n = 37;
        let px: Vec<u8> = (0..n * 4).map(|i| (i * 97 % 256) as u8).collect();
        let (mean, norm) = ([104.0, 117.5, 123.0, 7.0], [0.017, 0.5, 1.0 / 3.0, 2.0]);
        for from in [Rgb, Bgr, Gray, Rgba, Bgra] {
            for to in [Rgb, Bgr, Gray, Rgba, Bgra] {
                let px = &px[..n * from.channels()];
                let k = to.channels();
                for (m, s) in
                    [(&[][..], &[][..]), (&mean[..k], &norm[..k]), (&mean[..k], &[][..]), (&[][..], &norm[..k])]
                {
                    let got = from_pixels(px, n, 1, from, to, m, s).unwrap();
                    let want = from_pixels_plain(px, n, from, to, m, s);
                    assert_eq!(got.f32(), &want[..], "{from:?} -> {to:?} mean {m:?} norm {s:?}");
                }
            }
        }
    }

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
