//! Every path against the reference, on lengths around the block and lane sizes, with zeros,
//! negative zeros, NaN, infinities, subnormals and values at the top of the range.

use super::reference::bin_index;
use super::*;
use crate::kernels::dispatch;
use crate::kernels::testutil::Rng;

fn data(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.below(12) {
            0..=3 => 0.0,
            4 => -0.0,
            5 => f32::from_bits(rng.below(1 << 23) as u32), // subnormal
            6 => 8.0 * rng.f32().signum(),                  // exactly the range end
            _ => rng.f32() * 8.0,
        })
        .collect()
}

#[test]
fn absmax_paths_match_reference() {
    let mut rng = Rng::new(5);
    for n in [0, 1, 15, 16, 17, 100, 511, 512, 513, 1000, 4099] {
        let mut x = data(&mut rng, n);
        for path in dispatch::F32.available() {
            assert_eq!(absmax(path, &x), reference::absmax(&x), "{path:?} n={n}");
        }
        if n > 3 {
            x[n / 2] = f32::NAN;
            x[n - 1] = f32::NEG_INFINITY;
            x[1] = 1e30;
            for path in dispatch::F32.available() {
                let got = absmax(path, &x);
                assert_eq!(got, reference::absmax(&x), "{path:?} n={n} with non-finite");
                assert_eq!(got, (1e30, 2));
            }
        }
    }
}

#[test]
fn bin_paths_match_reference() {
    let mut rng = Rng::new(9);
    for bins in [1usize, 7, 2048, 1 << 16] {
        let scale = bins as f32 / 8.0;
        for n in [0, 1, 15, 16, 17, 100, 511, 512, 513, 1000, 4099] {
            let mut x = data(&mut rng, n);
            if n > 10 {
                x[3] = f32::NAN;
                x[7] = f32::INFINITY;
                x[9] = 9.5; // beyond the range: clamped
            }
            let mut want = vec![0u32; bins + SPARE];
            reference::bin_nonzero(&x, scale, &mut want, bins);
            let nonzero = x.iter().filter(|v| **v != 0.0).count() as u32;
            assert_eq!(want[..bins].iter().sum::<u32>(), nonzero);
            for path in dispatch::F32.available() {
                let mut got = vec![0u32; bins + SPARE];
                bin_nonzero(path, &x, scale, &mut got);
                bin_nonzero(path, &x, scale, &mut got);
                let twice: Vec<u32> = want[..bins].iter().map(|c| 2 * c).collect();
                assert_eq!(&got[..bins], &twice[..], "{path:?} bins={bins} n={n}");
            }
        }
    }
}

#[test]
fn bin_index_truncates_and_clamps() {
    assert_eq!(bin_index(0.0, 256.0, 2048), 0);
    assert_eq!(bin_index(-1.0 / 256.0, 256.0, 2048), 1);
    assert_eq!(bin_index(0.999 / 256.0, 256.0, 2048), 0);
    assert_eq!(bin_index(8.0, 256.0, 2048), 2047);
    assert_eq!(bin_index(f32::NAN, 256.0, 2048), 2047);
    assert_eq!(bin_index(f32::INFINITY, 256.0, 2048), 2047);
}
