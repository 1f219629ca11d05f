//! Max pooling of int8 planes, for blobs an int8 chain keeps quantized (`engine::int8_chain`):
//! `q(x) = clamp(round(x·s), ±127)` is monotone, so the max of quantized values is the quantized
//! float max, and padding (`-FLT_MAX` in float, whose `q` is −127) is −127, which never exceeds a
//! quantized value. Every order of the max gives the same bits; the row body only has the order
//! that vectorizes (a vertical pass over whole input rows, then a horizontal one at the stride).

use super::window::Window;
use crate::base::parallel;
use crate::kernels::dispatch::I8Path;

pub use super::int8_rows::plane_reference;

pub use super::int8_rows::PAD;

/// Elements per parallel job: small blobs stay on one thread.
const PAR_MIN: usize = 1 << 16;

/// Pools each `w`×`h` plane of `input` into `ow`×`oh` planes of `out` (max; `win.counted` unused).
pub fn max_pool(path: I8Path, win: &Window, channels: usize, input: &[i8], out: &mut [i8]) {
    let Some((plane_in, plane_out)) = win.planes(channels, input.len(), out.len()) else {
        return;
    };
    let plane = path.kernels().max_pool;
    let run = |row: &mut Vec<i8>, c: usize, o: &mut [i8]| {
        let x = &input[c * plane_in..(c + 1) * plane_in];
        // SAFETY: dispatch hands out only paths this CPU runs.
        unsafe { plane(win, x, o, row) }
    };
    parallel::for_each_chunk_with(out, plane_out, parallel::min_chunks(plane_in + plane_out, PAR_MIN), run);
}

/// Each plane of `plane` elements reduced to its max (−127 for an empty plane, as padding).
pub fn global_max(plane: usize, input: &[i8], out: &mut [i8]) {
    let channels = out.len();
    assert!(input.len() >= plane * channels);
    parallel::for_each_chunk(out, 1, parallel::min_chunks(plane, PAR_MIN), |c, o| {
        o[0] = input[c * plane..(c + 1) * plane].iter().copied().fold(PAD, i8::max);
    });
}
