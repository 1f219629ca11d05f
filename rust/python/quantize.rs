//! Quantizer glue: a Model and a table's scales in, the int8 Model and a report out.

use super::errors::IntoPyResult;
use super::model::PyModel;
use crate::quantize::{self, ScaleTable};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;

/// Rewrites `model` into its int8 form with the table's scales ({key: scales}, {layer: scale}).
/// Returns (int8 model, report dict). Raises `InputError` listing every way the table does not fit.
#[pyfunction]
pub fn quantize_model<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyModel>,
    weights: BTreeMap<String, Vec<f32>>,
    activations: BTreeMap<String, f32>,
) -> PyResult<(PyModel, Bound<'py, PyDict>)> {
    let table = ScaleTable { weights, activations };
    let graph = model.get().read();
    let (out, report) = py.detach(|| quantize::quantize(&graph, &table)).py()?;
    let d = PyDict::new(py);
    d.set_item("quantized", report.quantized)?;
    d.set_item("kept_float", report.kept_float)?;
    d.set_item("requantized", report.requantized)?;
    d.set_item("warnings", report.warnings)?;
    Ok((PyModel::new(out), d))
}
