//! `ncnnq._native.optimize`: the optimizer's passes seen from Python, with the typed report.

use super::errors::IntoPyResult;
use super::model::PyModel;
use crate::error::Error;
use crate::optimize::{optimize as run_optimize, Counts, Options, PassReport, Report, ShapeInference};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// One pass: each match it rewrote (layer names, the surviving layer first) and the matches it
/// declined where ncnn would have rewritten and computed something else (with the reason).
#[pyclass(name = "PassResult", module = "ncnnq._native", frozen)]
pub struct PyPassResult {
    pass: PassReport,
}

#[pymethods]
impl PyPassResult {
    #[getter]
    fn name(&self) -> &'static str {
        self.pass.name
    }

    #[getter]
    fn fired<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        self.pass.log.fired.iter().map(|f| PyTuple::new(py, f)).collect()
    }

    #[getter]
    fn declined(&self) -> Vec<String> {
        self.pass.log.declined.clone()
    }

    /// How many times the pass fired.
    #[getter]
    fn count(&self) -> usize {
        self.pass.log.fired.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "PassResult(name={:?}, fired={:?}, declined={:?})",
            self.pass.name, self.pass.log.fired, self.pass.log.declined
        )
    }
}

/// Layers, blobs and the size of the `.bin` the model is written as.
#[pyclass(name = "Counts", module = "ncnnq._native", frozen)]
pub struct PyCounts {
    counts: Counts,
}

#[pymethods]
impl PyCounts {
    #[getter]
    fn layers(&self) -> usize {
        self.counts.layers
    }

    #[getter]
    fn blobs(&self) -> usize {
        self.counts.blobs
    }

    #[getter]
    fn weight_bytes(&self) -> usize {
        self.counts.weight_bytes
    }

    fn __repr__(&self) -> String {
        let c = &self.counts;
        format!("Counts(layers={}, blobs={}, weight_bytes={})", c.layers, c.blobs, c.weight_bytes)
    }
}

/// Whether shape inference ran; if not (`reason`), existing hints were kept and none added.
#[pyclass(name = "ShapeInferenceResult", module = "ncnnq._native", frozen)]
pub struct PyShapeInference {
    result: ShapeInference,
}

#[pymethods]
impl PyShapeInference {
    #[getter]
    fn ran(&self) -> bool {
        matches!(self.result, ShapeInference::Inferred { .. })
    }

    #[getter]
    fn new_hints(&self) -> usize {
        match self.result {
            ShapeInference::Inferred { new_hints } => new_hints,
            ShapeInference::Skipped { .. } => 0,
        }
    }

    #[getter]
    fn reason(&self) -> Option<String> {
        match &self.result {
            ShapeInference::Inferred { .. } => None,
            ShapeInference::Skipped { reason } => Some(reason.clone()),
        }
    }

    fn __repr__(&self) -> String {
        format!("ShapeInferenceResult(ran={}, new_hints={}, reason={:?})", self.ran(), self.new_hints(), self.reason())
    }
}

/// What `ncnnq optimize` did: every pass in order, the counts before and after, shape inference.
#[pyclass(name = "OptimizeReport", module = "ncnnq._native", frozen)]
pub struct PyOptimizeReport {
    report: Report,
}

#[pymethods]
impl PyOptimizeReport {
    #[getter]
    fn passes(&self) -> Vec<PyPassResult> {
        self.report.passes.iter().map(|p| PyPassResult { pass: p.clone() }).collect()
    }

    #[getter]
    fn before(&self) -> PyCounts {
        PyCounts { counts: self.report.before }
    }

    #[getter]
    fn after(&self) -> PyCounts {
        PyCounts { counts: self.report.after }
    }

    #[getter]
    fn shape_inference(&self) -> PyShapeInference {
        PyShapeInference { result: self.report.shape_inference.clone() }
    }

    #[getter]
    fn notes(&self) -> Vec<String> {
        self.report.notes.clone()
    }

    /// The passes that rewrote something, in pass order.
    #[getter]
    fn fired(&self) -> Vec<PyPassResult> {
        self.report
            .passes
            .iter()
            .filter(|p| !p.log.fired.is_empty())
            .map(|p| PyPassResult { pass: p.clone() })
            .collect()
    }

    /// Every rewrite declined where ncnnoptimize would have made it, prefixed by its pass.
    #[getter]
    fn declined(&self) -> Vec<String> {
        self.report.passes.iter().flat_map(|p| p.log.declined.iter().map(move |d| format!("{}: {d}", p.name))).collect()
    }

    /// The pass named `name` (`InputError` if there is none).
    fn pass_result(&self, name: &str) -> PyResult<PyPassResult> {
        match self.report.passes.iter().find(|p| p.name == name) {
            Some(p) => Ok(PyPassResult { pass: p.clone() }),
            None => Err(Error::input(format!("no optimizer pass named {name:?}"))).py(),
        }
    }

    fn __repr__(&self) -> String {
        let r = &self.report;
        format!(
            "OptimizeReport(fired={:?}, layers {} -> {}, declined={})",
            r.passes.iter().filter(|p| !p.log.fired.is_empty()).map(|p| p.name).collect::<Vec<_>>(),
            r.before.layers,
            r.after.layers,
            r.passes.iter().map(|p| p.log.declined.len()).sum::<usize>()
        )
    }
}

/// Runs ncnnoptimize's passes; returns the optimized model and the report.
#[pyfunction]
#[pyo3(signature = (model, fp16=false, cut_start=None, cut_end=None, shape_inference=true))]
pub fn optimize(
    py: Python<'_>,
    model: &PyModel,
    fp16: bool,
    cut_start: Option<String>,
    cut_end: Option<String>,
    shape_inference: bool,
) -> PyResult<(PyModel, PyOptimizeReport)> {
    let options = Options { fp16, cut_start, cut_end, no_shape_inference: !shape_inference };
    let graph = model.read();
    let (out, report) = py.detach(|| run_optimize(&graph, &options)).py()?;
    Ok((PyModel::new(out), PyOptimizeReport { report }))
}
