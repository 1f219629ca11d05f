//! `ncnnq._native.Net`: the engine seen from Python. Inputs are read from numpy arrays, outputs
//! handed back as numpy arrays that own the engine's buffers (no copy); the GIL is released
//! while the network runs.

use super::errors::IntoPyResult;
use super::model::PyModel;
use crate::base::alloc;
use crate::engine::{self, Shape, Tensor};
use crate::error::Error;
use crate::model;
use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

#[pyclass(name = "Net", module = "ncnnq._native", frozen)]
pub struct PyNet {
    net: engine::Net,
}

impl PyNet {
    /// A Net around an engine net built elsewhere (e.g. by the network probe).
    pub fn from_engine(net: engine::Net) -> PyNet {
        PyNet { net }
    }
}

pub fn tensor_from_numpy(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let array = value.cast::<numpy::PyArrayDyn<f32>>().map_err(|_| {
        super::errors::to_py(Error::input(format!(
            "input {name:?} must be a float32 numpy array (use np.asarray(x, dtype=np.float32))"
        )))
    })?;
    if !array.is_c_contiguous() {
        return Err(Error::input(format!("input {name:?} is not C-contiguous (use np.ascontiguousarray(x))"))).py();
    }
    let shape = Shape::from_numpy(array.shape()).py()?;
    let readonly = array.readonly();
    let values = readonly.as_slice().map_err(|e| PyErr::new::<pyo3::exceptions::PyValueError, _>(e.to_string()))?;
    // A copy: Python code could write to the array while the GIL is released.
    Ok(Tensor::new(shape, alloc::copy(values).py()?))
}

pub fn tensor_to_numpy(py: Python<'_>, t: Tensor) -> PyResult<Bound<'_, PyAny>> {
    let dims = t.shape.to_numpy();
    let flat = PyArray1::from_vec(py, t.into_f32());
    Ok(flat.reshape(dims)?.into_any())
}

#[pymethods]
impl PyNet {
    /// Builds a net from a Model or from files. Unsupported layer types are reported here.
    #[new]
    #[pyo3(signature = (model, bin=None, threads=1))]
    fn new(py: Python<'_>, model: &Bound<'_, PyAny>, bin: Option<PathBuf>, threads: i64) -> PyResult<Self> {
        let options = engine::NetOptions { threads: engine::thread_count(threads).py()? };
        if let Ok(m) = model.cast::<PyModel>() {
            if bin.is_some() {
                return Err(Error::input("pass either a Model or a param path with its bin, not both")).py();
            }
            let graph = m.get().read();
            let net = py.detach(|| engine::Net::new(&graph, &options)).py()?;
            return Ok(PyNet { net });
        }
        let param: PathBuf = model.extract()?;
        let net =
            py.detach(|| model::load(&param, bin.as_deref()).and_then(|g| engine::Net::new(&g, &options))).py()?;
        Ok(PyNet { net })
    }

    #[getter]
    fn threads(&self) -> usize {
        self.net.threads()
    }

    /// Runs the network on {blob name: float32 array} and returns {name: array} for `outputs`.
    /// Any blob can be fed or extracted, including intermediate ones.
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyDict>,
        outputs: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut fed = Vec::with_capacity(inputs.len());
        for (k, v) in inputs.iter() {
            let name: String = k.extract()?;
            let blob = self.net.blob_index(&name).py()?;
            fed.push((blob, tensor_from_numpy(&name, &v)?));
        }
        let wanted: Vec<usize> = outputs.iter().map(|n| self.net.blob_index(n)).collect::<Result<_, _>>().py()?;
        let results = py.detach(|| self.net.run(fed, &wanted)).py()?;
        let out = PyDict::new(py);
        for (name, t) in outputs.iter().zip(results) {
            out.set_item(name, tensor_to_numpy(py, t)?)?;
        }
        Ok(out)
    }
}
