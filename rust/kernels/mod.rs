//! Compute kernels, one folder per family: a portable reference implementation of each op, SIMD
//! variants beside it, and the dispatch chosen once per process (see [`simd::selected`]).
//!
//! The NEON paths are tested on x86 hosts under qemu with Debian's cross toolchain. Link
//! statically: with the dynamic cross glibc, qemu-user 7.2 hangs in `pthread_create` here.
//!
//! ```text
//! RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=/tmp/aarch64 \
//! CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
//! CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
//! CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu" \
//! /usr/bin/cargo test --target aarch64-unknown-linux-gnu --lib kernels
//! ```

pub mod conv_depthwise;
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
