//! Which kernels run. Each kernel family is one [`Family`]: its paths best first (instruction-set
//! levels, the portable reference last), what each path needs of the CPU (in the terms of the one
//! feature set [`super::cpu`] detects), and the table of function pointers each path runs. A
//! family resolves its path once per process; every kernel entry point takes a [`Path`] and calls
//! through its table, so no kernel file matches on an instruction set and no SIMD file imports
//! the code that dispatches to it.
//!
//! # Design
//! - **Two families.** `f32` holds every float kernel (GEMM, GEMV and the implicit im2col read,
//!   Winograd, depthwise, pooling, LRN, the calibration statistics), `i8` every int8 kernel (GEMM,
//!   GEMV, depthwise, activation quantization). A family is a set of kernels with one ladder of
//!   paths that must run on the same path: Winograd's transforms have the lanes of the f32 GEMM's
//!   microkernel, the int8 depthwise kernel finishes rows with the GEMM's epilogue and a layer
//!   packs its weights once for one path. Finer families (one per kernel module) would multiply
//!   the variables and report entries without a use: nobody needs pooling on the reference while
//!   the GEMM runs AVX-512, and what a comparison needs is all float or all int8 kernels forced.
//! - **Paths are data** ([`PathDef`]): every path of every architecture is described, so a name
//!   can be forced and reported anywhere; only this build's architecture has its table
//!   (`kernels: None` elsewhere). The tables are built from each kernel module's entry points
//!   (`micro::x86::AVX512`, `pooling::vector::arm::NEON`, ...), which import only downward:
//!   operand types, [`super::simd`], their reference.
//! - **Resolved once** into a [`Path`] handle kept in a `OnceLock`; calls go through the handle's
//!   table (`path.kernels().pooling.plane`), with no `match` anywhere. A handle exists only for a
//!   path this CPU runs: dispatch makes them, which is what makes calling the `unsafe` entry
//!   points sound (each entry point's contract is "the CPU runs the path").
//! - **Forcing.** `NCNNQ_KERNEL_F32` and `NCNNQ_KERNEL_I8` name a path of their family;
//!   `NCNNQ_KERNEL` forces every family that has a path of that name (a family's own variable
//!   wins). A forced path this CPU or build cannot run falls back to the best one with one warning
//!   per family; a name of no family's path is reported once and ignored. `NCNNQ_LOG=1` prints
//!   each family's choice.
//! - **Proof of what ran**: each family counts its kernels' calls per path ([`Path::count`]),
//!   which tests and `ncnnq bench` read, so a dispatch mistake cannot hide behind right results.
//!
//! Adding a path: its entry points in the kernel modules and one [`PathDef`] below. Adding a
//! family: a table type implementing [`Table`], a [`Family`] static and a row in [`FAMILIES`].

use super::conv_depthwise::plane::{ChannelFn as DepthwiseFn, DirectChannelsFn, SplitChannelFn};
use super::conv_depthwise::{reference as depthwise_reference, vector as depthwise};
// The path tables read as lists of CPU features, on every architecture and in the tests.
#[allow(clippy::enum_glob_use)]
use super::cpu::Feature::{self, *};
use super::cpu::{cpu_features, CpuFeatures};
use super::dw_i8::row::{self as dw_row, Row};
use super::gemm_f32::{gather, micro};
use super::gemm_i8::epilogue::{self as i8_epilogue, Epilogue, OutPtr};
use super::gemm_i8::reference as i8_reference;
use super::gemm_i8::tiling::GemmFns as I8GemmFns;
use super::histogram::vector::{self as histogram, HistogramFns};
use super::lrn::channel::{self as lrn, ChannelFn as LrnFn};
use super::pooling::vector::{self as pooling, PoolingFns};
use super::winograd::transform::{self as winograd, WinogradFns};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Forces every family that has a path of this name.
pub const GLOBAL_VAR: &str = "NCNNQ_KERNEL";

/// The f32 family's kernels on one path.
pub struct F32Kernels {
    /// Tile shape, microkernel (none on the reference) and GEMV.
    pub(crate) gemm: micro::GemmFns,
    /// The implicit im2col's stride-2 read.
    pub(crate) gather2: gather::Gather2Fn,
    /// 3×3 stride-1 Winograd transforms (paired with this path's microkernel; none without one).
    pub(crate) winograd: Option<WinogradFns>,
    /// One depthwise channel, stride 1 or 2.
    pub(crate) depthwise: DepthwiseFn,
    /// Horizontally stride-2 depthwise on split rows (none: the reference pads whole planes).
    pub(crate) depthwise_split: Option<SplitChannelFn>,
    /// 3×3 depthwise, stride 1 padded by one or stride 2 padded by one at the left and top, read
    /// from the unpadded input with masked loads (none: the path pads each channel into a scratch
    /// plane or a split band).
    pub(crate) depthwise_direct: Option<DirectChannelsFn>,
    pub(crate) pooling: PoolingFns,
    /// One channel of LRN across channels.
    pub(crate) lrn: LrnFn,
    /// Calibration statistics: absmax and histogram binning.
    pub(crate) histogram: HistogramFns,
}

/// The int8 family's kernels on one path. Every entry point is `unsafe` to call: the CPU must run
/// the path (which a [`Path`] guarantees).
pub struct I8Kernels {
    /// Weight packing and the tiled GEMM (convolutions).
    pub(crate) gemm: I8GemmFns,
    /// The epilogue of one accumulator row (the depthwise kernel's; the GEMM's is its own).
    pub(crate) finish_row: unsafe fn(acc: &[i32], comp: i32, row: usize, ep: &Epilogue, out: OutPtr),
    /// `out = q(x·scale)`: activations into an int8 layer.
    pub(crate) quantize: unsafe fn(x: &[f32], scale: f32, out: &mut [i8]),
    /// GEMV: dot products of rows of k-padded weights with x (inner products).
    pub(crate) gemv_rows: unsafe fn(w: &[i8], kp: usize, x: &[u8], acc: &mut [i32]),
    /// The GEMV reads x as u8 = s8 + 128, so rows carry 128·Σw.
    pub(crate) gemv_offset: bool,
    /// Depthwise: one span of output pixels of one channel.
    pub(crate) depthwise_row: unsafe fn(row: &Row, acc: &mut [i32]),
    /// Depthwise: one channel by a vector plan (kernel rows of up to 4 taps), where the CPU also
    /// has the extra features the kernel names (checked at the call: the path does not need them).
    pub(crate) depthwise_plane: Option<super::dw_i8::plan::PlaneKernel>,
    /// Max pooling of one int8 channel (blobs an int8 chain keeps quantized).
    pub(crate) max_pool: unsafe fn(win: &super::pooling::window::Window, x: &[i8], out: &mut [i8], row: &mut Vec<i8>),
}

/// What the f32 family counts per path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F32Call {
    Gemm,
    Gemv,
    Depthwise,
}

/// What the int8 family counts per path (`ncnnq._native.kernel_calls()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I8Call {
    Gemm,
    Depthwise,
    Gemv,
}

/// The kinds of kernel call a family counts.
pub trait Call: Copy + Sync + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn index(self) -> usize;
}

impl Call for F32Call {
    const ALL: &'static [F32Call] = &[F32Call::Gemm, F32Call::Gemv, F32Call::Depthwise];
    fn name(self) -> &'static str {
        ["gemm", "gemv", "depthwise"][self.index()]
    }
    fn index(self) -> usize {
        self as usize
    }
}

impl Call for I8Call {
    const ALL: &'static [I8Call] = &[I8Call::Gemm, I8Call::Depthwise, I8Call::Gemv];
    fn name(self) -> &'static str {
        ["gemm", "depthwise", "gemv"][self.index()]
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// A family's table of kernels (one per path).
pub trait Table: Sync + 'static {
    type Call: Call;
}

impl Table for F32Kernels {
    type Call = F32Call;
}

impl Table for I8Kernels {
    type Call = I8Call;
}

/// One path of a family.
pub struct PathDef<K> {
    pub name: &'static str,
    /// What the CPU must have to run it.
    pub needs: &'static [Feature],
    /// The path's kernels, when this build targets its architecture.
    kernels: Option<K>,
}

impl<K> PathDef<K> {
    pub fn compiled(&self) -> bool {
        self.kernels.is_some()
    }
}

/// `Some(kernels)` when this build targets `x86_64`, else `None` (the path stays described).
macro_rules! x86_64 {
    ($kernels:expr) => {{
        #[cfg(target_arch = "x86_64")]
        let kernels = Some($kernels);
        #[cfg(not(target_arch = "x86_64"))]
        let kernels = None;
        kernels
    }};
}

/// `Some(kernels)` when this build targets `aarch64`, else `None` (the path stays described).
macro_rules! aarch64 {
    ($kernels:expr) => {{
        #[cfg(target_arch = "aarch64")]
        let kernels = Some($kernels);
        #[cfg(not(target_arch = "aarch64"))]
        let kernels = None;
        kernels
    }};
}

static F32_PATHS: [PathDef<F32Kernels>; 4] = [
    PathDef {
        name: "avx512",
        needs: &[Avx512f, Avx2, Fma],
        kernels: x86_64!(F32Kernels {
            gemm: micro::x86::AVX512,
            gather2: gather::x86::gather2_avx512,
            winograd: Some(winograd::AVX512),
            depthwise: depthwise::x86::channel_avx512,
            depthwise_split: Some(depthwise::x86::split_avx512),
            depthwise_direct: Some(depthwise::x86::direct3x3_avx512),
            pooling: pooling::x86::AVX512,
            lrn: lrn::x86::channel_avx512,
            histogram: histogram::x86::AVX512,
        }),
    },
    PathDef {
        name: "avx2",
        needs: &[Avx2, Fma],
        kernels: x86_64!(F32Kernels {
            gemm: micro::x86::AVX2,
            gather2: gather::x86::gather2_avx2,
            winograd: Some(winograd::AVX2),
            depthwise: depthwise::x86::channel_avx2,
            depthwise_split: Some(depthwise::x86::split_avx2),
            depthwise_direct: None,
            pooling: pooling::x86::AVX2,
            lrn: lrn::x86::channel_avx2,
            histogram: histogram::x86::AVX2,
        }),
    },
    PathDef {
        name: "neon",
        needs: &[Neon],
        kernels: aarch64!(F32Kernels {
            gemm: micro::arm::NEON,
            gather2: gather::arm::gather2_neon,
            winograd: Some(winograd::NEON),
            depthwise: depthwise::arm::channel_neon,
            depthwise_split: Some(depthwise::arm::split_neon),
            depthwise_direct: None,
            pooling: pooling::arm::NEON,
            lrn: lrn::arm::channel_neon,
            histogram: histogram::NEON,
        }),
    },
    PathDef {
        name: "reference",
        needs: &[],
        kernels: Some(F32Kernels {
            gemm: micro::REFERENCE,
            gather2: gather::gather2_reference,
            winograd: None,
            depthwise: depthwise_reference::channel_act,
            depthwise_split: None,
            depthwise_direct: None,
            pooling: pooling::REFERENCE,
            lrn: lrn::channel,
            histogram: histogram::REFERENCE,
        }),
    },
];

static I8_PATHS: [PathDef<I8Kernels>; 6] = [
    PathDef {
        name: "avx512vnni",
        needs: &[Fma, Avx512f, Avx512bw, Avx512vl, Avx512dq, Avx512vnni],
        kernels: x86_64!(I8Kernels {
            gemm: I8GemmFns::of::<super::gemm_i8::x86::Vnni512>(),
            finish_row: super::gemm_i8::x86::finish_row_avx512,
            quantize: super::gemm_i8::x86::quantize_avx512,
            gemv_rows: super::gemm_i8::x86::rows_vnni512,
            gemv_offset: true,
            depthwise_row: super::dw_i8::x86::row_avx512vnni,
            depthwise_plane: Some(super::dw_i8::x86::PLANE_VBMI),
            max_pool: super::pooling::int8_rows::x86::plane_avx512,
        }),
    },
    PathDef {
        name: "avxvnni",
        needs: &[Avx2, Fma, AvxVnni],
        kernels: x86_64!(I8Kernels {
            gemm: I8GemmFns::of::<super::gemm_i8::x86::AvxVnni>(),
            finish_row: super::gemm_i8::x86::finish_row_avx2,
            quantize: super::gemm_i8::x86::quantize_avx2,
            gemv_rows: super::gemm_i8::x86::rows_avxvnni,
            gemv_offset: true,
            depthwise_row: super::dw_i8::x86::row_avx2,
            depthwise_plane: None,
            max_pool: super::pooling::int8_rows::x86::plane_avx2,
        }),
    },
    PathDef {
        name: "avx2",
        needs: &[Avx2, Fma],
        kernels: x86_64!(I8Kernels {
            gemm: I8GemmFns::of::<super::gemm_i8::x86::Avx2>(),
            finish_row: super::gemm_i8::x86::finish_row_avx2,
            quantize: super::gemm_i8::x86::quantize_avx2,
            gemv_rows: super::gemm_i8::x86::rows_avx2,
            gemv_offset: false,
            depthwise_row: super::dw_i8::x86::row_avx2,
            depthwise_plane: None,
            max_pool: super::pooling::int8_rows::x86::plane_avx2,
        }),
    },
    PathDef {
        name: "dotprod",
        needs: &[Neon, Dotprod],
        kernels: aarch64!(I8Kernels {
            gemm: I8GemmFns::of::<super::gemm_i8::aarch64::Dotprod>(),
            finish_row: super::gemm_i8::aarch64::finish_row_neon,
            // NEON is the aarch64 baseline: the portable body already vectorizes there.
            quantize: i8_reference::quantize,
            gemv_rows: super::gemm_i8::aarch64::rows_dotprod,
            gemv_offset: false,
            depthwise_row: super::dw_i8::aarch64::row_neon,
            depthwise_plane: None,
            max_pool: super::pooling::int8_rows::plane_rows,
        }),
    },
    PathDef {
        name: "neon",
        needs: &[Neon],
        kernels: aarch64!(I8Kernels {
            gemm: I8GemmFns::of::<super::gemm_i8::aarch64::Neon>(),
            finish_row: super::gemm_i8::aarch64::finish_row_neon,
            quantize: i8_reference::quantize,
            gemv_rows: super::gemm_i8::aarch64::rows_neon,
            gemv_offset: false,
            depthwise_row: super::dw_i8::aarch64::row_neon,
            depthwise_plane: None,
            max_pool: super::pooling::int8_rows::plane_rows,
        }),
    },
    PathDef {
        name: "reference",
        needs: &[],
        kernels: Some(I8Kernels {
            gemm: I8GemmFns::plain(i8_reference::pack_a, i8_reference::packed_gemm),
            finish_row: i8_epilogue::finish_row_body,
            quantize: i8_reference::quantize,
            gemv_rows: i8_reference::dot_rows,
            gemv_offset: false,
            depthwise_row: dw_row::row_reference,
            depthwise_plane: None,
            max_pool: super::pooling::int8_rows::plane_reference,
        }),
    },
];

/// Every float kernel.
pub static F32: Family<F32Kernels> = Family::new("f32", "f32", "NCNNQ_KERNEL_F32", &F32_PATHS);
/// Every int8 kernel.
pub static I8: Family<I8Kernels> = Family::new("i8", "int8", "NCNNQ_KERNEL_I8", &I8_PATHS);

/// Every family, for the report and for checking `NCNNQ_KERNEL`.
pub static FAMILIES: [&dyn AnyFamily; 2] = [&F32, &I8];

pub type F32Path = Path<F32Kernels>;
pub type I8Path = Path<I8Kernels>;

const MAX_PATHS: usize = 8;
const MAX_CALLS: usize = 4;

/// A kernel family: its paths, best first, the portable one last.
pub struct Family<K: Table> {
    name: &'static str,
    /// How messages name the family.
    title: &'static str,
    var: &'static str,
    paths: &'static [PathDef<K>],
    chosen: OnceLock<Path<K>>,
    calls: [[AtomicU64; MAX_CALLS]; MAX_PATHS],
}

impl<K: Table> Family<K> {
    const fn new(name: &'static str, title: &'static str, var: &'static str, paths: &'static [PathDef<K>]) -> Self {
        assert!(paths.len() <= MAX_PATHS && K::Call::ALL.len() <= MAX_CALLS);
        Family {
            name,
            title,
            var,
            paths,
            chosen: OnceLock::new(),
            calls: [const { [const { AtomicU64::new(0) }; MAX_CALLS] }; MAX_PATHS],
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The variable that forces this family's path.
    pub fn var(&self) -> &'static str {
        self.var
    }

    /// Every path of every architecture, best first.
    pub fn paths(&self) -> &'static [PathDef<K>] {
        self.paths
    }

    /// Path `index`, if this build has it and this CPU runs it.
    fn runnable(&'static self, index: usize, cpu: CpuFeatures) -> Option<Path<K>> {
        let def = &self.paths[index];
        let kernels = def.kernels.as_ref()?;
        cpu.has_all(def.needs).then_some(Path { family: self, index, kernels })
    }

    /// Every path this CPU runs, best first (the reference last): what tests compare.
    pub fn available(&'static self) -> Vec<Path<K>> {
        (0..self.paths.len()).filter_map(|i| self.runnable(i, cpu_features())).collect()
    }

    /// The fastest path this CPU runs.
    pub fn best(&'static self) -> Path<K> {
        *self.available().first().expect("every family ends with the portable reference")
    }

    /// The portable reference, the path every other one is tested against.
    pub fn reference(&'static self) -> Path<K> {
        *self.available().last().expect("every family ends with the portable reference")
    }

    /// Whether a variable asks for one of this family's paths (the choice may still fall back).
    pub fn forced(&self) -> bool {
        request(self.var).is_some() || request(GLOBAL_VAR).is_some_and(|v| self.index_of(&v).is_some())
    }

    /// The path of that name, if this CPU runs it.
    pub fn get(&'static self, name: &str) -> Option<Path<K>> {
        self.available().into_iter().find(|p| p.name() == name)
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.paths.iter().position(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The path of this process, chosen once (see the module notes for the variables).
    pub fn selected(&'static self) -> Path<K> {
        *self.chosen.get_or_init(|| {
            let (path, warning) = self.choose(request(self.var).as_deref(), global_request());
            if let Some(w) = warning {
                eprintln!("ncnnq: {w}");
            }
            if request("NCNNQ_LOG").is_some_and(|v| v != "0") {
                eprintln!("ncnnq: {} kernels use the {path} path", self.title);
            }
            path
        })
    }

    /// The path for a family variable's value and `NCNNQ_KERNEL`'s, with the warning to print.
    fn choose(&'static self, specific: Option<&str>, global: Option<&str>) -> (Path<K>, Option<String>) {
        let best = self.best();
        let (var, name) = match (specific, global) {
            (Some(s), _) => (self.var, s),
            (None, Some(g)) if self.index_of(g).is_some() => (GLOBAL_VAR, g),
            _ => return (best, None),
        };
        let title = self.title;
        if let Some(i) = self.index_of(name) {
            if let Some(path) = self.runnable(i, cpu_features()) {
                (path, None)
            } else {
                let p = self.paths[i].name;
                (best, Some(format!("{var}={name}: this CPU or build cannot run the {title} path {p}; using {best}")))
            }
        } else {
            let names = self.paths.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
            (best, Some(format!("{var}={name} is not a {title} path ({names}); using {best}")))
        }
    }

    /// (call kind, path, calls) for every kernel of this family that ran at least once.
    pub fn calls(&'static self) -> Vec<(K::Call, &'static str, u64)> {
        let mut out = Vec::new();
        for &call in K::Call::ALL {
            for (i, def) in self.paths.iter().enumerate() {
                let n = self.calls[i][call.index()].load(Ordering::Relaxed);
                if n > 0 {
                    out.push((call, def.name, n));
                }
            }
        }
        out
    }
}

/// What `selected_paths()` and `ncnnq.kernel_info()` report of a family.
#[derive(Clone, Debug)]
pub struct FamilyReport {
    pub family: &'static str,
    pub var: &'static str,
    pub chosen: &'static str,
    /// Every path compiled for this target, best first (the last one portable): (name, needed features).
    pub paths: Vec<(&'static str, &'static [Feature])>,
}

/// A family whatever its table type.
pub trait AnyFamily: Sync {
    fn report(&'static self) -> FamilyReport;
    fn has_path(&self, name: &str) -> bool;
}

impl<K: Table> AnyFamily for Family<K> {
    fn report(&'static self) -> FamilyReport {
        FamilyReport {
            family: self.name,
            var: self.var,
            chosen: self.selected().name(),
            paths: self.paths.iter().filter(|p| p.compiled()).map(|p| (p.name, p.needs)).collect(),
        }
    }

    fn has_path(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }
}

/// Every family's choice and paths.
pub fn selected_paths() -> Vec<FamilyReport> {
    FAMILIES.iter().map(|f| f.report()).collect()
}

/// A variable's non-empty value.
fn request(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// `NCNNQ_KERNEL`, read once; a name that is no family's path is reported once, here.
fn global_request() -> Option<&'static str> {
    static GLOBAL: OnceLock<Option<String>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| {
            let value = request(GLOBAL_VAR)?;
            if !FAMILIES.iter().any(|f| f.has_path(&value)) {
                eprintln!("ncnnq: {GLOBAL_VAR}={value} is no kernel family's path; ignored");
            }
            Some(value)
        })
        .as_deref()
}

/// A path this CPU runs, of family `K`. Only dispatch makes these, so the kernels reached through
/// one may use its instructions.
pub struct Path<K: Table> {
    family: &'static Family<K>,
    index: usize,
    kernels: &'static K,
}

impl<K: Table> Path<K> {
    pub fn name(self) -> &'static str {
        self.family.paths[self.index].name
    }

    pub fn needs(self) -> &'static [Feature] {
        self.family.paths[self.index].needs
    }

    pub fn family(self) -> &'static Family<K> {
        self.family
    }

    /// The path's kernels; calling them is sound because this CPU runs the path.
    pub fn kernels(self) -> &'static K {
        self.kernels
    }

    /// Counts one call of a kernel of this path.
    pub fn count(self, call: K::Call) {
        self.family.calls[self.index][call.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// How many times this path's `call` kernel has run in this process.
    pub fn calls(self, call: K::Call) -> u64 {
        self.family.calls[self.index][call.index()].load(Ordering::Relaxed)
    }
}

impl<K: Table> Clone for Path<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Table> Copy for Path<K> {}

impl<K: Table> PartialEq for Path<K> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.family, other.family) && self.index == other.index
    }
}

impl<K: Table> Eq for Path<K> {}

impl<K: Table> std::fmt::Display for Path<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl<K: Table> std::fmt::Debug for Path<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.family.name, self.name())
    }
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
        let forced = std::env::vars().any(|(k, _)| k.starts_with(GLOBAL_VAR));
        let reports = selected_paths();
        assert_eq!(reports.iter().map(|r| r.family).collect::<Vec<_>>(), ["f32", "i8"]);
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

    /// The family's variable wins over `NCNNQ_KERNEL`, which applies only to families with a path
    /// of its name; unknown and unrunnable names fall back to the best path with a warning.
    fn forcing_rules<K: Table>(family: &'static Family<K>, other_familys_path: &str) {
        let (best, reference) = (family.best(), family.reference());
        assert_eq!(family.choose(None, None), (best, None));
        assert_eq!(family.choose(Some("reference"), None), (reference, None));
        assert_eq!(family.choose(Some("REFERENCE"), Some(best.name())).0, reference);
        assert_eq!(family.choose(None, Some("reference")), (reference, None));
        assert_eq!(family.choose(None, Some(other_familys_path)), (best, None), "{}", family.name);
        let (path, warning) = family.choose(Some("nonsense"), None);
        assert_eq!(path, best);
        assert!(warning.unwrap().contains(&format!("{}=nonsense is not a", family.var)));
        // Another architecture's path: described, so it can be named, but never runnable here.
        let foreign = family.paths().iter().find(|p| !p.compiled()).expect("a path of another architecture").name;
        for (specific, global, var) in [(Some(foreign), None, family.var), (None, Some(foreign), GLOBAL_VAR)] {
            let (path, warning) = family.choose(specific, global);
            assert_eq!(path, best);
            assert!(warning.unwrap().starts_with(&format!("{var}={foreign}: this CPU or build cannot run")));
        }
    }

    #[test]
    fn forcing_rules_of_every_family() {
        forcing_rules(&F32, "dotprod");
        forcing_rules(&I8, "avx512");
    }

    /// What a family's description must satisfy: unique names, the portable reference last and
    /// built everywhere, this architecture's paths needing only this architecture's features, and
    /// handles only for paths this CPU runs.
    fn well_formed<K: Table>(family: &'static Family<K>) {
        let names: Vec<_> = family.paths().iter().map(|p| p.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{}: duplicate path names {names:?}", family.name);
        let last = family.paths().last().expect("paths");
        assert!(last.name == "reference" && last.needs.is_empty() && last.compiled(), "{}", family.name);
        let this_arch: &[Feature] = if cfg!(target_arch = "x86_64") {
            &[Avx2, Fma, F16c, Avx512f, Avx512bw, Avx512vl, Avx512dq, Avx512vnni, AvxVnni]
        } else {
            &[Neon, Dotprod, I8mm]
        };
        for p in family.paths().iter().filter(|p| p.compiled()) {
            assert!(p.needs.iter().all(|f| this_arch.contains(f)), "{}: {} needs {:?}", family.name, p.name, p.needs);
        }
        for p in family.available() {
            assert!(cpu_features().has_all(p.needs()), "{}: a handle for {p}, which this CPU cannot run", family.name);
            assert_eq!(family.get(p.name()), Some(p));
        }
        assert_eq!(family.reference().name(), "reference");
    }

    #[test]
    fn every_family_is_well_formed() {
        well_formed(&F32);
        well_formed(&I8);
    }

    /// Winograd's transforms have the lanes of their path's microkernel: a path has both or neither.
    #[test]
    fn f32_winograd_comes_with_a_microkernel() {
        for p in F32.paths() {
            if let Some(k) = &p.kernels {
                assert_eq!(k.winograd.is_some(), k.gemm.micro.is_some(), "{}", p.name);
            }
        }
    }

    #[test]
    fn calls_are_counted_per_path_and_kind() {
        let path = I8.reference();
        let before = path.calls(I8Call::Gemv);
        path.count(I8Call::Gemv);
        assert!(path.calls(I8Call::Gemv) > before);
        let listed = I8.calls().into_iter().find(|&(c, p, _)| c == I8Call::Gemv && p == "reference");
        assert!(listed.is_some_and(|(_, _, n)| n > before), "{listed:?}");
    }
}
