//! Every path against the reference on odd plane sizes, both strides, several kernels and
//! paddings (each channel padded on the fly).

use super::*;
use crate::kernels::dispatch;
use crate::kernels::testutil::{assert_reassociated, Rng};

/// `depthwise` on path with x (w×h planes) padded by `pad` with `pad_value`, into a fresh output.
#[allow(clippy::too_many_arguments)]
fn run(
    path: F32Path,
    p: &Plane,
    c: usize,
    x: &[f32],
    w: usize,
    h: usize,
    pad: Padding,
    pad_value: f32,
    wt: &[f32],
    bias: &[f32],
    act: Activation,
) -> Vec<f32> {
    let src = Source { data: x, w, h, pad, pad_value };
    let mut out = vec![f32::NAN; p.ow * p.oh * c];
    depthwise(path, p, c, &src, wt, Some(bias), act, &mut out).expect("small planes");
    out
}

#[test]
fn depthwise_paths_match_reference() {
    let mut rng = Rng::new(21);
    let geos: [(usize, usize, usize); 10] =
        [(3, 1, 1), (3, 1, 2), (5, 1, 1), (5, 1, 2), (3, 2, 1), (3, 2, 2), (1, 1, 1), (7, 1, 2), (2, 3, 1), (3, 1, 3)];
    // The last three are planes over SPLIT_FROM_BYTES (stride 2 reads them through split rows),
    // one of them too narrow for a 16-lane vector.
    let sizes: [(usize, usize); 15] = [
        (1, 1),
        (3, 3),
        (5, 4),
        (7, 7),
        (9, 7),
        (14, 14),
        (16, 16),
        (17, 9),
        (28, 28),
        (33, 2),
        (40, 41),
        (67, 13),
        (115, 72),
        (130, 67),
        (9, 950),
    ];
    let pads = [
        Padding { left: 0, right: 0, top: 0, bottom: 0 },
        Padding { left: 1, right: 1, top: 1, bottom: 1 },
        Padding { left: 0, right: 2, top: 1, bottom: 0 },
        Padding { left: 2, right: 1, top: 2, bottom: 3 },
    ];
    for path in dispatch::F32.available() {
        for &(k, d, s) in &geos {
            for &(w, h) in &sizes {
                let ext = d * (k - 1) + 1;
                let pad = pads[rng.below(pads.len())];
                // Inputs at least as large as the kernel extent once padded.
                let (w, h) = (
                    (w + ext - 1).saturating_sub(pad.left + pad.right).max(1),
                    (h + ext - 1).saturating_sub(pad.top + pad.bottom).max(1),
                );
                let (pw, ph) = (w + pad.left + pad.right, h + pad.top + pad.bottom);
                if pw < ext || ph < ext {
                    continue;
                }
                let p = Plane {
                    pw,
                    ph,
                    ow: (pw - ext) / s + 1,
                    oh: (ph - ext) / s + 1,
                    kernel: (k, k),
                    dilation: (d, d),
                    stride: (s, s),
                };
                let c = 1 + rng.below(5);
                let x = rng.vec(w * h * c);
                let wt = rng.vec(k * k * c);
                let bias = rng.vec(c);
                for act in [Activation::Identity, Activation::Relu, Activation::Clip(-0.2, 0.3), Activation::Mish] {
                    let got = run(path, &p, c, &x, w, h, pad, -0.25, &wt, &bias, act);
                    let want = run(dispatch::F32.reference(), &p, c, &x, w, h, pad, -0.25, &wt, &bias, act);
                    // Magnitude: the same convolution on absolute values.
                    let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
                    let mag = run(
                        dispatch::F32.reference(),
                        &p,
                        c,
                        &abs(&x),
                        w,
                        h,
                        pad,
                        0.25,
                        &abs(&wt),
                        &abs(&bias),
                        Activation::Identity,
                    );
                    let what = format!("{path:?} k={k} d={d} s={s} {w}x{h} {pad:?} c={c} {act:?}");
                    assert_reassociated(&got, &want, &mag, k * k, &what);
                }
            }
        }
    }
}

#[test]
fn padding_reaches_the_kernel_and_the_path_runs() {
    // A 1×1 kernel of weight 1 over a padded 2×1 plane returns the padded plane itself.
    let path = dispatch::F32.selected();
    let pad = Padding { left: 1, right: 0, top: 0, bottom: 1 };
    let p = Plane { pw: 3, ph: 2, ow: 3, oh: 2, kernel: (1, 1), dilation: (1, 1), stride: (1, 1) };
    let before = path.calls(F32Call::Depthwise);
    let out = run(path, &p, 2, &[1.0, 2.0, 3.0, 4.0], 2, 1, pad, -0.25, &[1.0, 1.0], &[0.0, 0.0], Activation::Identity);
    assert_eq!(out, vec![-0.25, 1.0, 2.0, -0.25, -0.25, -0.25, -0.25, 3.0, 4.0, -0.25, -0.25, -0.25]);
    assert!(path.calls(F32Call::Depthwise) > before, "the {path} depthwise kernel did not run");
}

#[test]
fn a_kept_border_follows_the_pad_value_and_placement() {
    // The same padded size on one thread, again and again: the border each call's pad value and
    // placement ask for, never the one a previous call left in the thread's plane.
    let p = Plane { pw: 3, ph: 2, ow: 3, oh: 2, kernel: (1, 1), dilation: (1, 1), stride: (1, 1) };
    let x = [1.0, 2.0];
    let one = [1.0];
    let pad_left = Padding { left: 1, right: 0, top: 0, bottom: 1 };
    let pad_right = Padding { left: 0, right: 1, top: 1, bottom: 0 };
    for path in dispatch::F32.available() {
        parallel::serial(|| {
            for (pad, value, want) in [
                (pad_left, -0.25, [-0.25, 1.0, 2.0, -0.25, -0.25, -0.25]),
                (pad_left, 7.0, [7.0, 1.0, 2.0, 7.0, 7.0, 7.0]),
                (pad_right, 7.0, [7.0, 7.0, 7.0, 1.0, 2.0, 7.0]),
                (pad_left, 7.0, [7.0, 1.0, 2.0, 7.0, 7.0, 7.0]),
            ] {
                let got = run(path, &p, 1, &x, 2, 1, pad, value, &one, &[0.0], Activation::Identity);
                assert_eq!(got, want, "{path:?} {pad:?} pad value {value}");
            }
        });
    }
}

#[test]
fn direct_3x3_matches_reference_on_every_width() {
    // 3×3 stride 1 padded by one and stride 2 padded at the left and top (a path's direct kernel,
    // where it has one): widths across the 16-lane column blocks and their edges, heights across
    // the 4-row groups, several pad values.
    let mut rng = Rng::new(5);
    let pad = Padding { left: 1, right: 1, top: 1, bottom: 1 };
    for path in dispatch::F32.available() {
        // Small channel counts on every size; then counts the kernel takes in several groups of
        // channels, the last one shorter.
        let sizes = (1..=35).chain([47, 48, 49, 56, 113]).flat_map(|w| [1, 2, 3, 4, 5, 6, 7, 9, 14].map(|h| (w, h, 0)));
        let many = [(14, 14, 70), (7, 7, 9), (33, 5, 131), (16, 3, 64), (56, 56, 3), (57, 29, 2)];
        for ((w, h, channels), s) in sizes.chain(many).flat_map(|size| [(size, 1), (size, 2)]) {
            // Stride 2: padded by one at the left and top, by 0 to 2 at the right and bottom.
            let pad = if s == 1 { pad } else { Padding { left: 1, right: rng.below(3), top: 1, bottom: rng.below(3) } };
            let (pw, ph) = (w + pad.left + pad.right, h + pad.top + pad.bottom);
            if pw < 3 || ph < 3 {
                continue;
            }
            let (ow, oh) = ((pw - 3) / s + 1, (ph - 3) / s + 1);
            let p = Plane { pw, ph, ow, oh, kernel: (3, 3), dilation: (1, 1), stride: (s, s) };
            let c = if channels > 0 { channels } else { 1 + rng.below(3) };
            let x = rng.vec(w * h * c);
            let wt = rng.vec(9 * c);
            let bias = rng.vec(c);
            let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
            for (value, act) in
                [(0.0, Activation::Relu), (-0.25, Activation::Identity), (0.5, Activation::Clip(-0.2, 0.3))]
            {
                let got = run(path, &p, c, &x, w, h, pad, value, &wt, &bias, act);
                let want = run(dispatch::F32.reference(), &p, c, &x, w, h, pad, value, &wt, &bias, act);
                let mag = run(
                    dispatch::F32.reference(),
                    &p,
                    c,
                    &abs(&x),
                    w,
                    h,
                    pad,
                    value.abs(),
                    &abs(&wt),
                    &abs(&bias),
                    Activation::Identity,
                );
                assert_reassociated(
                    &got,
                    &want,
                    &mag,
                    9,
                    &format!("{path:?} s={s} {w}x{h} c={c} {pad:?} {value} {act:?}"),
                );
            }
        }
    }
}

#[test]
fn in_place_matches_a_new_output() {
    // The same kernel on a copy of each group of channels: bit-identical to `depthwise` into a new
    // output, on every path with a direct kernel, at 1 to 3 threads, with plane sizes whose groups
    // are one channel (56×56), several (14×14, 7×7) and channel counts that leave a shorter last
    // group; activations the kernel applies in registers and one it applies afterwards.
    let mut rng = Rng::new(9);
    let one = Padding { left: 1, right: 1, top: 1, bottom: 1 };
    let shapes = [
        (1, 1, 1),
        (5, 3, 7),
        (7, 7, 97),
        (14, 14, 70),
        (17, 9, 5),
        (28, 28, 67),
        (56, 56, 3),
        (64, 65, 2),
        (113, 7, 3),
    ];
    for path in dispatch::F32.available() {
        for (w, h, c) in shapes {
            let p = Plane { pw: w + 2, ph: h + 2, ow: w, oh: h, kernel: (3, 3), dilation: (1, 1), stride: (1, 1) };
            if !in_place_fits(path, &p, w, h, one) {
                continue;
            }
            let x = rng.vec(w * h * c);
            let wt = rng.vec(9 * c);
            let bias = rng.vec(c);
            for (value, act) in [(0.0, Activation::Clip(0.0, 6.0)), (-0.5, Activation::Sigmoid)] {
                let want = run(path, &p, c, &x, w, h, one, value, &wt, &bias, act);
                for threads in 1..=3 {
                    let pool = crate::base::parallel::Pool::new(threads).expect("pool");
                    let mut got = x.clone();
                    pool.install(|| depthwise_in_place(path, &p, c, (w, h, value), &mut got, &wt, Some(&bias), act))
                        .expect("small planes");
                    let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{path:?} {w}x{h} c={c} pad value {value} {act:?} on {threads} threads");
                }
            }
        }
    }
    // Paths without a direct kernel, and other geometries, do not fit.
    let p = Plane { pw: 9, ph: 9, ow: 7, oh: 7, kernel: (3, 3), dilation: (1, 1), stride: (1, 1) };
    assert!(!in_place_fits(dispatch::F32.reference(), &p, 7, 7, one));
    let s2 = Plane { pw: 9, ph: 9, ow: 4, oh: 4, kernel: (3, 3), dilation: (1, 1), stride: (2, 2) };
    assert!(dispatch::F32.available().iter().all(|&path| !in_place_fits(path, &s2, 7, 7, one)));
}
