//! ncnn's fixed-point bilinear resize (`resize_bilinear_c1/c2/c3/c4`): Q11 coefficients, a
//! horizontal pass into int16 rows (>> 4), a vertical pass with (>> 16) products, + 2, >> 2.
//! Bit-exact with ncnn (and close to OpenCV's `INTER_LINEAR`).

use crate::base::alloc;
use crate::error::Result;

const COEF_BITS: i32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// ncnn's `SATURATE_CAST_SHORT`: round half away from zero, saturate to int16.
fn saturate_short(x: f32) -> i16 {
    let r = (x + if x >= 0.0 { 0.5 } else { -0.5 }) as i32;
    r.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// Source index and Q11 weights for each destination coordinate.
fn axis_table(src: usize, dst: usize) -> Result<Vec<(usize, i16, i16)>> {
    let scale = src as f64 / dst as f64;
    alloc::collect((0..dst).map(|d| {
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
    }))
}

/// Resizes an interleaved `channels`-channel u8 image of `sw`×`sh` to `dw`×`dh`. A target too
/// large for the memory is an error, not an abort.
pub fn resize_bilinear(src: &[u8], sw: usize, sh: usize, channels: usize, dw: usize, dh: usize) -> Result<Vec<u8>> {
    assert_eq!(src.len(), sw * sh * channels);
    alloc::count(&[dw, dh, channels])?;
    // The channel count as a constant: the per-pixel loops unroll and lose their bounds checks.
    match channels {
        1 => resize::<1>(src, sw, sh, dw, dh),
        2 => resize::<2>(src, sw, sh, dw, dh),
        3 => resize::<3>(src, sw, sh, dw, dh),
        4 => resize::<4>(src, sw, sh, dw, dh),
        _ => resize_any(src, sw, sh, channels, dw, dh),
    }
}

/// One source row resized horizontally into Q(11-4) int16 values.
#[inline(always)]
fn hresize<const C: usize>(row: &[u8], xs: &[(usize, i16, i16)], out: &mut [i16]) {
    let last = row.len() / C - 1;
    for (&(sx, a0, a1), o) in xs.iter().zip(out.chunks_exact_mut(C)) {
        let p0: &[u8; C] = row[sx * C..sx * C + C].try_into().expect("C bytes");
        let sx1 = (sx + 1).min(last);
        let p1: &[u8; C] = row[sx1 * C..sx1 * C + C].try_into().expect("C bytes");
        for c in 0..C {
            let v = i32::from(p0[c]) * i32::from(a0) + i32::from(p1[c]) * i32::from(a1);
            o[c] = (v >> 4) as i16;
        }
    }
}

/// The vertical pass of one output row.
#[inline(always)]
fn vresize(rows0: &[i16], rows1: &[i16], b0: i16, b1: i16, out: &mut [u8]) {
    for ((o, &r0), &r1) in out.iter_mut().zip(rows0).zip(rows1) {
        let t0 = ((i32::from(b0) * i32::from(r0)) >> 16) as i16;
        let t1 = ((i32::from(b1) * i32::from(r1)) >> 16) as i16;
        *o = ((i32::from(t0) + i32::from(t1) + 2) >> 2).clamp(0, 255) as u8;
    }
}

fn resize<const C: usize>(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Result<Vec<u8>> {
    let xs = axis_table(sw, dw)?;
    let ys = axis_table(sh, dh)?;
    let row_len = dw * C;
    let src_row = |y: usize| &src[y * sw * C..(y + 1) * sw * C];
    let mut rows0 = alloc::zeroed::<i16>(row_len)?;
    let mut rows1 = alloc::zeroed::<i16>(row_len)?;
    let mut prev: Option<usize> = None;
    let mut dst = alloc::zeroed::<u8>(dw * dh * C)?;
    for (&(sy, b0, b1), out) in ys.iter().zip(dst.chunks_exact_mut(row_len)) {
        let sy1 = (sy + 1).min(sh - 1);
        match prev {
            Some(p) if p == sy => {}
            Some(p) if p + 1 == sy => {
                std::mem::swap(&mut rows0, &mut rows1);
                hresize::<C>(src_row(sy1), &xs, &mut rows1);
            }
            _ => {
                hresize::<C>(src_row(sy), &xs, &mut rows0);
                hresize::<C>(src_row(sy1), &xs, &mut rows1);
            }
        }
        prev = Some(sy);
        vresize(&rows0, &rows1, b0, b1, out);
    }
    Ok(dst)
}

/// Any channel count: each channel resized as a one-channel image, then interleaved again.
fn resize_any(src: &[u8], sw: usize, sh: usize, channels: usize, dw: usize, dh: usize) -> Result<Vec<u8>> {
    let mut dst = alloc::zeroed::<u8>(dw * dh * channels)?;
    for c in 0..channels {
        let plane: Vec<u8> = alloc::collect(src.iter().skip(c).step_by(channels).copied())?;
        for (d, v) in dst.iter_mut().skip(c).step_by(channels).zip(resize::<1>(&plane, sw, sh, dw, dh)?) {
            *d = v;
        }
    }
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_keeps_pixels() {
        let src: Vec<u8> = (0..5 * 4 * 3).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(resize_bilinear(&src, 5, 4, 3, 5, 4).unwrap(), src);
    }

    /// The resize written the plain way, with the channel count at run time.
    fn resize_plain(src: &[u8], sw: usize, sh: usize, ch: usize, dw: usize, dh: usize) -> Vec<u8> {
        let (xs, ys) = (axis_table(sw, dw).unwrap(), axis_table(sh, dh).unwrap());
        let h = |sy: usize| -> Vec<i16> {
            let mut out = vec![0i16; dw * ch];
            for (dx, &(sx, a0, a1)) in xs.iter().enumerate() {
                let sx1 = (sx + 1).min(sw - 1);
                for c in 0..ch {
                    let v = i32::from(src[(sy * sw + sx) * ch + c]) * i32::from(a0)
                        + i32::from(src[(sy * sw + sx1) * ch + c]) * i32::from(a1);
                    out[dx * ch + c] = (v >> 4) as i16;
                }
            }
            out
        };
        let mut dst = Vec::new();
        for &(sy, b0, b1) in &ys {
            let (r0, r1) = (h(sy), h((sy + 1).min(sh - 1)));
            let mut row = vec![0u8; dw * ch];
            vresize(&r0, &r1, b0, b1, &mut row);
            dst.extend(row);
        }
        dst
    }

    #[test]
    fn every_channel_count_matches_the_plain_resize() {
        let mut seed = 12345u32;
        for &(sw, sh, dw, dh) in &[(7, 5, 13, 9), (500, 375, 227, 227), (2, 3, 5, 7), (33, 17, 16, 31), (1, 1, 3, 2)] {
            for ch in 1..=5 {
                let src: Vec<u8> = (0..sw * sh * ch)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        (seed >> 24) as u8
                    })
                    .collect();
                assert_eq!(
                    resize_bilinear(&src, sw, sh, ch, dw, dh).unwrap(),
                    resize_plain(&src, sw, sh, ch, dw, dh),
                    "{sw}x{sh} -> {dw}x{dh}, {ch} channels"
                );
            }
        }
    }

    #[test]
    fn flat_image_stays_flat_and_sizes_are_right() {
        let src = vec![200u8; 7 * 3];
        let out = resize_bilinear(&src, 7, 3, 1, 13, 9).unwrap();
        assert_eq!(out.len(), 13 * 9);
        assert!(out.iter().all(|&v| v == 200));
        let one = resize_bilinear(&[9u8, 8, 7], 1, 1, 3, 4, 2).unwrap();
        assert_eq!(one, [9, 8, 7].repeat(8));
    }
}
