//! 2-D max and average pooling of channel planes, and global pooling. The SIMD bodies reduce a
//! window's rows first (a vertical pass over whole input rows into a padded row buffer) and then
//! its columns (a horizontal pass at the stride), so both passes read contiguous memory. The
//! reference reduces in that same order (each column of the window, then the columns), so the
//! windowed paths are bit-exact; global average sums in lanes and is exact up to reassociation.

pub mod int8;
pub(crate) mod int8_rows;
pub mod reference;
#[cfg(test)]
mod tests;
pub(crate) mod vector;
pub mod window;

pub use window::{Method, Window};

use super::dispatch::F32Path;
use crate::base::parallel;

/// Elements per parallel job: small blobs stay on one thread.
const PAR_MIN: usize = 1 << 14;

/// Pools each `w`×`h` plane of `input` into `ow`×`oh` planes of `out`.
pub fn pool(path: F32Path, method: Method, win: &Window, channels: usize, input: &[f32], out: &mut [f32]) {
    let Some((plane_in, plane_out)) = win.planes(channels, input.len(), out.len()) else {
        return;
    };
    let plane = path.kernels().pooling.plane;
    let divisors = (method == Method::Avg).then(|| win.divisors());
    let div = divisors.as_ref().map(|(c, r)| (c.as_slice(), r.as_slice()));
    let run = |row: &mut Vec<f32>, c: usize, o: &mut [f32]| {
        let x = &input[c * plane_in..(c + 1) * plane_in];
        // SAFETY: dispatch hands out only paths this CPU runs.
        unsafe { plane(method, win, div, x, o, row) }
    };
    parallel::for_each_chunk_with(out, plane_out, parallel::min_chunks(plane_in + plane_out, PAR_MIN), run);
}

/// Whether `win` is one window over the whole plane whose result is the plane's global max or
/// mean, so [`global`] can compute it: padding loses every max, and the average's divisor (kw·kh,
/// or the window's overlap with the counted area) is the plane's size. googlenet's `pool5/7x7_s1`
/// (average, 7×7 kernel on 7×7 maps) took 0.02–0.03 ms on the windowed path, ncnn 0.004 ms.
pub fn is_whole_plane(method: Method, win: &Window) -> bool {
    let covers = win.ow == 1
        && win.oh == 1
        && win.w * win.h > 0
        && win.kernel.0 >= win.left + win.w
        && win.kernel.1 >= win.top + win.h;
    covers
        && match method {
            Method::Max => true,
            Method::Avg => {
                let (cols, rows) = win.divisors();
                cols[0] * rows[0] == (win.w * win.h) as f32
            }
        }
}

/// Reduces each plane of `plane` elements to one value (max, or mean).
pub fn global(path: F32Path, method: Method, plane: usize, input: &[f32], out: &mut [f32]) {
    let channels = out.len();
    assert!(input.len() >= plane * channels);
    let reduce = path.kernels().pooling.global;
    parallel::for_each_chunk(out, 1, parallel::min_chunks(plane, PAR_MIN), |c, o| {
        let x = &input[c * plane..(c + 1) * plane];
        // SAFETY: as in `pool`.
        o[0] = unsafe { reduce(method, x) };
    });
}
