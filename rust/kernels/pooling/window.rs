//! What a pooling kernel reads: the method, one channel's window geometry and the value padding
//! stands for.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Max,
    Avg,
}

/// The value padding stands for: it never wins a max and adds nothing to a sum.
pub(crate) fn pad_value(method: Method) -> f32 {
    match method {
        Method::Max => -f32::MAX,
        Method::Avg => 0.0,
    }
}

/// One channel's pooling geometry in the coordinates of the padded plane (the input placed at
/// (left, top)). Windows start at multiples of the stride and stay inside the padded plane.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Input plane.
    pub w: usize,
    pub h: usize,
    pub left: usize,
    pub top: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub ow: usize,
    pub oh: usize,
    /// Average pooling divides by the window's overlap with this rectangle of padded coordinates
    /// `[x0, x1, y0, y1]` (ncnn's `count_include_pad=0`); None divides by kw·kh.
    pub counted: Option<[usize; 4]>,
}

impl Window {
    /// The value at padded coordinates (`px`, `py`) of the plane `x`: `pad` outside the input.
    pub(crate) fn at<T: Copy>(&self, x: &[T], px: usize, py: usize, pad: T) -> T {
        let inside = px >= self.left && px < self.left + self.w && py >= self.top && py < self.top + self.h;
        if inside {
            x[(py - self.top) * self.w + (px - self.left)]
        } else {
            pad
        }
    }

    /// The (input, output) plane sizes after checking that `channels` planes fit `input` and
    /// fill `out` and that the window moves; None when there is nothing to pool.
    pub(crate) fn planes(&self, channels: usize, input: usize, out: usize) -> Option<(usize, usize)> {
        let (plane_in, plane_out) = (self.w * self.h, self.ow * self.oh);
        assert!(input >= plane_in * channels && out == plane_out * channels);
        let (kw, kh) = self.kernel;
        assert!(kw > 0 && kh > 0 && self.stride.0 > 0 && self.stride.1 > 0);
        (plane_out != 0 && channels != 0).then_some((plane_in, plane_out))
    }

    /// Width of the padded row the horizontal pass reads: every window, and the whole input.
    pub(crate) fn span(&self) -> usize {
        (self.ow.saturating_sub(1) * self.stride.0 + self.kernel.0).max(self.left + self.w)
    }

    /// Average pooling's divisor factors per output column and per output row (an output's
    /// divisor is their product, exact in f32 for any real kernel size).
    pub(crate) fn divisors(&self) -> (Vec<f32>, Vec<f32>) {
        let overlap = |a: usize, k: usize, lo: usize, hi: usize| ((a + k).min(hi).saturating_sub(a.max(lo))) as f32;
        let (kw, kh) = self.kernel;
        let [x0, x1, y0, y1] = self.counted.unwrap_or([0, usize::MAX / 2, 0, usize::MAX / 2]);
        let cols = (0..self.ow).map(|ox| overlap(ox * self.stride.0, kw, x0, x1)).collect();
        let rows = (0..self.oh).map(|oy| overlap(oy * self.stride.1, kh, y0, y1)).collect();
        (cols, rows)
    }
}
