//! Convolution geometry as ncnn's conv-like layers define it: kernel, dilation, stride, explicit
//! or SAME padding with a pad value, and the output size they give. Layers read it from params
//! (`layers::conv_params`); kernels and calibration compute with it, so it lives at the ground.

use super::parallel;
use std::borrow::Cow;

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
    ) -> (Cow<'a, [f32]>, usize, usize) {
        if pad == (Padding { left: 0, right: 0, top: 0, bottom: 0 }) {
            return (Cow::Borrowed(src), w, h);
        }
        let pw = w + pad.left + pad.right;
        let ph = h + pad.top + pad.bottom;
        let mut out = vec![self.pad_value; pw * ph * c];
        let fill = |ch: usize, dst: &mut [f32]| {
            for y in 0..h {
                let s = &src[(ch * h + y) * w..(ch * h + y + 1) * w];
                let d0 = (y + pad.top) * pw + pad.left;
                dst[d0..d0 + w].copy_from_slice(s);
            }
        };
        parallel::for_each_chunk(&mut out, pw * ph, parallel::min_chunks(pw * ph, 1 << 15), fill);
        (Cow::Owned(out), pw, ph)
    }
}
