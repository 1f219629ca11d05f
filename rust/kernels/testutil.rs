//! Helpers for the kernel tests: a seeded generator and the reassociation tolerance.

/// xorshift64*: deterministic test data without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Checks `got` against `want` allowing only the rounding of a reordered sum: each element may
/// differ by (terms + 2)·ε·(sum of the absolute values of its terms), given in `magnitude`.
pub fn assert_reassociated(got: &[f32], want: &[f32], magnitude: &[f32], terms: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, ((&g, &w), &mag)) in got.iter().zip(want).zip(magnitude).enumerate() {
        let tol = (terms as f32 + 2.0) * f32::EPSILON * mag + 1e-30;
        assert!((g - w).abs() <= tol, "{what}: element {i}: got {g}, reference {w}, allowed {tol}");
    }
}
