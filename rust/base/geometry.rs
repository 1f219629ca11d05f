//! Convolution geometry as ncnn's conv-like layers define it: kernel, dilation, stride, explicit
//! or SAME padding with a pad value, and the output size they give. Layers read it from params
//! (`layers::conv_params`); kernels and calibration compute with it, so it lives at the ground.

use super::alloc;
use super::parallel;
use crate::error::Result;
use std::borrow::Cow;
use std::mem::MaybeUninit;

/// Kernel geometry shared by the convolution family.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub stride: (usize, usize),
    /// left, right, top, bottom; -233 / -234 mean `SAME_UPPER` / `SAME_LOWER`.
    pub pads: [i32; 4],
    pub pad_value: f32,
}

/// Padding resolved for one input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    pub left: usize,
    pub right: usize,
    pub top: usize,
    pub bottom: usize,
}

impl Geometry {
    pub fn extent(&self) -> (usize, usize) {
        (self.dilation.0 * (self.kernel.0 - 1) + 1, self.dilation.1 * (self.kernel.1 - 1) + 1)
    }

    /// ncnn's `make_padding`: explicit pads if any is positive, else the SAME rules.
    pub fn padding(&self, w: usize, h: usize) -> Padding {
        let [l, r, t, b] = self.pads;
        if l > 0 || r > 0 || t > 0 || b > 0 {
            let z = |v: i32| v.max(0) as usize;
            return Padding { left: z(l), right: z(r), top: z(t), bottom: z(b) };
        }
        let same = |lower: bool| {
            let (ew, eh) = self.extent();
            let wpad = (ew + (w.max(1) - 1) / self.stride.0 * self.stride.0).saturating_sub(w);
            let hpad = (eh + (h.max(1) - 1) / self.stride.1 * self.stride.1).saturating_sub(h);
            if lower {
                Padding { left: wpad - wpad / 2, right: wpad / 2, top: hpad - hpad / 2, bottom: hpad / 2 }
            } else {
                Padding { left: wpad / 2, right: wpad - wpad / 2, top: hpad / 2, bottom: hpad - hpad / 2 }
            }
        };
        if self.pads.iter().all(|&p| p == -233) {
            same(false)
        } else if self.pads.iter().all(|&p| p == -234) {
            same(true)
        } else {
            Padding { left: 0, right: 0, top: 0, bottom: 0 }
        }
    }

    /// Output (w, h) for an input of (w, h), or None when the kernel does not fit.
    pub fn output_size(&self, w: usize, h: usize) -> Option<(usize, usize, Padding)> {
        let pad = self.padding(w, h);
        let (ew, eh) = self.extent();
        let pw = w + pad.left + pad.right;
        let ph = h + pad.top + pad.bottom;
        if pw < ew || ph < eh {
            return None;
        }
        Some(((pw - ew) / self.stride.0 + 1, (ph - eh) / self.stride.1 + 1, pad))
    }

    /// The input with the padding applied (borrowed when there is none).
    pub fn pad_input<'a>(
        &self,
        src: &'a [f32],
        w: usize,
        h: usize,
        c: usize,
        pad: Padding,
    ) -> Result<(Cow<'a, [f32]>, usize, usize)> {
        if pad == (Padding { left: 0, right: 0, top: 0, bottom: 0 }) {
            return Ok((Cow::Borrowed(src), w, h));
        }
        let pw = w + pad.left + pad.right;
        let ph = h + pad.top + pad.bottom;
        // Each element written once (the border's and the rows'), no fill of the whole buffer
        // first: on large maps that pass cost as much as the copy.
        let (len, value) = (pw * ph * c, self.pad_value);
        let mut out: Vec<f32> = alloc::with_capacity(len)?;
        let fill = |ch: usize, dst: &mut [MaybeUninit<f32>]| {
            let (top, bottom) = (pad.top * pw, (pad.top + h) * pw);
            fill_value(&mut dst[..top], value);
            fill_value(&mut dst[bottom..], value);
            for (y, row) in dst[top..bottom].chunks_exact_mut(pw).enumerate() {
                let s = &src[(ch * h + y) * w..(ch * h + y + 1) * w];
                fill_value(&mut row[..pad.left], value);
                for (d, &v) in row[pad.left..pad.left + w].iter_mut().zip(s) {
                    d.write(v);
                }
                fill_value(&mut row[pad.left + w..], value);
            }
        };
        parallel::for_each_chunk(
            &mut out.spare_capacity_mut()[..len],
            pw * ph,
            parallel::min_chunks(pw * ph, 1 << 15),
            fill,
        );
        // SAFETY: `fill` wrote every element of every channel's plane: the pad rows above and
        // below, and each row's left pad, values and right pad.
        unsafe { out.set_len(len) };
        Ok((Cow::Owned(out), pw, ph))
    }
}

fn fill_value(dst: &mut [MaybeUninit<f32>], value: f32) {
    for d in dst {
        d.write(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_input_places_each_value_and_fills_the_border() {
        let geo = Geometry { kernel: (3, 3), dilation: (1, 1), stride: (1, 1), pads: [0; 4], pad_value: -1.5 };
        for &(w, h, c) in &[(1, 1, 1), (5, 3, 2), (7, 9, 3), (33, 2, 5), (200, 180, 2)] {
            for pad in [
                Padding { left: 1, right: 1, top: 1, bottom: 1 },
                Padding { left: 0, right: 2, top: 3, bottom: 0 },
                Padding { left: 2, right: 0, top: 0, bottom: 1 },
            ] {
                let src: Vec<f32> = (0..w * h * c).map(|i| i as f32).collect();
                let (out, pw, ph) = geo.pad_input(&src, w, h, c, pad).unwrap();
                assert_eq!((pw, ph), (w + pad.left + pad.right, h + pad.top + pad.bottom));
                for ch in 0..c {
                    for y in 0..ph {
                        for x in 0..pw {
                            let inside = (pad.left..pad.left + w).contains(&x) && (pad.top..pad.top + h).contains(&y);
                            let want =
                                if inside { src[(ch * h + y - pad.top) * w + x - pad.left] } else { geo.pad_value };
                            assert_eq!(out[(ch * ph + y) * pw + x], want, "{w}x{h}x{c} {pad:?} at {ch},{y},{x}");
                        }
                    }
                }
            }
        }
    }
}
