//! Every path against the reference on odd plane sizes, both strides and several kernels.

use super::*;
use crate::kernels::dispatch;
use crate::kernels::testutil::{assert_reassociated, Rng};

#[test]
fn depthwise_paths_match_reference() {
    let mut rng = Rng::new(21);
    let geos =
        [(3, 1, 1), (3, 1, 2), (5, 1, 1), (5, 1, 2), (3, 2, 1), (3, 2, 2), (1, 1, 1), (7, 1, 2), (2, 3, 1), (3, 1, 3)];
    let sizes =
        [(1, 1), (3, 3), (5, 4), (7, 7), (9, 7), (14, 14), (16, 16), (17, 9), (28, 28), (33, 2), (40, 41), (67, 13)];
    for path in dispatch::F32.available() {
        for &(k, d, s) in &geos {
            for &(w, h) in &sizes {
                let ext = d * (k - 1) + 1;
                let (pw, ph) = (w + ext - 1, h + ext - 1);
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
                let x = rng.vec(pw * ph * c);
                let wt = rng.vec(k * k * c);
                let bias = rng.vec(c);
                for act in [Activation::Identity, Activation::Relu, Activation::Clip(-0.2, 0.3), Activation::Mish] {
                    let mut got = vec![f32::NAN; p.ow * p.oh * c];
                    depthwise(path, &p, c, &x, &wt, Some(&bias), act, &mut got);
                    let mut want = vec![0.0; p.ow * p.oh * c];
                    depthwise(dispatch::F32.reference(), &p, c, &x, &wt, Some(&bias), act, &mut want);
                    // Magnitude: the same convolution on absolute values.
                    let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
                    let mut mag = vec![0.0; p.ow * p.oh * c];
                    depthwise(
                        dispatch::F32.reference(),
                        &p,
                        c,
                        &abs(&x),
                        &abs(&wt),
                        Some(&abs(&bias)),
                        Activation::Identity,
                        &mut mag,
                    );
                    let what = format!("{path:?} k={k} d={d} s={s} {w}x{h} c={c} {act:?}");
                    assert_reassociated(&got, &want, &mag, k * k, &what);
                }
            }
        }
    }
}
