//! What this CPU can do, detected once: the one feature set every dispatch decision reads
//! ([`super::dispatch`] lists what each path needs in these terms). CI checks the detection against what the emulated CPU is known to have
//! (`NCNNQ_EXPECT_*`), so a dispatch mistake shows up as a test failure rather than as a slow or
//! crashing wheel.

use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    Neon,
    Dotprod,
    I8mm,
    Avx2,
    Fma,
    F16c,
    Avx512f,
    Avx512bw,
    Avx512vl,
    Avx512dq,
    Avx512vnni,
    AvxVnni,
}

impl Feature {
    pub const ALL: [Feature; 12] = [
        Feature::Neon,
        Feature::Dotprod,
        Feature::I8mm,
        Feature::Avx2,
        Feature::Fma,
        Feature::F16c,
        Feature::Avx512f,
        Feature::Avx512bw,
        Feature::Avx512vl,
        Feature::Avx512dq,
        Feature::Avx512vnni,
        Feature::AvxVnni,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Feature::Neon => "neon",
            Feature::Dotprod => "dotprod",
            Feature::I8mm => "i8mm",
            Feature::Avx2 => "avx2",
            Feature::Fma => "fma",
            Feature::F16c => "f16c",
            Feature::Avx512f => "avx512f",
            Feature::Avx512bw => "avx512bw",
            Feature::Avx512vl => "avx512vl",
            Feature::Avx512dq => "avx512dq",
            Feature::Avx512vnni => "avx512vnni",
            Feature::AvxVnni => "avxvnni",
        }
    }

    /// The variable CI sets to state whether the (emulated) CPU has this feature.
    pub fn expect_var(self) -> String {
        format!("NCNNQ_EXPECT_{}", self.name().to_ascii_uppercase())
    }

    #[cfg(target_arch = "aarch64")]
    fn detect(self) -> bool {
        use std::arch::is_aarch64_feature_detected as has;
        match self {
            Feature::Neon => has!("neon"),
            Feature::Dotprod => has!("dotprod"),
            Feature::I8mm => has!("i8mm"),
            _ => false,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn detect(self) -> bool {
        use std::arch::is_x86_feature_detected as has;
        match self {
            Feature::Avx2 => has!("avx2"),
            Feature::Fma => has!("fma"),
            Feature::F16c => has!("f16c"),
            Feature::Avx512f => has!("avx512f"),
            Feature::Avx512bw => has!("avx512bw"),
            Feature::Avx512vl => has!("avx512vl"),
            Feature::Avx512dq => has!("avx512dq"),
            Feature::Avx512vnni => has!("avx512vnni"),
            Feature::AvxVnni => has!("avxvnni"),
            _ => false,
        }
    }

    #[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
    fn detect(self) -> bool {
        false
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuFeatures {
    bits: u32,
}

impl CpuFeatures {
    pub fn has(self, f: Feature) -> bool {
        self.bits & (1 << f as u32) != 0
    }

    pub fn has_all(self, needs: &[Feature]) -> bool {
        needs.iter().all(|&f| self.has(f))
    }

    pub fn names(self) -> Vec<&'static str> {
        Feature::ALL.iter().filter(|&&f| self.has(f)).map(|f| f.name()).collect()
    }
}

pub fn cpu_features() -> CpuFeatures {
    static DETECTED: OnceLock<CpuFeatures> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        let bits = Feature::ALL.iter().filter(|f| f.detect()).fold(0, |b, &f| b | 1 << f as u32);
        CpuFeatures { bits }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI runs the aarch64 tests under qemu with `-cpu max` and `-cpu cortex-a72` and says, through
    /// `NCNNQ_EXPECT_<FEATURE>=1|0`, what each has. Unset variables leave only the consistency checks.
    #[test]
    fn detection_matches_the_cpu_ci_says_it_is() {
        let detected = cpu_features();
        let mut checked = Vec::new();
        for f in Feature::ALL {
            if let Ok(v) = std::env::var(f.expect_var()) {
                assert!(v == "1" || v == "0", "{}={v}: expected 1 or 0", f.expect_var());
                assert_eq!(
                    detected.has(f),
                    v == "1",
                    "{} detected={} but {}={v}",
                    f.name(),
                    detected.has(f),
                    f.expect_var()
                );
                checked.push(f.name());
            }
        }
        eprintln!("cpu features: {:?}; checked against NCNNQ_EXPECT_*: {checked:?}", detected.names());
        if cfg!(target_arch = "aarch64") {
            assert!(detected.has(Feature::Neon), "NEON is mandatory on aarch64");
        }
        if detected.has(Feature::Dotprod) || detected.has(Feature::I8mm) {
            assert!(detected.has(Feature::Neon));
        }
        let avx512 = [Feature::Avx512bw, Feature::Avx512vl, Feature::Avx512dq, Feature::Avx512vnni];
        if avx512.iter().any(|&f| detected.has(f)) {
            assert!(detected.has(Feature::Avx512f));
        }
    }
}
