//! Portable pooling, element by element: the truth the SIMD paths are tested against.

use super::window::{pad_value, Method, Window};

#[inline(always)]
pub(crate) fn op(method: Method, a: f32, b: f32) -> f32 {
    match method {
        Method::Max => a.max(b),
        Method::Avg => a + b,
    }
}

/// One channel: each window reduced column by column (each column top to bottom), padding
/// standing for `-FLT_MAX` (max) or 0 (average), as ncnn pads its bordered copy.
pub fn plane(method: Method, win: &Window, x: &[f32], out: &mut [f32]) {
    let (kw, kh) = win.kernel;
    let (sw, sh) = win.stride;
    let pad = pad_value(method);
    let at = |px: usize, py: usize| win.at(x, px, py, pad);
    for oy in 0..win.oh {
        for ox in 0..win.ow {
            let (x0, y0) = (ox * sw, oy * sh);
            let column = |kx: usize| (1..kh).fold(at(x0 + kx, y0), |a, ky| op(method, a, at(x0 + kx, y0 + ky)));
            let acc = (1..kw).fold(column(0), |a, kx| op(method, a, column(kx)));
            out[oy * win.ow + ox] = match (method, win.counted) {
                (Method::Max, _) => acc,
                (Method::Avg, None) => acc / (kw * kh) as f32,
                (Method::Avg, Some([cx0, cx1, cy0, cy1])) => {
                    // A window wholly outside the counted area divides by 0, as ncnn does.
                    let counted = |a: usize, lo: usize, hi: usize| a >= lo && a < hi;
                    let area = (0..kh)
                        .flat_map(|ky| (0..kw).map(move |kx| (x0 + kx, y0 + ky)))
                        .filter(|&(px, py)| counted(px, cx0, cx1) && counted(py, cy0, cy1))
                        .count();
                    acc / area as f32
                }
            };
        }
    }
}

/// Max or mean of a whole plane, in order.
pub fn global(method: Method, x: &[f32]) -> f32 {
    match method {
        Method::Max => x.iter().copied().fold(-f32::MAX, f32::max),
        Method::Avg => x.iter().sum::<f32>() / x.len() as f32,
    }
}
