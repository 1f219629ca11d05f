//! ncnn's fixed-point bilinear resize (`resize_bilinear_c1/c2/c3/c4`): Q11 coefficients, a
//! horizontal pass into int16 rows (>> 4), a vertical pass with (>> 16) products, + 2, >> 2.
//! Bit-exact with ncnn (and close to OpenCV's INTER_LINEAR).

const COEF_BITS: i32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// ncnn's SATURATE_CAST_SHORT: round half away from zero, saturate to int16.
fn saturate_short(x: f32) -> i16 {
    let r = (x + if x >= 0.0 { 0.5 } else { -0.5 }) as i32;
    r.clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// Source index and Q11 weights for each destination coordinate.
fn axis_table(src: usize, dst: usize) -> Vec<(usize, i16, i16)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let mut f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            f -= s as f32;
            if s < 0 {
                s = 0;
                f = 0.0;
            }
            if s >= src as i64 - 1 {
                // ncnn assumes src >= 2 here; a 1-pixel source just repeats itself.
                s = (src as i64 - 2).max(0);
                f = if src >= 2 { 1.0 } else { 0.0 };
            }
            (s as usize, saturate_short((1.0 - f) * COEF_SCALE), saturate_short(f * COEF_SCALE))
        })
        .collect()
}

/// Resizes an interleaved `channels`-channel u8 image of `sw`×`sh` to `dw`×`dh`.
pub fn resize_bilinear(src: &[u8], sw: usize, sh: usize, channels: usize, dw: usize, dh: usize) -> Vec<u8> {
    assert_eq!(src.len(), sw * sh * channels);
    let xs = axis_table(sw, dw);
    let ys = axis_table(sh, dh);
    let row_len = dw * channels;
    let hresize = |sy: usize, out: &mut [i16]| {
        let row = &src[sy * sw * channels..(sy + 1) * sw * channels];
        for (dx, &(sx, a0, a1)) in xs.iter().enumerate() {
            let sx1 = (sx + 1).min(sw - 1);
            for c in 0..channels {
                let v = i32::from(row[sx * channels + c]) * i32::from(a0)
                    + i32::from(row[sx1 * channels + c]) * i32::from(a1);
                out[dx * channels + c] = (v >> 4) as i16;
            }
        }
    };
    let mut rows0 = vec![0i16; row_len];
    let mut rows1 = vec![0i16; row_len];
    let mut prev: Option<usize> = None;
    let mut dst = vec![0u8; dw * dh * channels];
    for (dy, &(sy, b0, b1)) in ys.iter().enumerate() {
        let sy1 = (sy + 1).min(sh - 1);
        match prev {
            Some(p) if p == sy => {}
            Some(p) if p + 1 == sy => {
                std::mem::swap(&mut rows0, &mut rows1);
                hresize(sy1, &mut rows1);
            }
            _ => {
                hresize(sy, &mut rows0);
                hresize(sy1, &mut rows1);
            }
        }
        prev = Some(sy);
        let out = &mut dst[dy * row_len..(dy + 1) * row_len];
        for (x, o) in out.iter_mut().enumerate() {
            let t0 = ((i32::from(b0) * i32::from(rows0[x])) >> 16) as i16;
            let t1 = ((i32::from(b1) * i32::from(rows1[x])) >> 16) as i16;
            *o = ((i32::from(t0) + i32::from(t1) + 2) >> 2).clamp(0, 255) as u8;
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_keeps_pixels() {
        let src: Vec<u8> = (0..5 * 4 * 3).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(resize_bilinear(&src, 5, 4, 3, 5, 4), src);
    }

    #[test]
    fn flat_image_stays_flat_and_sizes_are_right() {
        let src = vec![200u8; 7 * 3];
        let out = resize_bilinear(&src, 7, 3, 1, 13, 9);
        assert_eq!(out.len(), 13 * 9);
        assert!(out.iter().all(|&v| v == 200));
        let one = resize_bilinear(&[9u8, 8, 7], 1, 1, 3, 4, 2);
        assert_eq!(one, [9, 8, 7].repeat(8));
    }
}
