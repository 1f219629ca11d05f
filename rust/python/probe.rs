//! `ncnnq._native.LayerProbe`, `Patches` and `NetworkProbe`: the int8 probe (`crate::probe`) seen
//! from Python. Arrays come in by reference (sampling reads the blobs in place under the GIL) or
//! as copies where the GIL is released; results go out as numpy arrays that own or borrow the
//! probe's buffers (no copy).

use super::errors::{to_py, IntoPyResult};
use super::model::PyModel;
use super::net::PyNet;
use super::quantize::PyQuantizeReport;
use crate::base::parallel::Pool;
use crate::engine::{self, shared_thread_pool, Shape};
use crate::error::Error;
use crate::model::Storage;
use crate::probe::{Arithmetic, BlobView, Columns, Config, LayerProbe, NetworkProbe, Output, Patches, Quantization};
use crate::quantize::ScaleTable;
use numpy::ndarray::{ArrayViewD, IxDyn};
use numpy::{Element, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A read-only numpy view of `data` (shape `shape`) kept alive by `owner`.
fn view<'py, T: Element>(data: &[T], shape: &[usize], owner: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let v = ArrayViewD::from_shape(IxDyn(shape), data).map_err(|e| to_py(Error::input(e.to_string())))?;
    // SAFETY: `data` lives in a frozen pyclass that `owner` keeps alive and never changes.
    let array = unsafe { PyArrayDyn::borrow_from_array(&v, owner) };
    array.call_method1("setflags", (false,))?;
    Ok(array.into_any())
}

/// A C-contiguous numpy array's values, read in place (the GIL is held by the caller).
fn with_slice<T: Element, R>(a: &PyReadonlyArrayDyn<'_, T>, what: &str, f: impl FnOnce(&[T]) -> R) -> PyResult<R> {
    if !a.is_c_contiguous() {
        // as_slice would also accept Fortran order, and read it transposed.
        return Err(Error::input(format!("{what} must be C-contiguous (np.ascontiguousarray)"))).py();
    }
    Ok(f(a.as_slice().map_err(|_| to_py(Error::input(format!("{what} must be contiguous"))))?))
}

fn blob_shape(a: &PyReadonlyArrayDyn<'_, f32>) -> PyResult<Shape> {
    Shape::from_numpy(a.shape()).py()
}

fn f32_vec(values: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    if let Ok(a) = values.extract::<PyReadonlyArrayDyn<f32>>() {
        return with_slice(&a, what, <[f32]>::to_vec);
    }
    values.extract::<Vec<f32>>().map_err(|_| to_py(Error::input(format!("{what} must be float32 values"))))
}

fn arithmetic(exact: bool) -> Arithmetic {
    if exact {
        Arithmetic::Exact
    } else {
        Arithmetic::Portable
    }
}

#[pyclass(name = "Patches", module = "ncnnq._native", frozen)]
pub struct PyPatches {
    inner: Patches,
}

#[pymethods]
impl PyPatches {
    /// 1, or the group count of a ConvolutionDepthWise.
    #[getter]
    fn groups(&self) -> usize {
        self.inner.groups
    }

    /// Inputs per group and position.
    #[getter]
    fn rows(&self) -> usize {
        self.inner.rows
    }

    /// Number of positions (columns).
    #[getter]
    fn columns(&self) -> usize {
        self.inner.n
    }

    fn __len__(&self) -> usize {
        self.inner.n
    }

    /// The fp32 inputs, (groups, rows, columns), a read-only view.
    #[getter]
    fn x<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let p = &slf.get().inner;
        view(&p.columns, &[p.groups, p.rows, p.n], slf.clone().into_any())
    }

    /// The fp32 outputs at the same positions, (groups, outputs per group, columns), or None.
    #[getter]
    fn reference<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let p = &slf.get().inner;
        let Some(o) = &p.outputs else { return Ok(None) };
        let per_group = o.len().checked_div(p.n * p.groups).unwrap_or(0);
        view(o, &[p.groups, per_group, p.n], slf.clone().into_any()).map(Some)
    }

    /// Each column's output position in its sample (oy·outw + ox, or the input row).
    #[getter]
    fn positions<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        PyArray1::from_vec(py, self.inner.positions.iter().map(|&p| p as u64).collect())
    }

    /// The columns at `indices`, in that order.
    fn select(&self, py: Python<'_>, indices: Vec<usize>) -> PyResult<PyPatches> {
        Ok(PyPatches { inner: py.detach(|| self.inner.select(&indices)).py()? })
    }

    /// Several samples' patches of one layer as one, columns in order.
    #[staticmethod]
    fn concat(py: Python<'_>, parts: Vec<Bound<'_, PyPatches>>) -> PyResult<PyPatches> {
        let refs: Vec<&Patches> = parts.iter().map(|p| &p.get().inner).collect();
        Ok(PyPatches { inner: py.detach(|| Patches::concat(&refs)).py()? })
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "<ncnnq.Patches: {} group(s) × {} rows × {} columns{}>",
            p.groups,
            p.rows,
            p.n,
            if p.outputs.is_some() { ", with outputs" } else { "" }
        )
    }
}

#[pyclass(name = "LayerProbe", module = "ncnnq._native", frozen)]
pub struct PyLayerProbe {
    probe: LayerProbe,
    pool: Arc<Pool>,
}

/// A simulation's input: fp32 patches or int8 columns (groups, rows, n) / (groups·rows, n).
enum Input<'py> {
    Patches(Bound<'py, PyPatches>),
    Int8(Vec<i8>, usize),
}

fn input<'py>(x: &Bound<'py, PyAny>) -> PyResult<Input<'py>> {
    if let Ok(p) = x.cast::<PyPatches>() {
        return Ok(Input::Patches(p.clone()));
    }
    let a = x.extract::<PyReadonlyArrayDyn<i8>>().map_err(|_| {
        to_py(Error::input("x must be Patches (from LayerProbe.sample) or int8 columns (from quantize_input)"))
    })?;
    let n = a.shape().last().copied().unwrap_or(0);
    Ok(Input::Int8(with_slice(&a, "int8 columns", <[i8]>::to_vec)?, n))
}

impl Input<'_> {
    fn columns(&self) -> Columns<'_> {
        match self {
            Input::Patches(p) => Columns::F32(&p.get().inner),
            Input::Int8(v, n) => Columns::I8 { data: v, n: *n },
        }
    }
}

#[pymethods]
impl PyLayerProbe {
    /// The probe of `layer` (a Convolution, ConvolutionDepthWise or InnerProduct) of fp32 `model`;
    /// simulations run on a pool of `threads` threads shared by every probe with that count.
    #[new]
    #[pyo3(signature = (model, layer, threads=1))]
    fn new(model: &Bound<'_, PyModel>, layer: &str, threads: i64) -> PyResult<Self> {
        let probe = LayerProbe::new(&model.get().read(), layer).py()?;
        Ok(PyLayerProbe { probe, pool: shared_thread_pool(engine::thread_count(threads).py()?).py()? })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.probe.name
    }

    #[getter]
    fn r#type(&self) -> &str {
        &self.probe.type_name
    }

    /// The int8 implementation: "convolution", "grouped", "depthwise" or "innerproduct".
    #[getter]
    fn form(&self) -> &'static str {
        self.probe.form.name()
    }

    #[getter]
    fn num_output(&self) -> usize {
        self.probe.num_output
    }

    #[getter]
    fn groups(&self) -> usize {
        self.probe.group
    }

    /// Inputs per group and output position (the GEMM's k).
    #[getter]
    fn rows(&self) -> usize {
        self.probe.rows
    }

    /// Weight scales the layer takes: one per output channel, or per group.
    #[getter]
    fn scale_count(&self) -> usize {
        self.probe.scale_count()
    }

    #[getter]
    fn outputs_per_scale(&self) -> usize {
        self.probe.outputs_per_scale()
    }

    /// A 3x3 stride-1 dilation-1 Convolution: ncnn2table keeps its weights within ±31.
    #[getter]
    fn six_bit(&self) -> bool {
        self.probe.six_bit()
    }

    /// The fused activation, e.g. "Relu", "LeakyRelu(0.1)", "Identity".
    #[getter]
    fn activation(&self) -> String {
        format!("{:?}", self.probe.activation)
    }

    /// The fp32 weights, (`scale_count`, values per scale), a copy.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let w = self.probe.weights();
        let rows = self.probe.scale_count();
        Ok(PyArray1::from_slice(py, w).reshape([rows, w.len() / rows])?.into_any())
    }

    /// The fp32 bias (`num_output`,), or None.
    #[getter]
    fn bias<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f32>>> {
        self.probe.bias().map(|b| PyArray1::from_slice(py, b))
    }

    /// Columns of the layer's fp32 `input` blob at up to `count` output positions drawn with
    /// `seed`, and the fp32 `output` there when given. Reads the arrays in place.
    #[pyo3(signature = (input, output=None, count=1024, seed=0))]
    fn sample(
        &self,
        input: PyReadonlyArrayDyn<'_, f32>,
        output: Option<PyReadonlyArrayDyn<'_, f32>>,
        count: usize,
        seed: u64,
    ) -> PyResult<PyPatches> {
        let shape = blob_shape(&input)?;
        with_slice(&input, "input", |x| {
            let x = BlobView { shape, data: x };
            let inner = match &output {
                None => self.probe.sample(x, None, count, seed),
                Some(o) => {
                    let oshape = blob_shape(o)?;
                    with_slice(o, "output", |y| {
                        self.probe.sample(x, Some(BlobView { shape: oshape, data: y }), count, seed)
                    })?
                }
            };
            inner.py().map(|inner| PyPatches { inner })
        })?
    }

    /// The patches quantized with `input_scale` as the int8 layer quantizes its input:
    /// int8 (groups, rows, columns).
    fn quantize_input<'py>(
        &self,
        py: Python<'py>,
        patches: &Bound<'py, PyPatches>,
        input_scale: f32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = &patches.get().inner;
        let q = py.detach(|| self.pool.install(|| self.probe.quantize_input(p, input_scale))).py()?;
        Ok(PyArray1::from_vec(py, q).reshape([p.groups, p.rows, p.n])?.into_any())
    }

    /// The int8 weights `ncnnq int8` writes for these scales: (`num_output`, rows).
    fn quantize_weights<'py>(&self, py: Python<'py>, weight_scales: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let s = f32_vec(weight_scales, "weight_scales")?;
        let q = self.probe.quantize_weights(&s).py()?;
        Ok(PyArray1::from_vec(py, q).reshape([self.probe.num_output, self.probe.rows])?.into_any())
    }

    /// The int8 layer's outputs (`num_output`, columns) on `x`, bit for bit what ncnnq's engine
    /// computes: float32, or int8 when `output_scale` requantizes. `exact=False`: the portable
    /// epilogue (the same on every CPU).
    #[pyo3(signature = (x, weight_scales, input_scale, output_scale=None, weights=None, bias=None, exact=true))]
    #[allow(clippy::too_many_arguments)]
    fn simulate<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        weight_scales: &Bound<'py, PyAny>,
        input_scale: f32,
        output_scale: Option<f32>,
        weights: Option<PyReadonlyArrayDyn<'py, i8>>,
        bias: Option<&Bound<'py, PyAny>>,
        exact: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let x = input(x)?;
        let scales = f32_vec(weight_scales, "weight_scales")?;
        let weights = weights.map(|w| with_slice(&w, "weights", <[i8]>::to_vec)).transpose()?;
        let bias = bias.map(|b| f32_vec(b, "bias")).transpose()?;
        let q = Quantization {
            weight_scales: &scales,
            input_scale,
            output_scale,
            weights: weights.as_deref(),
            bias: bias.as_deref(),
            arithmetic: arithmetic(exact),
        };
        let columns = x.columns();
        let n = match columns {
            Columns::F32(p) => p.n,
            Columns::I8 { n, .. } => n,
        };
        let out = py.detach(|| self.pool.install(|| self.probe.simulate(columns, &q))).py()?;
        let shape = [self.probe.num_output, n];
        Ok(match out {
            Output::F32(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            Output::I8(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
        })
    }

    /// Many candidate weight scales in one call: rows [r·k, (r+1)·k) of the result (k =
    /// `outputs_per_scale`) are the float outputs of scale unit `units[r]` (output channel or group)
    /// quantized with `scales[r]`: (len(units)·k, columns).
    #[pyo3(signature = (x, input_scale, units, scales, bias=None, exact=true))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate_weight_scales<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        input_scale: f32,
        units: Vec<usize>,
        scales: &Bound<'py, PyAny>,
        bias: Option<&Bound<'py, PyAny>>,
        exact: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let x = input(x)?;
        let scales = f32_vec(scales, "scales")?;
        let bias = bias.map(|b| f32_vec(b, "bias")).transpose()?;
        let columns = x.columns();
        let n = match columns {
            Columns::F32(p) => p.n,
            Columns::I8 { n, .. } => n,
        };
        let out = py
            .detach(|| {
                self.pool.install(|| {
                    self.probe.evaluate_weight_scales(
                        columns,
                        input_scale,
                        &units,
                        &scales,
                        bias.as_deref(),
                        arithmetic(exact),
                    )
                })
            })
            .py()?;
        Ok(PyArray1::from_vec(py, out).reshape([units.len() * self.probe.outputs_per_scale(), n])?.into_any())
    }

    fn __repr__(&self) -> String {
        let p = &self.probe;
        format!("<ncnnq.LayerProbe {} {:?}: {}, {:?}>", p.type_name, p.name, p.form.name(), p.activation)
    }
}

#[pyclass(name = "NetworkProbe", module = "ncnnq._native", frozen)]
pub struct PyNetworkProbe {
    probe: NetworkProbe,
}

/// The pieces of a configuration, owned.
struct Owned {
    table: ScaleTable,
    int8: Option<Vec<String>>,
    weights: BTreeMap<String, Vec<i8>>,
    biases: BTreeMap<String, Vec<f32>>,
}

impl Owned {
    fn new(
        weights: &Bound<'_, PyDict>,
        activations: BTreeMap<String, f32>,
        int8: Option<Vec<String>>,
        int8_weights: Option<&Bound<'_, PyDict>>,
        biases: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Owned> {
        let mut table = ScaleTable { weights: BTreeMap::new(), activations };
        for (k, v) in weights.iter() {
            let key: String = k.extract()?;
            let values = f32_vec(&v, &key)?;
            table.weights.insert(key, values);
        }
        let mut w = BTreeMap::new();
        for (k, v) in int8_weights.into_iter().flat_map(pyo3::types::PyDictMethods::iter) {
            let name: String = k.extract()?;
            let a = v.extract::<PyReadonlyArrayDyn<i8>>()?;
            let values = with_slice(&a, &name, <[i8]>::to_vec)?;
            w.insert(name, values);
        }
        let mut b = BTreeMap::new();
        for (k, v) in biases.into_iter().flat_map(pyo3::types::PyDictMethods::iter) {
            let name: String = k.extract()?;
            let values = f32_vec(&v, &name)?;
            b.insert(name, values);
        }
        Ok(Owned { table, int8, weights: w, biases: b })
    }

    fn config(&self) -> Config<'_> {
        Config { table: &self.table, int8: self.int8.as_deref(), weights: &self.weights, biases: &self.biases }
    }
}

#[pymethods]
impl PyNetworkProbe {
    /// The probe of fp32 `model`; its nets run on `threads` threads. Float arrays are stored as
    /// `ncnnq int8` stores them: fp16, or fp32 with `fp32=True` (its `--fp32`).
    #[new]
    #[pyo3(signature = (model, threads=1, fp32=false))]
    fn new(py: Python<'_>, model: &Bound<'_, PyModel>, threads: i64, fp32: bool) -> PyResult<Self> {
        let threads = engine::thread_count(threads).py()?;
        let graph = model.get().read().clone();
        let storage = if fp32 { Storage::F32 } else { Storage::F16 };
        Ok(PyNetworkProbe { probe: py.detach(|| NetworkProbe::new(graph, storage, threads)).py()? })
    }

    /// A Net running the model with the layers `int8` (all the table covers when None) int8
    /// under the table (`weights`, `activations`), optionally with int8 weights and biases
    /// replaced per layer: exactly what the int8 file for that set runs.
    #[pyo3(signature = (weights, activations, int8=None, int8_weights=None, biases=None))]
    fn net(
        &self,
        py: Python<'_>,
        weights: &Bound<'_, PyDict>,
        activations: BTreeMap<String, f32>,
        int8: Option<Vec<String>>,
        int8_weights: Option<&Bound<'_, PyDict>>,
        biases: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyNet> {
        let owned = Owned::new(weights, activations, int8, int8_weights, biases)?;
        let (net, _) = py.detach(|| self.probe.net(&owned.config())).py()?;
        Ok(PyNet::from_engine(net))
    }

    /// The int8 model `net` runs for the same arguments (float arrays as the file stores them)
    /// and the quantizer's report.
    #[pyo3(signature = (weights, activations, int8=None, int8_weights=None, biases=None))]
    fn model(
        &self,
        py: Python<'_>,
        weights: &Bound<'_, PyDict>,
        activations: BTreeMap<String, f32>,
        int8: Option<Vec<String>>,
        int8_weights: Option<&Bound<'_, PyDict>>,
        biases: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<(PyModel, PyQuantizeReport)> {
        let owned = Owned::new(weights, activations, int8, int8_weights, biases)?;
        let (g, report) = py.detach(|| self.probe.int8_graph(&owned.config())).py()?;
        Ok((PyModel::new(g), PyQuantizeReport::from(report)))
    }

    /// Built layer ops the probe holds for reuse.
    #[getter]
    fn cached_ops(&self) -> usize {
        self.probe.cached_ops()
    }

    fn __repr__(&self) -> String {
        let g = self.probe.graph();
        format!("<ncnnq.NetworkProbe: {} layers, {} ops cached>", g.layers.len(), self.probe.cached_ops())
    }
}
