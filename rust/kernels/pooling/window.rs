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
