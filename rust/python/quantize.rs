//! Quantizer glue: a Model and a table's scales in, the int8 Model and its typed report out.

use super::errors::IntoPyResult;
use super::model::PyModel;
use crate::quantize::{self, Report, ScaleTable};
use pyo3::prelude::*;
use std::collections::BTreeMap;

/// What `ncnnq int8` did to each layer.
#[pyclass(name = "QuantizeReport", module = "ncnnq._native", frozen)]
pub struct PyQuantizeReport {
    report: Report,
}

impl From<Report> for PyQuantizeReport {
    fn from(report: Report) -> Self {
        PyQuantizeReport { report }
    }
}

#[pymethods]
impl PyQuantizeReport {
    /// (layer, type) of every layer given int8 weights.
    #[getter]
    fn quantized(&self) -> Vec<(String, String)> {
        self.report.quantized.clone()
    }

    /// (layer, reason) of Convolution/ConvolutionDepthWise/InnerProduct layers left in float.
    #[getter]
    fn kept_float(&self) -> Vec<(String, String)> {
        self.report.kept_float.clone()
    }

    /// Layers whose int8 output feeds int8 convolutions directly (+100).
    #[getter]
    fn requantized(&self) -> Vec<String> {
        self.report.requantized.clone()
    }

    /// Findings that did not stop quantization.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.report.warnings.clone()
    }

    fn __repr__(&self) -> String {
        let r = &self.report;
        format!(
            "QuantizeReport(quantized={}, requantized={}, kept_float={:?}, warnings={})",
            r.quantized.len(),
            r.requantized.len(),
            r.kept_float.iter().map(|(l, _)| l).collect::<Vec<_>>(),
            r.warnings.len()
        )
    }
}

/// Rewrites `model` into its int8 form with the table's scales ({key: scales}, {layer: scale}).
/// Returns (int8 model, report). Raises `InputError` listing every way the table does not fit.
#[pyfunction]
pub fn quantize_model(
    py: Python<'_>,
    model: &Bound<'_, PyModel>,
    weights: BTreeMap<String, Vec<f32>>,
    activations: BTreeMap<String, f32>,
) -> PyResult<(PyModel, PyQuantizeReport)> {
    let table = ScaleTable { weights, activations };
    let graph = model.get().read();
    let (out, report) = py.detach(|| quantize::quantize(&graph, &table)).py()?;
    Ok((PyModel::new(out), report.into()))
}
