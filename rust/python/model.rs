//! `ncnnq._native.Model` and `Layer`: the codec's graph seen from Python. Weight arrays are handed
//! out as read-only numpy views whose owner is the Model, so large models are never copied.
//! Weight buffers are never reallocated in place (edits copy into them or build a new Model),
//! which is what keeps those views valid.

use super::errors::IntoPyResult;
use crate::error::Error;
use crate::model::{self, random_weights, Graph, ParamFormat, ParamValue, Storage, WeightData};
use numpy::ndarray::ArrayView1;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::PoisonError;

/// (dims, w, h, d, c)
type ShapeTuple = (i32, i32, i32, i32, i32);

#[pyclass(name = "Model", module = "ncnnq._native", frozen)]
pub struct PyModel {
    pub graph: std::sync::RwLock<Graph>,
}

impl PyModel {
    pub fn new(graph: Graph) -> Self {
        PyModel { graph: std::sync::RwLock::new(graph) }
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Graph> {
        self.graph.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Graph> {
        self.graph.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn parse_storage(storage: &str) -> PyResult<Storage> {
    match storage {
        "keep" => Ok(Storage::Keep),
        "fp32" => Ok(Storage::F32),
        "fp16" => Ok(Storage::F16),
        other => Err(Error::input(format!("storage must be 'keep', 'fp32' or 'fp16', not {other:?}"))).py(),
    }
}

pub fn param_to_py<'py>(py: Python<'py>, v: &ParamValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        ParamValue::Int(i) => i.into_pyobject(py)?.into_any(),
        ParamValue::Float(f) => f.into_pyobject(py)?.into_any(),
        ParamValue::IntArray(a) => PyList::new(py, a)?.into_any(),
        ParamValue::FloatArray(a) => PyList::new(py, a)?.into_any(),
        ParamValue::Str(s) => PyString::new(py, s).into_any(),
    })
}

fn param_from_py(v: &Bound<'_, PyAny>) -> PyResult<ParamValue> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(Error::input("parameter values are int, float, str or a list of numbers, not bool")).py();
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(ParamValue::Int(v.extract()?));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(ParamValue::Float(v.extract()?));
    }
    if let Ok(s) = v.extract::<String>() {
        return Ok(ParamValue::Str(s));
    }
    let items: Vec<Bound<'_, PyAny>> = v.try_iter()?.collect::<PyResult<_>>()?;
    if items.iter().all(PyAnyMethods::is_instance_of::<PyInt>) {
        return Ok(ParamValue::IntArray(items.iter().map(PyAnyMethods::extract).collect::<PyResult<_>>()?));
    }
    Ok(ParamValue::FloatArray(items.iter().map(PyAnyMethods::extract).collect::<PyResult<_>>()?))
}

#[pymethods]
impl PyModel {
    /// Loads a `.param` (text or binary) and optionally its `.bin`.
    #[staticmethod]
    #[pyo3(signature = (param, bin=None))]
    fn load(py: Python<'_>, param: PathBuf, bin: Option<PathBuf>) -> PyResult<Self> {
        let graph = py.detach(|| model::load(&param, bin.as_deref())).py()?;
        Ok(PyModel::new(graph))
    }

    /// Parses a model from bytes (`bin` optional); `name` is used in error messages.
    #[staticmethod]
    #[pyo3(signature = (param, bin=None, name="<memory>"))]
    fn from_bytes(param: &[u8], bin: Option<&[u8]>, name: &str) -> PyResult<Self> {
        let mut graph = model::parse_param(param, name).py()?;
        if let Some(bin) = bin {
            model::bin_file::read_weights(&mut graph, bin, name).py()?;
        }
        Ok(PyModel::new(graph))
    }

    /// A copy of this model with every weight array replaced by seeded random values.
    #[pyo3(signature = (seed=7_767_517))]
    fn with_random_weights(&self, seed: u64) -> PyResult<Self> {
        let mut graph = self.read().clone();
        random_weights::fill_random_weights(&mut graph, seed).py()?;
        Ok(PyModel::new(graph))
    }

    /// Writes the model. `storage` applies to tagged float arrays: "keep", "fp32" or "fp16".
    #[pyo3(signature = (param, bin=None, storage="keep", binary=false))]
    fn save(&self, py: Python<'_>, param: PathBuf, bin: Option<PathBuf>, storage: &str, binary: bool) -> PyResult<()> {
        let storage = parse_storage(storage)?;
        let format = if binary { ParamFormat::Binary } else { ParamFormat::Text };
        let graph = self.read();
        py.detach(|| model::save(&graph, &param, bin.as_deref(), storage, format)).py()
    }

    /// The `.param` text this model would be saved as.
    fn param_text(&self) -> PyResult<String> {
        model::param_text::write(&self.read()).py()
    }

    /// The `.bin` bytes this model would be saved as.
    #[pyo3(signature = (storage="keep"))]
    fn bin_bytes<'py>(&self, py: Python<'py>, storage: &str) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let storage = parse_storage(storage)?;
        let bytes = model::bin_file::write_weights(&self.read(), storage).py()?;
        Ok(pyo3::types::PyBytes::new(py, &bytes))
    }

    #[getter]
    fn layers(slf: &Bound<'_, Self>) -> Vec<PyLayer> {
        let n = slf.get().read().layers.len();
        (0..n).map(|index| PyLayer { model: slf.clone().unbind(), index }).collect()
    }

    /// The layer with this name.
    fn layer(slf: &Bound<'_, Self>, name: &str) -> PyResult<PyLayer> {
        let index =
            slf.get().read().layer_index(name).ok_or_else(|| Error::input(format!("no layer named {name:?}"))).py()?;
        Ok(PyLayer { model: slf.clone().unbind(), index })
    }

    fn __len__(&self) -> usize {
        self.read().layers.len()
    }

    /// Blob names, in the order they are produced.
    #[getter]
    fn blobs(&self) -> Vec<String> {
        self.read().blobs.iter().map(|b| b.name.clone()).collect()
    }

    /// The `-23330` shape hint of a blob as (dims, w, h, d, c), or None.
    fn blob_shape(&self, name: &str) -> PyResult<Option<ShapeTuple>> {
        let g = self.read();
        let i = g.blob_index(name).ok_or_else(|| Error::input(format!("no blob named {name:?}"))).py()?;
        Ok(g.blobs[i].shape.map(|s| (s.dims, s.w, s.h, s.d, s.c)))
    }

    /// Names of the blobs produced by Input layers.
    #[getter]
    fn inputs(&self) -> Vec<String> {
        let g = self.read();
        g.inputs().iter().flat_map(|&l| g.layers[l].tops.iter().map(|&b| g.blobs[b].name.clone())).collect()
    }

    /// Names of the blobs no layer consumes.
    #[getter]
    fn outputs(&self) -> Vec<String> {
        let g = self.read();
        g.outputs().iter().map(|&b| g.blobs[b].name.clone()).collect()
    }

    /// Non-fatal findings from loading (ignored trailing layers, type-confused params, …).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.read().warnings.clone()
    }

    /// Raises `InputError` naming every layer name two layers share (with the file's lines):
    /// calibration tables key layers by name, so such a model cannot be calibrated or quantized.
    fn check_layer_names(&self) -> PyResult<()> {
        self.read().check_unique_layer_names().map_err(Error::input).py()
    }

    /// Whether every layer holds the weights its params describe.
    #[getter]
    fn has_weights(&self) -> bool {
        model::bin_file::check_weights(&self.read()).is_ok()
    }

    fn __repr__(&self) -> String {
        let g = self.read();
        format!("<ncnnq.Model: {} layers, {} blobs>", g.layers.len(), g.blobs.len())
    }
}

#[pyclass(name = "Layer", module = "ncnnq._native", frozen)]
pub struct PyLayer {
    model: Py<PyModel>,
    index: usize,
}

impl PyLayer {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&Graph, &model::Layer) -> R) -> R {
        let m = self.model.bind(py).get();
        let g = m.read();
        f(&g, &g.layers[self.index])
    }
}

#[pymethods]
impl PyLayer {
    #[getter]
    fn index(&self) -> usize {
        self.index
    }

    #[getter]
    fn r#type(&self, py: Python<'_>) -> String {
        self.with(py, |_, l| l.type_name.clone())
    }

    #[getter]
    fn name(&self, py: Python<'_>) -> String {
        self.with(py, |_, l| l.name.clone())
    }

    #[getter]
    fn bottoms(&self, py: Python<'_>) -> Vec<String> {
        self.with(py, |g, l| l.bottoms.iter().map(|&b| g.blobs[b].name.clone()).collect())
    }

    #[getter]
    fn tops(&self, py: Python<'_>) -> Vec<String> {
        self.with(py, |g, l| l.tops.iter().map(|&b| g.blobs[b].name.clone()).collect())
    }

    /// Parameters as written: {id: int | float | list | str}.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        self.with(py, |_, l| -> PyResult<()> {
            for (id, v) in l.params.iter() {
                d.set_item(id, param_to_py(py, v)?)?;
            }
            Ok(())
        })?;
        Ok(d)
    }

    /// A parameter's effective value (written, or its default), or None if it has none.
    fn param<'py>(&self, py: Python<'py>, id: u32) -> PyResult<Option<Bound<'py, PyAny>>> {
        let v = self.with(py, |_, l| match l.spec() {
            Some(spec) => model::layer_spec::effective(spec, &l.params, id),
            None => l.params.get(id).cloned(),
        });
        v.map(|v| param_to_py(py, &v)).transpose()
    }

    /// {id: name} for the parameters ncnn defines for this layer type.
    #[getter]
    fn param_names(&self, py: Python<'_>) -> Vec<(u32, &'static str)> {
        self.with(py, |_, l| l.spec().map(|s| s.params.iter().map(|p| (p.id, p.name)).collect()).unwrap_or_default())
    }

    /// {id: infix text} of the shape expressions this layer holds (`96 // @0.n`: `@k` is the
    /// layer's k-th input); a parameter that does not parse is left out.
    #[getter]
    fn expressions(&self, py: Python<'_>) -> BTreeMap<u32, String> {
        self.with(py, |_, l| {
            model::expression::layer_expressions(&l.type_name, &l.params)
                .map(|list| list.into_iter().map(|(id, _, e)| (id, e.infix())).collect())
                .unwrap_or_default()
        })
    }

    /// Ids of the parameters `ncnnq info` shows for this layer type.
    #[getter]
    fn key_params(&self, py: Python<'_>) -> Vec<u32> {
        self.with(py, |_, l| l.spec().map(|s| s.key_params.to_vec()).unwrap_or_default())
    }

    fn set_param(&self, py: Python<'_>, id: u32, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if id >= 30 {
            return Err(Error::input(format!("parameter id {id} is reserved or out of range 0..29"))).py();
        }
        let v = param_from_py(value)?;
        let m = self.model.bind(py).get();
        let mut g = m.write();
        let layer = &mut g.layers[self.index];
        let v = match layer.spec() {
            Some(spec) => model::layer_spec::coerce(spec, id, v)
                .map_err(|m| Error::layer(&layer.name, &layer.type_name, m))
                .py()?,
            None => v,
        };
        layer.params.set(id, v);
        Ok(())
    }

    /// Weight arrays as read-only numpy views ({name: array}); fp16 arrays have dtype float16,
    /// int8 arrays int8. A codebook array is decoded to float32.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let model = self.model.bind(py);
        let g = model.get().read();
        let d = PyDict::new(py);
        for w in &g.layers[self.index].weights {
            let owner = model.clone().into_any();
            // SAFETY: the views point into buffers owned by `model`, which the arrays keep alive
            // through their base object; the buffers are never reallocated (see module docs).
            let arr = unsafe {
                match &w.data {
                    WeightData::F32(v) => PyArray1::borrow_from_array(&ArrayView1::from(&v[..]), owner).into_any(),
                    WeightData::F16(v) => {
                        let halves = std::slice::from_raw_parts(v.as_ptr().cast::<half::f16>(), v.len());
                        PyArray1::borrow_from_array(&ArrayView1::from(halves), owner).into_any()
                    }
                    WeightData::I8(v) => PyArray1::borrow_from_array(&ArrayView1::from(&v[..]), owner).into_any(),
                    WeightData::Codebook { .. } => PyArray1::from_vec(py, w.data.to_f32()).into_any(),
                }
            };
            arr.call_method1("setflags", (false,))?;
            d.set_item(w.name, arr)?;
        }
        Ok(d)
    }

    /// {name: "fp32" | "fp16" | "int8" | "codebook"} for each weight array.
    #[getter]
    fn weight_storage(&self, py: Python<'_>) -> Vec<(&'static str, &'static str)> {
        self.with(py, |_, l| l.weights.iter().map(|w| (w.name, w.data.storage_name())).collect())
    }

    /// Copies values into an existing weight array (same length; converted to its storage).
    fn set_weight(&self, py: Python<'_>, name: &str, values: &Bound<'_, PyAny>) -> PyResult<()> {
        let values: Vec<f64> = match values.cast::<PyArray1<f64>>() {
            Ok(a) => a.to_vec()?,
            Err(_) => values.call_method0("ravel")?.call_method1("astype", ("float64",))?.extract::<Vec<f64>>()?,
        };
        let m = self.model.bind(py).get();
        let mut g = m.write();
        let layer = &mut g.layers[self.index];
        let (lname, ltype) = (layer.name.clone(), layer.type_name.clone());
        let w = layer
            .weight_mut(name)
            .ok_or_else(|| Error::layer(&lname, &ltype, format!("has no weight array {name:?}")))
            .py()?;
        if values.len() != w.data.len() {
            return Err(Error::layer(
                &lname,
                &ltype,
                format!("{name} holds {} values, got {}", w.data.len(), values.len()),
            ))
            .py();
        }
        match &mut w.data {
            WeightData::F32(v) => v.iter_mut().zip(&values).for_each(|(d, s)| *d = *s as f32),
            WeightData::F16(v) => {
                v.iter_mut().zip(&values).for_each(|(d, s)| *d = model::weights::f32_to_f16_bits(*s as f32));
            }
            WeightData::I8(v) => {
                if values.iter().any(|s| s.fract() != 0.0 || !(-128.0..=127.0).contains(s)) {
                    return Err(Error::layer(
                        &lname,
                        &ltype,
                        format!("{name} is int8: values must be integers in -128..127"),
                    ))
                    .py();
                }
                v.iter_mut().zip(&values).for_each(|(d, s)| *d = *s as i8);
            }
            WeightData::Codebook { .. } => {
                return Err(Error::layer(&lname, &ltype, format!("{name} uses codebook storage and cannot be edited")))
                    .py();
            }
        }
        Ok(())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.with(py, |_, l| format!("<ncnnq.Layer {} {:?}>", l.type_name, l.name))
    }
}
