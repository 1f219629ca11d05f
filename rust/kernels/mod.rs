//! Compute kernels, one folder per family: a portable reference implementation of each op, SIMD
//! variants beside it, and the dispatch chosen once per process. Two families dispatch: the f32
//! kernels (GEMM, GEMV, Winograd, depthwise) share [`simd::selected`] (`NCNNQ_KERNEL` forces it),
//! the int8 kernels (GEMM, GEMV, depthwise) share [`gemm_i8::selected`] (`NCNNQ_KERNEL_I8`).
//! [`selected_paths`] reports both choices with what each path needs of the CPU ([`cpu`]).
//!
//! `scripts/test-aarch64.sh rust` runs these tests on aarch64 under qemu with Debian's cross
//! toolchain, on a CPU with dotprod (`-cpu max`) and one without (`-cpu cortex-a72`). By hand:
//!
//! ```text
//! PATH=target/cross/debian-rust:$PATH CARGO_TARGET_DIR=target/cross/cargo \
//! CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
//! CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu \
//!   -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib -cpu cortex-a72" \
//! cargo test --target aarch64-unknown-linux-gnu --lib kernels
//! ```
//!
//! (`LD_LIBRARY_PATH` because a host with arm64 multiarch packages has a newer arm64 libc in
//! /lib/aarch64-linux-gnu, which the cross loader would otherwise pick up; with the two glibc
//! builds mixed, thread creation hangs.)

pub mod conv_depthwise;
pub mod cpu;
pub mod dw_i8;
pub mod gemm_f32;
pub mod gemm_i8;
pub mod histogram;
pub mod lrn;
pub mod pooling;
pub mod simd;
pub mod winograd;

#[cfg(test)]
pub(crate) mod testutil;

pub use cpu::{cpu_features, Feature};

/// A family's dispatch as `selected_paths()` (and `ncnnq.kernel_info()`) report it.
#[derive(Clone, Debug)]
pub struct FamilyReport {
    pub family: &'static str,
    pub chosen: &'static str,
    /// Every path compiled for this target, best first (the last one portable): (name, needed features).
    pub paths: Vec<(&'static str, &'static [Feature])>,
}

/// Every family with runtime dispatch: its chosen path and all its paths. A new family adds its
/// report here; the dispatch tests below and CI's emulated-CPU runs then cover it.
pub fn selected_paths() -> Vec<FamilyReport> {
    vec![f32_report(), i8_report()]
}

/// The f32 kernels (GEMM, GEMV, Winograd, depthwise) share one path, [`simd::selected`].
fn f32_report() -> FamilyReport {
    #[allow(unused_imports)]
    use cpu::Feature::{Avx2, Avx512f, Fma, Neon};
    use simd::Isa;
    let paths: Vec<(&'static str, &'static [Feature])> = vec![
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512.name(), &[Avx512f, Avx2, Fma]),
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2.name(), &[Avx2, Fma]),
        #[cfg(target_arch = "aarch64")]
        (Isa::Neon.name(), &[Neon]),
        (Isa::Reference.name(), &[]),
    ];
    FamilyReport { family: "f32", chosen: simd::selected().name(), paths }
}

/// What each int8 path needs ([`gemm_i8::Path::available`] checks the same; a test holds them equal).
fn i8_needs(path: gemm_i8::Path) -> &'static [Feature] {
    use cpu::Feature::*;
    use gemm_i8::Path;
    match path {
        Path::Avx512Vnni => &[Fma, Avx512f, Avx512bw, Avx512vl, Avx512vnni],
        Path::AvxVnni => &[Avx2, Fma, AvxVnni],
        Path::Avx2 => &[Avx2, Fma],
        Path::Dotprod => &[Neon, Dotprod],
        Path::Neon => &[Neon],
        Path::Reference => &[],
    }
}

/// The int8 kernels (GEMM, GEMV, depthwise) share one path, [`gemm_i8::selected`].
fn i8_report() -> FamilyReport {
    let paths = gemm_i8::Path::ALL.into_iter().filter(|p| p.compiled()).map(|p| (p.name(), i8_needs(p))).collect();
    FamilyReport { family: gemm_i8::FAMILY, chosen: gemm_i8::selected().name(), paths }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expectations() -> Vec<(String, String)> {
        let spec = std::env::var("NCNNQ_EXPECT_PATHS").unwrap_or_default();
        spec.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                let (family, path) = s.split_once('=').expect("NCNNQ_EXPECT_PATHS is family=path,...");
                (family.trim().to_string(), path.trim().to_string())
            })
            .collect()
    }

    /// Each family runs its best path this CPU has (unless forced), never one it lacks; under CI's
    /// emulated CPUs `NCNNQ_EXPECT_PATHS=f32=neon,...` names the path each family must pick.
    #[test]
    fn every_family_picks_its_best_available_path() {
        let features = cpu_features();
        let forced = std::env::vars().any(|(k, _)| k.starts_with("NCNNQ_KERNEL"));
        let reports = selected_paths();
        for r in &reports {
            eprintln!("{}: {} (paths {:?})", r.family, r.chosen, r.paths.iter().map(|p| p.0).collect::<Vec<_>>());
            let (_, needs) = r.paths.iter().find(|p| p.0 == r.chosen).expect("chosen path is one of the family's");
            assert!(features.has_all(needs), "{} chose {} but this CPU lacks {needs:?}", r.family, r.chosen);
            let best = r.paths.iter().find(|p| features.has_all(p.1)).expect("a portable path exists").0;
            if !forced {
                assert_eq!(r.chosen, best, "{}: chose {} over the better available {best}", r.family, r.chosen);
            }
            assert_eq!(r.paths.last().map(|p| p.1.len()), Some(0), "{}: last path must be portable", r.family);
        }
        for (family, path) in expectations() {
            let r = reports.iter().find(|r| r.family == family).unwrap_or_else(|| panic!("no kernel family {family}"));
            assert_eq!(r.chosen, path, "{family} chose {} but NCNNQ_EXPECT_PATHS says {path}", r.chosen);
        }
    }

    /// The f32 report's feature lists say what `simd::Isa::available` checks.
    #[test]
    fn f32_report_agrees_with_simd() {
        use simd::Isa;
        let report = f32_report();
        for isa in [Isa::Reference, Isa::Avx2, Isa::Avx512, Isa::Neon] {
            match report.paths.iter().find(|p| p.0 == isa.name()) {
                Some((_, needs)) => assert_eq!(cpu_features().has_all(needs), isa.available(), "{}", isa.name()),
                None => assert!(!isa.available(), "{} runs here but is not reported", isa.name()),
            }
        }
    }

    /// The int8 report's feature lists say what `gemm_i8::Path::available` checks, and it lists
    /// exactly the paths this build compiles, best first as the dispatch ranks them.
    #[test]
    fn i8_report_agrees_with_gemm_i8() {
        use gemm_i8::Path;
        let report = i8_report();
        let compiled: Vec<_> = Path::ALL.into_iter().filter(|p| p.compiled()).map(|p| p.name()).collect();
        assert_eq!(report.paths.iter().map(|p| p.0).collect::<Vec<_>>(), compiled);
        for path in Path::ALL.into_iter().filter(|p| p.compiled()) {
            assert_eq!(cpu_features().has_all(i8_needs(path)), path.available(), "{path}");
        }
        assert_eq!(report.paths.iter().find(|p| cpu_features().has_all(p.1)).map(|p| p.0), Some(Path::best().name()));
    }
}
