//! Every path against the reference on odd plane sizes, paddings, strides and both methods.

use super::*;
use crate::kernels::dispatch;
use crate::kernels::testutil::{assert_reassociated, Rng};

fn window(w: usize, h: usize, k: (usize, usize), s: (usize, usize), pads: [usize; 4], counted: bool) -> Window {
    let [l, r, t, b] = pads;
    let (bw, bh) = (w + l + r, h + t + b);
    Window {
        w,
        h,
        left: l,
        top: t,
        kernel: k,
        stride: s,
        ow: (bw - k.0) / s.0 + 1,
        oh: (bh - k.1) / s.1 + 1,
        // The input's own area, as with explicit pads; a window in the right pad counts nothing.
        counted: counted.then_some([l, l + w, t, t + h]),
    }
}

#[test]
fn pooling_paths_match_reference_exactly() {
    let mut rng = Rng::new(5);
    let geos =
        [((3, 3), (2, 2)), ((2, 2), (2, 2)), ((3, 3), (1, 1)), ((5, 3), (3, 2)), ((1, 1), (1, 1)), ((2, 4), (1, 2))];
    // 2x2 stride 2 unpadded on (16, 16) … (224, 3): whole vectors only, a partial last vector,
    // an odd width or height left over, 8 and 16 lanes.
    let sizes = [
        (1, 1),
        (3, 3),
        (5, 4),
        (7, 7),
        (13, 13),
        (16, 16),
        (17, 9),
        (31, 2),
        (33, 35),
        (56, 56),
        (113, 7),
        (150, 5),
        (224, 3),
        (70, 4),
    ];
    let pads = [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [2, 0, 1, 3]];
    for path in dispatch::F32.available() {
        for &(k, s) in &geos {
            for &(w, h) in &sizes {
                for pad in pads {
                    // Pads as wide as the kernel make windows wholly in the padding: kept on purpose.
                    if w + pad[0] + pad[1] < k.0 || h + pad[2] + pad[3] < k.1 {
                        continue;
                    }
                    let c = 1 + rng.below(4);
                    let x = rng.vec(w * h * c);
                    for (method, counted) in [(Method::Max, false), (Method::Avg, false), (Method::Avg, true)] {
                        let win = window(w, h, k, s, pad, counted);
                        let n = win.ow * win.oh * c;
                        let mut got = vec![f32::NAN; n];
                        pool(path, method, &win, c, &x, &mut got);
                        let mut want = vec![f32::NAN; n];
                        pool(dispatch::F32.reference(), method, &win, c, &x, &mut want);
                        let what = format!("{path:?} {method:?} counted={counted} k={k:?} s={s:?} {w}x{h} pad={pad:?}");
                        for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                            assert!(g == r || g.is_nan() && r.is_nan(), "{what}: element {i}: got {g}, reference {r}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn pooling_pads_lose_max_and_count_in_average() {
    // 2x2 input, 3x3 window with 1 pad all round: one output per corner region.
    let x = [1.0, -2.0, -3.0, -4.0];
    for path in dispatch::F32.available() {
        let mut out = [0.0; 4];
        pool(path, Method::Max, &window(2, 2, (3, 3), (1, 1), [1, 1, 1, 1], false), 1, &x, &mut out);
        assert_eq!(out, [1.0; 4], "{path:?}");
        let mut out = [0.0; 4];
        pool(path, Method::Avg, &window(2, 2, (3, 3), (1, 1), [1, 1, 1, 1], false), 1, &x, &mut out);
        assert_eq!(out, [-8.0 / 9.0; 4], "{path:?}");
        pool(path, Method::Avg, &window(2, 2, (3, 3), (1, 1), [1, 1, 1, 1], true), 1, &x, &mut out);
        assert_eq!(out, [-2.0; 4], "{path:?}");
    }
}

#[test]
fn global_paths_match_reference() {
    let mut rng = Rng::new(9);
    for path in dispatch::F32.available() {
        for plane in [1, 3, 7, 8, 15, 16, 49, 63, 64, 65, 169, 196, 1000] {
            let c = 1 + rng.below(5);
            let x = rng.vec(plane * c);
            let mut got = vec![0.0; c];
            let mut want = vec![0.0; c];
            global(path, Method::Max, plane, &x, &mut got);
            global(dispatch::F32.reference(), Method::Max, plane, &x, &mut want);
            assert_eq!(got, want, "{path:?} max plane={plane}");
            global(path, Method::Avg, plane, &x, &mut got);
            global(dispatch::F32.reference(), Method::Avg, plane, &x, &mut want);
            let abs: Vec<f32> = x.iter().map(|v| v.abs()).collect();
            let mut mag = vec![0.0; c];
            global(dispatch::F32.reference(), Method::Avg, plane, &abs, &mut mag);
            assert_reassociated(&got, &want, &mag, plane, &format!("{path:?} avg plane={plane}"));
        }
    }
}

#[test]
fn whole_plane_windows_are_global_pooling() {
    // One window covering the plane, with and without padding (counted or not), kernels as large as
    // the padded plane or one short of it at stride 2: the global path gives the reference's value
    // (max exactly, average up to reassociation) wherever `is_whole_plane` takes the window.
    let mut rng = Rng::new(13);
    let sizes = [(1, 1), (3, 3), (5, 4), (7, 7), (13, 13), (16, 16), (17, 9), (31, 2), (14, 14)];
    let pads = [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [2, 0, 1, 3]];
    let mut taken = [0usize; 2];
    for path in dispatch::F32.available() {
        for &(w, h) in &sizes {
            for pad in pads {
                let (bw, bh) = (w + pad[0] + pad[1], h + pad[2] + pad[3]);
                for short in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let k = (bw - short.0, bh - short.1);
                    if k.0 == 0 || k.1 == 0 {
                        continue;
                    }
                    let c = 1 + rng.below(4);
                    let x = rng.vec(w * h * c);
                    for (method, counted) in [(Method::Max, false), (Method::Avg, false), (Method::Avg, true)] {
                        let win = window(w, h, k, (2, 2), pad, counted);
                        assert_eq!((win.ow, win.oh), (1, 1));
                        let covers = k.0 >= pad[0] + w && k.1 >= pad[2] + h;
                        // Counting the padding (or a kernel larger than the plane) divides by more than the plane.
                        let whole = covers && (method == Method::Max || counted || k == (w, h));
                        let what = format!("{path:?} {method:?} counted={counted} k={k:?} {w}x{h} pad={pad:?}");
                        assert_eq!(is_whole_plane(method, &win), whole, "{what}");
                        if !whole {
                            continue;
                        }
                        taken[usize::from(method == Method::Avg)] += 1;
                        let mut got = vec![f32::NAN; c];
                        global(path, method, w * h, &x, &mut got);
                        let mut want = vec![f32::NAN; c];
                        pool(dispatch::F32.reference(), method, &win, c, &x, &mut want);
                        if method == Method::Max {
                            assert_eq!(got, want, "{what}");
                        } else {
                            let abs: Vec<f32> = x.iter().map(|v| v.abs()).collect();
                            let mut mag = vec![0.0; c];
                            pool(dispatch::F32.reference(), method, &win, c, &abs, &mut mag);
                            assert_reassociated(&got, &want, &mag, w * h, &what);
                        }
                    }
                }
            }
        }
    }
    assert!(taken[0] > 0 && taken[1] > 0, "both methods reach the global path: {taken:?}");
}

/// int8 max pooling of quantized values against float max pooling quantized after
/// (`max q(x) = q(max x)`, padding −127 = `q(-FLT_MAX)`), on every int8 path (the reference
/// included), on odd sizes, strides 1–3, pads including windows wholly in the padding, rows longer and
/// shorter than a vector.
#[test]
fn int8_max_pooling_is_float_max_pooling_quantized() {
    use crate::kernels::gemm_i8::epilogue::float2int8;
    let mut rng = Rng::new(21);
    let geos =
        [((3, 3), (2, 2)), ((2, 2), (2, 2)), ((3, 3), (1, 1)), ((5, 3), (3, 2)), ((1, 1), (1, 1)), ((2, 4), (1, 2))];
    let sizes =
        [(1, 1), (3, 3), (5, 4), (7, 7), (13, 13), (16, 16), (17, 9), (31, 2), (33, 35), (56, 56), (113, 7), (70, 4)];
    let pads = [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [2, 0, 1, 3], [3, 3, 0, 4]];
    let s = 37.5;
    let mut all_pad = 0;
    for &(k, st) in &geos {
        for &(w, h) in &sizes {
            for pad in pads {
                if w + pad[0] + pad[1] < k.0 || h + pad[2] + pad[3] < k.1 {
                    continue;
                }
                let c = 1 + rng.below(3);
                // Values past ±127/s as well: clamped ones tie.
                let x: Vec<f32> = rng.vec(w * h * c).iter().map(|v| v * 5.0).collect();
                let q: Vec<i8> = x.iter().map(|&v| float2int8(v * s)).collect();
                let win = window(w, h, k, st, pad, false);
                let n = win.ow * win.oh * c;
                let mut float = vec![0.0; n];
                pool(dispatch::F32.reference(), Method::Max, &win, c, &x, &mut float);
                let want: Vec<i8> = float.iter().map(|&v| float2int8(v * s)).collect();
                all_pad += float.iter().filter(|&&v| v == -f32::MAX).count();
                for path in dispatch::I8.available() {
                    let mut got = vec![0i8; n];
                    int8::max_pool(path, &win, c, &q, &mut got);
                    assert_eq!(got, want, "{path:?} k={k:?} s={st:?} {w}x{h} pad={pad:?}");
                }
            }
        }
    }
    assert!(all_pad > 0, "some windows lie wholly in the padding");
}

#[test]
fn int8_global_max_is_float_global_max_quantized() {
    use crate::kernels::gemm_i8::epilogue::float2int8;
    let mut rng = Rng::new(23);
    for plane in [1, 3, 7, 16, 49, 65, 196] {
        let c = 1 + rng.below(5);
        let x = rng.vec(plane * c);
        let q: Vec<i8> = x.iter().map(|&v| float2int8(v * 90.0)).collect();
        let mut float = vec![0.0; c];
        global(dispatch::F32.reference(), Method::Max, plane, &x, &mut float);
        let mut got = vec![0i8; c];
        int8::global_max(plane, &q, &mut got);
        assert_eq!(got, float.iter().map(|&v| float2int8(v * 90.0)).collect::<Vec<_>>(), "plane={plane}");
    }
}
