//! PyO3 glue only: converts numpy <-> slices and errors -> exceptions. No logic lives here.

mod errors;
mod model;
mod net;
mod optimize;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::PyModel>()?;
    m.add_class::<model::PyLayer>()?;
    m.add_class::<net::PyNet>()?;
    m.add_function(wrap_pyfunction!(optimize::optimize, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
