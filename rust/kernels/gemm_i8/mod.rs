//! int8 matrix multiply for convolutions and inner products (runtime-int8.md §2–§4):
//! `C = A·B` with A the int8 weights (m×k, packed once at load) and B the quantized activations
//! (k×n, gathered by im2col and packed one column panel at a time), exact int32 accumulation, then
//! ncnn's epilogue: de-scale, bias, fused activation, and float output or requantization.
//!
//! # Paths
//! One [`Path`] is chosen per process ([`selected`]): the best this CPU runs, or the one
//! `NCNNQ_KERNEL_I8` (else `NCNNQ_KERNEL`, when it names an int8 path) forces. Every path gives
//! bit-identical results: accumulation is exact integer arithmetic, and the float epilogue is
//! one scalar body ([`epilogue`]) compiled per instruction set (no FMA contraction, so the
//! compiler's vectorization cannot change a value).
//!
//! | path | instruction | tile (MR×NR) | A (weights) | B (activations) |
//! |---|---|---|---|---|
//! | `avx512vnni` | `vpdpbusd zmm` | 8×32 | s8, groups of 4 k | u8 = s8+128, 4 k per pixel |
//! | `avxvnni` | `vpdpbusd ymm` (VEX) | 6×16 | s8, groups of 4 k | u8 = s8+128 |
//! | `avx2` | `vpmaddwd` on sign-extended int16 | 6×16 | i16 pairs | i16 pairs |
//! | `dotprod` | `sdot` by element (inline asm) | 8×8 | s8, groups of 4 k | s8 |
//! | `neon` | `smlal` by lane on int16 | 8×8 | i16 | i16 |
//!
//! The kernels broadcast one weight group (4 bytes: one output row, 4 k) against a vector of
//! pixels, so the accumulators are rows of C and store straight into ncnn's channel-major output.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes. Activations are stored as `u8 = s8 + 128`, so
//! each accumulator holds `Σ(x+128)·w = Σx·w + 128·Σw`; the packed weights carry `128·Σw` per
//! row (`comp`) and the epilogue subtracts it. `vpdpbusd` wraps (no saturation), so the
//! difference is exact whenever the true sum fits in int32. `vpmaddubsw` is avoided: its int16
//! pair sums saturate for |s8·u8| sums above 32767. The int16 paths (avx2, neon) are exact for
//! every int8 value including −128 (which ncnn's quantizer never produces).
//!
//! What this machine's CI cannot run: `avxvnni` (no Intel CPU with AVX-VNNI but without AVX-512
//! here); its kernel body is shared with an EVEX-encoded ymm variant that the tests run on
//! AVX-512 VNNI CPUs, so only the instruction encoding is untested. The aarch64 paths run under
//! qemu (`-cpu max` has dotprod, `-cpu cortex-a72` has only NEON).

pub mod epilogue;
pub mod gemv;
mod layout;
pub mod pack;
pub mod reference;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

pub(crate) use epilogue::OutPtr;
pub use epilogue::{Epilogue, Out};
pub use gemv::{gemv, PackedRows};
pub(crate) use layout::finish_row;
pub use layout::{conv_gemm, quantize, quantize_pad, Activations, ConvSource, PackedA};

use std::sync::OnceLock;

/// An int8 kernel path. `Reference` is the portable scalar code every other path is tested against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    Reference,
    Avx2,
    AvxVnni,
    Avx512Vnni,
    Neon,
    Dotprod,
}

/// The family name: `NCNNQ_KERNEL_I8` forces its path.
pub const FAMILY: &str = "i8";
pub const FORCE_VAR: &str = "NCNNQ_KERNEL_I8";

impl Path {
    /// Every path, best first within each architecture; `Reference` last.
    pub const ALL: [Path; 6] =
        [Path::Avx512Vnni, Path::AvxVnni, Path::Avx2, Path::Dotprod, Path::Neon, Path::Reference];

    pub fn name(self) -> &'static str {
        match self {
            Path::Reference => "reference",
            Path::Avx2 => "avx2",
            Path::AvxVnni => "avxvnni",
            Path::Avx512Vnni => "avx512vnni",
            Path::Neon => "neon",
            Path::Dotprod => "dotprod",
        }
    }

    pub fn from_name(name: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether this build has the path and this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            Path::Reference => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Path::AvxVnni => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("avxvnni")
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx512Vnni => {
                is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Path::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Path::Dotprod => {
                std::arch::is_aarch64_feature_detected!("neon") && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Whether this build compiles the path at all (for this target architecture).
    pub fn compiled(self) -> bool {
        match self {
            Path::Reference => true,
            Path::Avx2 | Path::AvxVnni | Path::Avx512Vnni => cfg!(target_arch = "x86_64"),
            Path::Neon | Path::Dotprod => cfg!(target_arch = "aarch64"),
        }
    }

    /// The fastest path this CPU runs.
    pub fn best() -> Path {
        Path::ALL.into_iter().find(|p| p.available()).unwrap_or(Path::Reference)
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every path this CPU runs, best first (tests compare each with the reference).
pub fn available_paths() -> Vec<Path> {
    Path::ALL.into_iter().filter(|p| p.available()).collect()
}

/// Picks the path for a forcing request: `Ok(path)` when it names a runnable path, `Err(message)`
/// (and the best path) otherwise.
fn choose(specific: Option<String>, global: Option<String>) -> (Path, Option<String>) {
    let best = Path::best();
    let global = global.filter(|g| Path::from_name(&g.to_ascii_lowercase()).is_some());
    let (var, name) = match (specific.filter(|s| !s.is_empty()), global) {
        (Some(s), _) => (FORCE_VAR, s),
        (None, Some(g)) => ("NCNNQ_KERNEL", g),
        (None, None) => return (best, None),
    };
    match Path::from_name(&name.to_ascii_lowercase()) {
        Some(p) if p.available() => (p, None),
        Some(p) => (best, Some(format!("{var}={name}: this CPU or build cannot run {p}; using {best}"))),
        None => (
            best,
            Some(format!(
                "{var}={name} is not an int8 path ({}); using {best}",
                Path::ALL.map(|p| p.name()).join(", ")
            )),
        ),
    }
}

/// The int8 path of this process, chosen once. A forced path the CPU cannot run falls back to the
/// best one with a warning on stderr ([`selected`] then names the path that really runs, which is
/// what tests and `ncnnq bench` check). `NCNNQ_LOG=1` prints the choice.
pub fn selected() -> Path {
    static SELECTED: OnceLock<Path> = OnceLock::new();
    *SELECTED.get_or_init(|| {
        let (path, warning) = choose(std::env::var(FORCE_VAR).ok(), std::env::var("NCNNQ_KERNEL").ok());
        if let Some(w) = warning {
            eprintln!("ncnnq: {w}");
        }
        if std::env::var("NCNNQ_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
            eprintln!("ncnnq: int8 kernels use the {path} path");
        }
        path
    })
}

#[cfg(test)]
mod choose_tests {
    use super::*;

    #[test]
    fn forcing_rules() {
        let best = Path::best();
        assert_eq!(choose(None, None), (best, None));
        assert_eq!(choose(Some("reference".into()), None), (Path::Reference, None));
        assert_eq!(choose(Some("REFERENCE".into()), Some("avx2".into())).0, Path::Reference);
        // A global name that is not an int8 path (an f32 family's) leaves int8 alone.
        assert_eq!(choose(None, Some("avx512".into())), (best, None));
        assert_eq!(choose(None, Some("reference".into())), (Path::Reference, None));
        let (p, w) = choose(Some("nonsense".into()), None);
        assert_eq!(p, best);
        assert!(w.unwrap().contains("not an int8 path"));
        let foreign = if cfg!(target_arch = "x86_64") { "dotprod" } else { "avx2" };
        let (p, w) = choose(Some(foreign.into()), None);
        assert_eq!(p, best);
        assert!(w.unwrap().contains("cannot run"));
    }
}

/// How many times each path's kernels ran in this process: what tests assert and `ncnnq bench`
/// prints, so a dispatch mistake cannot hide behind correct results.
pub mod counters {
    use super::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The int8 kernel kinds.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        Gemm,
        Depthwise,
        Gemv,
    }

    impl Kind {
        pub const ALL: [Kind; 3] = [Kind::Gemm, Kind::Depthwise, Kind::Gemv];

        pub fn name(self) -> &'static str {
            match self {
                Kind::Gemm => "gemm",
                Kind::Depthwise => "depthwise",
                Kind::Gemv => "gemv",
            }
        }
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: AtomicU64 = AtomicU64::new(0);
    #[allow(clippy::declare_interior_mutable_const)]
    const ROW: [AtomicU64; 6] = [ZERO; 6];
    static CALLS: [[AtomicU64; 6]; 3] = [ROW; 3];

    fn index(path: Path) -> usize {
        Path::ALL.iter().position(|&p| p == path).expect("every path is in ALL")
    }

    pub(crate) fn count(kind: Kind, path: Path) {
        CALLS[kind as usize][index(path)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn calls(kind: Kind, path: Path) -> u64 {
        CALLS[kind as usize][index(path)].load(Ordering::Relaxed)
    }

    pub fn gemm_calls(path: Path) -> u64 {
        calls(Kind::Gemm, path)
    }

    /// (kind, path, calls) for every kernel that ran at least once.
    pub fn snapshot() -> Vec<(Kind, Path, u64)> {
        let mut v = Vec::new();
        for kind in Kind::ALL {
            for path in Path::ALL {
                let n = calls(kind, path);
                if n > 0 {
                    v.push((kind, path, n));
                }
            }
        }
        v
    }
}
