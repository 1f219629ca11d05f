//! Dot product of two int8 vectors with an int32 result: the inner step of int8 convolution and
//! inner product. Small on purpose: it is also the worked example of a kernel family with runtime
//! dispatch (reference, NEON, NEON dotprod, AVX2) that CI checks under emulated CPUs.

pub mod reference;

#[cfg(target_arch = "aarch64")]
pub mod neon;

#[cfg(target_arch = "x86_64")]
pub mod avx2;

use super::cpu::{self, FamilyReport, KernelPath};
use std::sync::OnceLock;

pub const FAMILY: &str = "dot_i8";

/// Every path takes slices of equal length. `unsafe` because a path may need CPU features: only
/// `KernelPath::available` paths are called.
pub type DotFn = unsafe fn(&[i8], &[i8]) -> i32;

/// Every path compiled for this target, best first; the last is portable.
pub fn paths() -> Vec<KernelPath<DotFn>> {
    #[cfg(target_arch = "aarch64")]
    use cpu::Feature::{Dotprod, Neon};
    vec![
        #[cfg(target_arch = "aarch64")]
        KernelPath { name: "dotprod", needs: &[Neon, Dotprod], f: neon::dot_dotprod },
        #[cfg(target_arch = "aarch64")]
        KernelPath { name: "neon", needs: &[Neon], f: neon::dot_neon },
        #[cfg(target_arch = "x86_64")]
        KernelPath { name: "avx2", needs: &[cpu::Feature::Avx2], f: avx2::dot },
        KernelPath { name: "reference", needs: &[], f: reference::dot },
    ]
}

fn chosen() -> &'static KernelPath<DotFn> {
    static CHOSEN: OnceLock<KernelPath<DotFn>> = OnceLock::new();
    CHOSEN.get_or_init(|| cpu::select(FAMILY, paths()))
}

pub fn report() -> FamilyReport {
    FamilyReport::new(FAMILY, chosen(), &paths())
}

pub fn dot(a: &[i8], b: &[i8]) -> i32 {
    assert_eq!(a.len(), b.len(), "dot_i8 of unequal lengths");
    // SAFETY: `cpu::select` only returns a path whose features were detected.
    unsafe { (chosen().f)(a, b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn bytes(&mut self, n: usize) -> Vec<i8> {
            (0..n).map(|_| self.next() as i8).collect()
        }
    }

    /// Lengths around every vector width and its tails, plus long ones that would overflow an
    /// int16 accumulator.
    fn lengths() -> impl Iterator<Item = usize> {
        (0..=70).chain([127, 128, 129, 1000, 4099])
    }

    #[test]
    fn every_available_path_matches_the_reference() {
        let mut rng = SplitMix(7767517);
        let mut tested = Vec::new();
        for path in paths() {
            if !path.available() {
                eprintln!("{FAMILY}: path {} not available on this CPU, not tested", path.name);
                continue;
            }
            for n in lengths() {
                let (a, b) = (rng.bytes(n), rng.bytes(n));
                let want = reference::dot(&a, &b);
                // SAFETY: checked available above.
                let got = unsafe { (path.f)(&a, &b) };
                assert_eq!(got, want, "{FAMILY} path {} differs from the reference at length {n}", path.name);
            }
            // The extremes: two products of -128 * -128 already overflow int16 if a path adds them
            // before widening.
            for (x, y) in [(-128i8, -128i8), (127, 127), (-128, 127)] {
                let (a, b) = (vec![x; 4099], vec![y; 4099]);
                // SAFETY: as above.
                assert_eq!(unsafe { (path.f)(&a, &b) }, reference::dot(&a, &b), "{} at {x}*{y}", path.name);
            }
            tested.push(path.name);
        }
        eprintln!("{FAMILY}: tested paths {tested:?}");
        assert!(tested.contains(&"reference"));
        if cfg!(target_arch = "aarch64") {
            assert!(tested.contains(&"neon"), "every aarch64 CPU has NEON");
        }
    }

    #[test]
    fn dispatched_dot_matches_the_reference() {
        let mut rng = SplitMix(1);
        for n in lengths() {
            let (a, b) = (rng.bytes(n), rng.bytes(n));
            assert_eq!(dot(&a, &b), reference::dot(&a, &b), "{FAMILY} via {} at length {n}", chosen().name);
        }
    }
}
