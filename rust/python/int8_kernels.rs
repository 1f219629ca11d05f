//! Which kernel paths this process runs, seen from Python (tests, `ncnnq bench`, CI).

use crate::kernels::gemm_i8::{self, counters};
use pyo3::prelude::*;

/// The int8 kernel path chosen for this process (`NCNNQ_KERNEL_I8` forces one).
#[pyfunction]
pub fn int8_kernel() -> &'static str {
    gemm_i8::selected().name()
}

/// Every int8 path this CPU runs, best first.
#[pyfunction]
pub fn int8_kernels_available() -> Vec<&'static str> {
    gemm_i8::available_paths().into_iter().map(|p| p.name()).collect()
}

/// (kernel kind, path, calls) for every int8 kernel that has run in this process.
#[pyfunction]
pub fn kernel_calls() -> Vec<(&'static str, &'static str, u64)> {
    counters::snapshot().into_iter().map(|(kind, path, n)| (kind.name(), path.name(), n)).collect()
}
