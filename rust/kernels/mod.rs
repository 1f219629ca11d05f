//! Compute kernels, one folder per kernel: a portable reference implementation of each op, SIMD
//! variants beside it, each entry point taking the path to run. [`dispatch`] is the one place that
//! knows the paths: two families, `f32` (every float kernel) and `i8` (every int8 kernel), each a
//! ladder of paths with what each needs of the CPU ([`cpu`], detected once) and the table of
//! functions each runs, resolved once per process (`NCNNQ_KERNEL_F32`, `NCNNQ_KERNEL_I8` force a
//! family's path, `NCNNQ_KERNEL` every family's that has one of that name). [`selected_paths`]
//! reports each family's choice.
//!
//! Inside a kernel folder, files import downward only: operand types and the vector trait
//! ([`simd`]) at the bottom, then the reference and the SIMD entry points, then dispatch, then the
//! driver in `mod.rs` that layers call (`source_checks` tests hold the folder to that: no import
//! circle, and no `match` on a path outside dispatch).
//!
//! Every `unsafe fn` of a SIMD path has one contract: the CPU runs the path (dispatch checked it
//! once) and the pointers and slices it is given cover what it reads and writes, as its signature
//! or its trait documents. A body of intrinsics under that contract is one `unsafe {}` block
//! (`unsafe_op_in_unsafe_fn` is denied crate-wide); narrower blocks say why with `// SAFETY:`.
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
pub mod copy;
pub mod cpu;
pub mod dispatch;
pub mod dw_i8;
pub mod gemm_f32;
pub mod gemm_i8;
pub mod histogram;
pub mod lrn;
pub mod pooling;
pub(crate) mod row_copy;
pub mod simd;
pub mod winograd;

#[cfg(test)]
mod source_checks;
#[cfg(test)]
pub(crate) mod testutil;

pub use cpu::{cpu_features, Feature};
pub use dispatch::{selected_paths, FamilyReport};
