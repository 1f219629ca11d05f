//! Every path against the reference (bit-exact), and the reference against the formula in f64.

use super::*;
use crate::kernels::dispatch::{self, F32Path};
use crate::kernels::testutil::Rng;

fn run(path: F32Path, p: &Across, x: &[f32], size: usize) -> Vec<f32> {
    let squares: Vec<f32> = x.iter().map(|v| v * v).collect();
    let mut out = x.to_vec();
    across(path, p, &squares, size, &mut out);
    out
}

#[test]
fn lrn_paths_match_reference_and_formula() {
    let mut rng = Rng::new(9);
    for &(channels, size) in &[(1, 1), (2, 7), (5, 17), (9, 33), (4, 100), (7, 3)] {
        for &(before, after) in &[(2, 2), (1, 2), (0, 0), (3, 1)] {
            for &beta in &[0.75f32, 0.6] {
                let p = Across { before, after, alpha_div: 0.7 / 5.0, beta, bias: 1.5 };
                let x: Vec<f32> = rng.vec(channels * size).iter().map(|v| v * 3.0).collect();
                let want = run(dispatch::F32.reference(), &p, &x, size);
                for (i, &w) in want.iter().enumerate() {
                    let (q, j) = (i / size, i % size);
                    let lo = q.saturating_sub(before);
                    let hi = (q + after).min(channels - 1);
                    let ss: f64 = (lo..=hi).map(|c| f64::from(x[c * size + j]).powi(2)).sum();
                    let exact =
                        f64::from(x[i]) * (f64::from(p.bias) + f64::from(p.alpha_div) * ss).powf(-f64::from(beta));
                    assert!((f64::from(w) - exact).abs() <= 4e-7 * exact.abs() + 1e-30, "{w} vs {exact}");
                }
                for path in dispatch::F32.available() {
                    let got = run(path, &p, &x, size);
                    assert_eq!(
                        got, want,
                        "{path:?} channels={channels} size={size} window={before},{after} beta={beta}"
                    );
                }
            }
        }
    }
}

#[test]
fn lrn_splits_channels_across_threads() {
    let pool = crate::base::parallel::Pool::new(3).expect("pool");
    let mut rng = Rng::new(2);
    let (channels, size) = (37, 3000);
    let p = Across { before: 2, after: 2, alpha_div: 1e-4 / 5.0, beta: 0.75, bias: 1.0 };
    let x = rng.vec(channels * size);
    let want = run(dispatch::F32.reference(), &p, &x, size);
    let got = pool.install(|| run(dispatch::F32.selected(), &p, &x, size));
    assert_eq!(got, want);
}
