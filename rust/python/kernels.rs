//! `ncnnq._native.kernel_info()`: which CPU features were detected and which path each kernel
//! family runs, so that users (and CI under emulated CPUs) can see the dispatch of this build.

use crate::kernels;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

#[pyfunction]
pub fn kernel_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let features = kernels::cpu_features();
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
        family.set_item("chosen", report.chosen)?;
        family.set_item("paths", paths)?;
        families.set_item(report.family, family)?;
    }
    info.set_item("families", families)?;
    Ok(info)
}
