//! `ncnnq._native.optimize`: the optimizer's passes seen from Python; the report as plain dicts
//! (typed in `ncnnq/optimize.py`).

use super::errors::IntoPyResult;
use super::model::PyModel;
use crate::optimize::{optimize as run_optimize, Counts, Options, Report, ShapeInference};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

fn counts_to_py<'py>(py: Python<'py>, c: &Counts) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("layers", c.layers)?;
    d.set_item("blobs", c.blobs)?;
    d.set_item("weight_bytes", c.weight_bytes)?;
    Ok(d)
}

fn report_to_py<'py>(py: Python<'py>, r: &Report) -> PyResult<Bound<'py, PyDict>> {
    let passes = PyList::empty(py);
    for p in &r.passes {
        let d = PyDict::new(py);
        d.set_item("name", p.name)?;
        d.set_item("fired", &p.log.fired)?;
        d.set_item("declined", &p.log.declined)?;
        passes.append(d)?;
    }
    let shape = PyDict::new(py);
    match &r.shape_inference {
        ShapeInference::Inferred { new_hints } => {
            shape.set_item("ran", true)?;
            shape.set_item("new_hints", new_hints)?;
            shape.set_item("reason", py.None())?;
        }
        ShapeInference::Skipped { reason } => {
            shape.set_item("ran", false)?;
            shape.set_item("new_hints", 0)?;
            shape.set_item("reason", reason)?;
        }
    }
    let d = PyDict::new(py);
    d.set_item("passes", passes)?;
    d.set_item("before", counts_to_py(py, &r.before)?)?;
    d.set_item("after", counts_to_py(py, &r.after)?)?;
    d.set_item("shape_inference", shape)?;
    d.set_item("notes", &r.notes)?;
    Ok(d)
}

/// Runs ncnnoptimize's passes; returns the optimized model and the report as a dict.
#[pyfunction]
#[pyo3(signature = (model, fp16=false, cut_start=None, cut_end=None, shape_inference=true))]
pub fn optimize<'py>(
    py: Python<'py>,
    model: &PyModel,
    fp16: bool,
    cut_start: Option<String>,
    cut_end: Option<String>,
    shape_inference: bool,
) -> PyResult<(PyModel, Bound<'py, PyDict>)> {
    let options = Options { fp16, cut_start, cut_end, no_shape_inference: !shape_inference };
    let graph = model.read();
    let (out, report) = py.detach(|| run_optimize(&graph, &options)).py()?;
    Ok((PyModel::new(out), report_to_py(py, &report)?))
}
