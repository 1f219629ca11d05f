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
        // Nothing finite: absmax 0, every value counted.
        let bad: Vec<f32> = (0..n).map(|i| if i % 2 == 0 { f32::NAN } else { -f32::INFINITY }).collect();
        for path in dispatch::F32.available() {
            assert_eq!(absmax(path, &bad), (0.0, n as u64), "{path:?} n={n} all non-finite");
        }
    }
}

/// The split counts `high[i]·256 + low[i]` of the first `bins` bins.
fn combined(low: &[u8], high: &[u16], bins: usize) -> Vec<u32> {
    (0..bins).map(|i| split_count(low, high, i)).collect()
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
            let (mut low, mut high) = (vec![0u8; bins + SPARE], vec![0u16; bins + SPARE]);
            reference::bin_nonzero(&x, scale, &mut low, &mut high, bins);
            let want = combined(&low, &high, bins);
            let nonzero = x.iter().filter(|v| **v != 0.0).count() as u32;
            assert_eq!(want.iter().sum::<u32>(), nonzero);
            for path in dispatch::F32.available() {
                let (mut low, mut high) = (vec![0u8; bins + SPARE], vec![0u16; bins + SPARE]);
                bin_nonzero(path, &x, scale, &mut low, &mut high);
                bin_nonzero(path, &x, scale, &mut low, &mut high);
                let twice: Vec<u32> = want.iter().map(|c| 2 * c).collect();
                assert_eq!(combined(&low, &high, bins), twice, "{path:?} bins={bins} n={n}");
            }
        }
    }
}

#[test]
fn counts_carry_past_the_byte_and_past_u16() {
    // 70 000 values in one bin and 300 in the next: carries into the high plane, and a count
    // above u16::MAX.
    let mut x = vec![1.5f32; 70_000];
    x.extend([-2.5f32; 300]);
    for path in dispatch::F32.available() {
        let (mut low, mut high) = (vec![0u8; 8 + SPARE], vec![0u16; 8 + SPARE]);
        bin_nonzero(path, &x, 1.0, &mut low, &mut high);
        assert_eq!(combined(&low, &high, 8), [0, 70_000, 300, 0, 0, 0, 0, 0], "{path:?}");
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
