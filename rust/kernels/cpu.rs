//! What this CPU can do (detected once), and the one rule every kernel family uses to pick its path:
//! the first path, best first, whose features are all present, unless an environment variable forces
//! one. CI checks the detection against what the emulated CPU is known to have (`NCNNQ_EXPECT_*`), so
//! a dispatch mistake shows up as a test failure rather than as a slow or crashing wheel.

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
    Avx512vnni,
    AvxVnni,
}

impl Feature {
    pub const ALL: [Feature; 10] = [
        Feature::Neon,
        Feature::Dotprod,
        Feature::I8mm,
        Feature::Avx2,
        Feature::Fma,
        Feature::F16c,
        Feature::Avx512f,
        Feature::Avx512bw,
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

/// One implementation of a kernel family: `f` is only ever called when `needs` are all detected.
pub struct KernelPath<F> {
    pub name: &'static str,
    pub needs: &'static [Feature],
    pub f: F,
}

impl<F> KernelPath<F> {
    pub fn available(&self) -> bool {
        cpu_features().has_all(self.needs)
    }
}

/// A family's dispatch as reported by `kernels::selected_paths()`.
#[derive(Clone, Debug)]
pub struct FamilyReport {
    pub family: &'static str,
    pub chosen: &'static str,
    /// Every path compiled for this target, best first: (name, needed features).
    pub paths: Vec<(&'static str, &'static [Feature])>,
}

impl FamilyReport {
    pub fn new<F>(family: &'static str, chosen: &KernelPath<F>, paths: &[KernelPath<F>]) -> Self {
        FamilyReport { family, chosen: chosen.name, paths: paths.iter().map(|p| (p.name, p.needs)).collect() }
    }
}

/// The variable that forces one family's path, e.g. `NCNNQ_KERNEL_DOT_I8=neon`.
pub fn force_var(family: &str) -> String {
    format!("NCNNQ_KERNEL_{}", family.to_ascii_uppercase())
}

/// Picks `family`'s path from `paths` (best first, the last one portable). As for the f32 kernels
/// (`simd::selected`), `NCNNQ_KERNEL=name` forces every family that has a path of that name, and
/// a path this CPU lacks falls back to the best one with a warning; `NCNNQ_KERNEL_<FAMILY>=name`
/// forces one family; `NCNNQ_LOG=1` prints the choice on stderr.
pub fn select<F>(family: &'static str, paths: Vec<KernelPath<F>>) -> KernelPath<F> {
    let best = paths.iter().position(|p| p.available()).expect("the last path of every family is portable");
    let specific = std::env::var(force_var(family)).ok().filter(|v| !v.is_empty()).map(|v| (force_var(family), v));
    let global = std::env::var("NCNNQ_KERNEL")
        .ok()
        .filter(|name| paths.iter().any(|p| p.name == name))
        .map(|v| ("NCNNQ_KERNEL".to_string(), v));
    let index = match specific.or(global) {
        None => best,
        Some((var, name)) => match paths.iter().position(|p| p.name == name) {
            Some(i) if paths[i].available() => i,
            _ => {
                eprintln!(
                    "ncnnq: {var}={name} is not a {family} path this CPU runs (paths {:?}, CPU {:?}); using {}",
                    paths.iter().map(|p| p.name).collect::<Vec<_>>(),
                    cpu_features().names(),
                    paths[best].name
                );
                best
            }
        },
    };
    if std::env::var("NCNNQ_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
        eprintln!("ncnnq: {family} kernels use the {} path", paths[index].name);
    }
    paths.into_iter().nth(index).expect("index came from this list")
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
        if detected.has(Feature::Avx512bw) || detected.has(Feature::Avx512vnni) {
            assert!(detected.has(Feature::Avx512f));
        }
    }

    #[test]
    fn select_takes_the_first_available_path() {
        let paths = || {
            vec![
                KernelPath { name: "impossible", needs: &[Feature::Neon, Feature::Avx2], f: 0 },
                KernelPath { name: "portable", needs: &[], f: 1 },
                KernelPath { name: "later", needs: &[], f: 2 },
            ]
        };
        // A family name no one sets a variable for, so the environment cannot force it.
        assert_eq!(select("select_unit_test", paths()).f, 1);
    }
}
