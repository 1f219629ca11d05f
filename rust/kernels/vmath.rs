//! Elementary functions the compiler can vectorize: `exp`, `ln` and `pow` as branch-free
//! polynomials (Cephes' single-precision approximations, the ones ncnn's `exp_ps`/`log_ps`/`pow_ps`
//! use), so a loop over a slice becomes SIMD code instead of one libm call per element. Accurate
//! to a few ulp on the ranges the layers use; the tests bound the error against libm.
//!
//! The slice entry points compile the same loop body once per instruction set and pick one with
//! [`super::simd::selected`].

use super::simd::{selected, Isa};

const EXP_HI: f32 = 88.376_26;
const EXP_LO: f32 = -88.376_26;
const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in two so that `x - n·ln2` loses no bits.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^x, with x clamped to the finite range of f32.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(EXP_LO, EXP_HI);
    // n = round(x / ln2) without a libm call: truncate, then step down for negatives.
    let fx = x * LOG2E + 0.5;
    // SAFETY (both conversions): |fx| < 128 after the clamp. Unlike `as`, the unchecked
    // conversion has no saturation logic, so loops over it vectorize.
    let t = unsafe { fx.to_int_unchecked::<i32>() } as f32;
    let n = if t > fx { t - 1.0 } else { t };
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((unsafe { n.to_int_unchecked::<i32>() } + 127) as u32) << 23)
}

/// ln x for x > 0 (the callers' arguments are positive by construction).
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let x = x.max(f32::MIN_POSITIVE);
    let bits = x.to_bits();
    let mut e = ((bits >> 23) as i32 - 126) as f32;
    // The mantissa in [0.5, 1); below sqrt(1/2) it is doubled so the polynomial sees [-0.29, 0.41].
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    e = if small { e - 1.0 } else { e };
    let f = if small { m + m - 1.0 } else { m - 1.0 };
    let z = f * f;
    let mut p = 7.037_683_6e-2f32;
    p = p * f - 0.115_146_1;
    p = p * f + 0.116_769_98;
    p = p * f - 0.124_201_41;
    p = p * f + 0.142_493_23;
    p = p * f - 0.166_680_57;
    p = p * f + 0.200_007_15;
    p = p * f - 0.249_999_94;
    p = p * f + 0.333_333_3;
    let y = p * f * z + e * LN2_LO - 0.5 * z;
    f + y + e * LN2_HI
}

/// x^y for x > 0.
#[inline(always)]
pub fn pow(x: f32, y: f32) -> f32 {
    exp(y * ln(x))
}

#[inline(always)]
fn lrn_scale_body(out: &mut [f32], x: &[f32], square_sum: &[f32], bias: f32, alpha: f32, neg_beta: f32) {
    for ((o, &v), &s) in out.iter_mut().zip(x).zip(square_sum) {
        *o = v * pow(bias + alpha * s, neg_beta);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lrn_scale_avx2(out: &mut [f32], x: &[f32], square_sum: &[f32], bias: f32, alpha: f32, neg_beta: f32) {
    lrn_scale_body(out, x, square_sum, bias, alpha, neg_beta)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn lrn_scale_avx512(out: &mut [f32], x: &[f32], square_sum: &[f32], bias: f32, alpha: f32, neg_beta: f32) {
    lrn_scale_body(out, x, square_sum, bias, alpha, neg_beta)
}

/// `out[i] = x[i] · (bias + alpha·square_sum[i])^neg_beta`, LRN's normalization.
pub fn lrn_scale(out: &mut [f32], x: &[f32], square_sum: &[f32], bias: f32, alpha: f32, neg_beta: f32) {
    lrn_scale_on(selected(), out, x, square_sum, bias, alpha, neg_beta)
}

fn lrn_scale_on(isa: Isa, out: &mut [f32], x: &[f32], square_sum: &[f32], bias: f32, alpha: f32, neg_beta: f32) {
    match isa {
        // SAFETY: `selected()` and the tests only name paths this CPU runs.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { lrn_scale_avx2(out, x, square_sum, bias, alpha, neg_beta) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { lrn_scale_avx512(out, x, square_sum, bias, alpha, neg_beta) },
        // NEON is part of aarch64's baseline, so the portable body already vectorizes there.
        _ => lrn_scale_body(out, x, square_sum, bias, alpha, neg_beta),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f32, b: f64) -> f64 {
        ((a as f64 - b) / b.abs().max(f64::MIN_POSITIVE)).abs()
    }

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0.0f64;
        for i in -87_000..=88_000 {
            let x = i as f32 * 1e-3 + 1.7e-4;
            worst = worst.max(rel(exp(x), (x as f64).exp()));
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(1000.0).is_finite());
    }

    #[test]
    fn ln_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = 1e-30f32;
        while x < 1e30 {
            let want = (x as f64).ln();
            // Relative error near ln = 0 is meaningless; measure it against max(|ln x|, 1).
            worst = worst.max(((ln(x) as f64) - want).abs() / want.abs().max(1.0));
            x *= 1.001_3;
        }
        assert!(worst < 3e-7, "worst error {worst}");
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn pow_matches_libm_on_lrn_arguments() {
        for &beta in &[-0.75f32, -0.5, -1.0, -0.3] {
            for i in 0..20_000 {
                let base = 1.0 + i as f32 * 0.37;
                let want = (base as f64).powf(beta as f64);
                assert!(rel(pow(base, beta), want) < 2e-6, "{base}^{beta}");
            }
        }
    }

    #[test]
    fn every_path_gives_the_portable_results() {
        for n in [0usize, 1, 7, 8, 15, 16, 17, 33, 100] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin() * 3.0).collect();
            let ss: Vec<f32> = x.iter().map(|v| v * v * 5.0).collect();
            let mut want = vec![0.0; n];
            lrn_scale_body(&mut want, &x, &ss, 1.0, 1e-4, -0.75);
            for isa in Isa::all_available() {
                let mut got = vec![0.0; n];
                lrn_scale_on(isa, &mut got, &x, &ss, 1.0, 1e-4, -0.75);
                // Rust never contracts a·b + c into an FMA, so every path computes the same bits.
                assert_eq!(got, want, "{} n={n}", isa.name());
            }
        }
    }
}
