//! Which kernel paths this process runs, seen from Python (tests, `ncnnq bench`, CI under emulated
//! CPUs, users on a board): the CPU features detected, each family's dispatch, and the int8 kernel
//! calls made so far.

use crate::kernels::dispatch::{self, Call};
use crate::kernels::{self, cpu_features};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

#[pyfunction]
pub fn kernel_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let features = cpu_features();
    let info = PyDict::new(py);
    info.set_item("arch", std::env::consts::ARCH)?;
    info.set_item("features", features.names())?;
    let families = PyDict::new(py);
    for report in kernels::selected_paths() {
        let paths = PyList::empty(py);
        for (name, needs) in &report.paths {
            let path = PyDict::new(py);
            path.set_item("name", *name)?;
            path.set_item("needs", needs.iter().map(|f| f.name()).collect::<Vec<_>>())?;
            path.set_item("available", features.has_all(needs))?;
            paths.append(path)?;
        }
        let family = PyDict::new(py);
        family.set_item("var", report.var)?;
        family.set_item("chosen", report.chosen)?;
        family.set_item("paths", paths)?;
        families.set_item(report.family, family)?;
    }
    info.set_item("families", families)?;
    Ok(info)
}

/// The int8 kernel path chosen for this process (`NCNNQ_KERNEL_I8` forces one).
#[pyfunction]
pub fn int8_kernel() -> &'static str {
    dispatch::I8.selected().name()
}

/// Every int8 path this CPU runs, best first.
#[pyfunction]
pub fn int8_kernels_available() -> Vec<&'static str> {
    dispatch::I8.available().into_iter().map(dispatch::Path::name).collect()
}

/// (kernel kind, path, calls) for every int8 kernel that has run in this process.
#[pyfunction]
pub fn kernel_calls() -> Vec<(&'static str, &'static str, u64)> {
    dispatch::I8.calls().into_iter().map(|(call, path, n)| (call.name(), path, n)).collect()
}
