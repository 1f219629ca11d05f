//! PyO3 glue only: converts numpy <-> slices and errors -> exceptions. No logic lives here.

// PyO3 extracts arguments as owned values (paths, lists, array views) and `map_err` hands errors
// over by value: the signatures follow PyO3, not what each body consumes.
#![allow(clippy::needless_pass_by_value)]

mod calib;
mod errors;
mod kernels;
mod model;
mod net;
mod optimize;
mod output;
mod probe;
mod quantize;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::PyModel>()?;
    m.add_class::<model::PyLayer>()?;
    m.add_class::<net::PyNet>()?;
    m.add_class::<calib::PyStatsCollector>()?;
    m.add_class::<calib::PyBlobStats>()?;
    m.add_class::<probe::PyLayerProbe>()?;
    m.add_class::<probe::PyPatches>()?;
    m.add_class::<probe::PyNetworkProbe>()?;
    m.add_class::<quantize::PyQuantizeReport>()?;
    m.add_class::<optimize::PyOptimizeReport>()?;
    m.add_class::<optimize::PyPassResult>()?;
    m.add_class::<optimize::PyCounts>()?;
    m.add_class::<optimize::PyShapeInference>()?;
    m.add_function(wrap_pyfunction!(calib::from_pixels, m)?)?;
    m.add_function(wrap_pyfunction!(quantize::quantize_model, m)?)?;
    m.add_function(wrap_pyfunction!(optimize::optimize, m)?)?;
    m.add_function(wrap_pyfunction!(output::check_outputs, m)?)?;
    m.add_function(wrap_pyfunction!(output::write_outputs, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::kernel_info, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::int8_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::int8_kernels_available, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::kernel_calls, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_THREADS", crate::engine::MAX_THREADS)?;
    Ok(())
}
