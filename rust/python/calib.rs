//! Calibration glue: ncnn-exact pixel preprocessing and the statistics collector.

use super::errors::{to_py, IntoPyResult};
use super::model::PyModel;
use super::net::{tensor_from_numpy, tensor_to_numpy};
use crate::base::parallel::Pool;
use crate::base::Activation;
use crate::calib::{Collector, StatsMode};
use crate::engine::{self, Tensor};
use crate::error::Error;
use crate::kernels::dispatch;
use crate::kernels::gemm_i8::{self, ConvSource, Epilogue, Out, PackedA};
use crate::pixels::{self, PixelType};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// Interleaved u8 pixels (h, w, channels) -> float (c, h, w) tensor, resized to (width, height)
/// with ncnn's fixed-point bilinear filter, converted and normalized like
/// `ncnn::Mat::from_pixels_resize` + `substract_mean_normalize`.
#[pyfunction]
#[pyo3(signature = (pixels, pixel_from, pixel_to, width, height, mean=vec![], norm=vec![]))]
#[allow(clippy::too_many_arguments)]
pub fn from_pixels<'py>(
    py: Python<'py>,
    pixels: PyReadonlyArrayDyn<'py, u8>,
    pixel_from: &str,
    pixel_to: &str,
    width: usize,
    height: usize,
    mean: Vec<f32>,
    norm: Vec<f32>,
) -> PyResult<Bound<'py, PyAny>> {
    let from = PixelType::parse(pixel_from).py()?;
    let to = PixelType::parse(pixel_to).py()?;
    let shape = pixels.shape().to_vec();
    let (h, w, c) = match shape[..] {
        [h, w, c] => (h, w, c),
        [h, w] => (h, w, 1),
        _ => return Err(Error::input(format!("pixels must be (height, width[, channels]), got shape {shape:?}"))).py(),
    };
    if c != from.channels() {
        return Err(Error::input(format!("{pixel_from} pixels have {} channels, the array has {c}", from.channels())))
            .py();
    }
    if w == 0 || h == 0 || width == 0 || height == 0 {
        return Err(Error::input("empty image or target size")).py();
    }
    if !pixels.is_c_contiguous() {
        // as_slice would also accept Fortran order, and read the pixels transposed.
        return Err(Error::input("pixels must be C-contiguous (np.ascontiguousarray)")).py();
    }
    // A copy: Python code could write to the array while the GIL is released.
    let data = pixels.as_slice().map_err(|_| to_py(Error::input("pixels must be C-contiguous")))?.to_vec();
    let tensor = py
        .detach(|| {
            let resized =
                if (w, h) == (width, height) { data } else { pixels::resize_bilinear(&data, w, h, c, width, height) };
            pixels::from_pixels(&resized, width, height, from, to, &mean, &norm)
        })
        .py()?;
    tensor_to_numpy(py, tensor)
}

#[pyclass(name = "StatsCollector", module = "ncnnq._native", frozen)]
pub struct PyStatsCollector {
    net: engine::Net,
    names: Vec<String>,
    collector: Collector,
}

#[pymethods]
impl PyStatsCollector {
    /// Watches `blobs` of `model` (fp32). mode: "absmax", "histogram" (one pass, widening
    /// fine histogram) or "linear" (ncnn's pass 2; needs `absmax`, one per blob).
    #[new]
    #[pyo3(signature = (model, blobs, mode="histogram", absmax=None, threads=1))]
    fn new(
        py: Python<'_>,
        model: &Bound<'_, PyModel>,
        blobs: Vec<String>,
        mode: &str,
        absmax: Option<Vec<f32>>,
        threads: usize,
    ) -> PyResult<Self> {
        let mode = match (mode, absmax) {
            ("absmax", None) => StatsMode::Absmax,
            ("histogram", None) => StatsMode::Histogram,
            ("linear", Some(a)) => StatsMode::Linear(a),
            _ => {
                return Err(Error::input(format!("bad statistics mode {mode:?} (absmax needed only for 'linear')")))
                    .py()
            }
        };
        let graph = model.get().read();
        let net = py.detach(|| engine::Net::new(&graph, &engine::NetOptions { threads })).py()?;
        let indices: Vec<usize> = blobs.iter().map(|b| net.blob_index(b)).collect::<Result<_, _>>().py()?;
        let collector = Collector::new(&net, indices, mode, net.threads()).py()?;
        Ok(PyStatsCollector { net, names: blobs, collector })
    }

    /// Runs a batch of samples ({input blob: float32 array} each) in parallel and merges their
    /// statistics. A failing sample raises with `sample_index` set on the exception. Several
    /// threads may call it at once.
    fn add(&self, py: Python<'_>, samples: &Bound<'_, PyList>) -> PyResult<()> {
        let mut batch: Vec<Vec<(usize, Tensor)>> = Vec::with_capacity(samples.len());
        for item in samples.iter() {
            let d = item.cast::<PyDict>()?;
            let mut inputs = Vec::with_capacity(d.len());
            for (k, v) in d.iter() {
                let name: String = k.extract()?;
                inputs.push((self.net.blob_index(&name).py()?, tensor_from_numpy(&name, &v)?));
            }
            batch.push(inputs);
        }
        let result = py.detach(|| self.collector.add_samples(&self.net, batch));
        if let Err((index, error)) = result {
            let err = to_py(error);
            err.value(py).setattr("sample_index", index)?;
            return Err(err);
        }
        Ok(())
    }

    #[getter]
    fn samples(&self) -> u64 {
        self.collector.samples()
    }

    /// {blob: {"absmax", "elements", "non_finite", "histogram", "histogram_range", "linear"}}.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.collector;
        let out = PyDict::new(py);
        for (name, s) in self.names.iter().zip(c.stats().iter()) {
            let d = PyDict::new(py);
            d.set_item("absmax", s.absmax)?;
            d.set_item("elements", s.elements)?;
            d.set_item("non_finite", s.non_finite)?;
            if let Some(h) = &s.histogram {
                d.set_item("histogram", PyArray1::from_vec(py, h.counts()))?;
                d.set_item("histogram_range", h.range())?;
            }
            if let Some(h) = &s.linear {
                d.set_item("linear", PyArray1::from_slice(py, &h.counts))?;
            }
            out.set_item(name, d)?;
        }
        Ok(out)
    }
}

/// im2col columns of a Convolution/ConvolutionDepthWise layer's input at up to `count` sampled
/// output positions: returns (columns (c·kh·kw, n), positions (n,) as oy·outw + ox).
#[pyfunction]
#[pyo3(signature = (model, layer, input, count, seed=0))]
pub fn conv_patches<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyModel>,
    layer: &str,
    input: &Bound<'py, PyAny>,
    count: usize,
    seed: u64,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let x = tensor_from_numpy("input", input)?;
    let graph = model.get().read();
    let l = graph
        .layer_index(layer)
        .map(|i| &graph.layers[i])
        .ok_or_else(|| Error::input(format!("no layer named {layer:?}")))
        .py()?;
    let p = py.detach(|| crate::calib::patches::sample_patches(l, &x, count, seed)).py()?;
    let n = p.positions.len();
    let cols = PyArray1::from_vec(py, p.columns).reshape([p.rows, n])?.into_any();
    let pos = PyArray1::from_vec(py, p.positions.into_iter().map(|v| v as u64).collect()).into_any();
    Ok((cols, pos))
}

/// A thread pool of `threads` threads, made once per thread count.
fn pool(threads: usize) -> PyResult<std::sync::Arc<Pool>> {
    use std::sync::{Arc, Mutex};
    static POOLS: Mutex<Vec<(usize, Arc<Pool>)>> = Mutex::new(Vec::new());
    let threads = threads.max(1);
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = pools.iter().find(|(t, _)| *t == threads) {
        return Ok(p.clone());
    }
    let p =
        Arc::new(Pool::new(threads).map_err(|e| Error::input(format!("cannot start {threads} threads: {e}"))).py()?);
    pools.push((threads, p.clone()));
    Ok(p)
}

/// `(w·x)·scale[i] + bias[i]` for each row i, in float32 (a product, then a sum), with int8
/// `w` (m, k) and `x` (k, n) multiplied exactly on the int8 kernels: the `eq` search's int8 layer
/// on its cached inputs.
#[pyfunction]
#[pyo3(signature = (w, x, scale, bias=None, threads=1))]
pub fn int8_gemm<'py>(
    py: Python<'py>,
    w: PyReadonlyArray2<'py, i8>,
    x: PyReadonlyArray2<'py, i8>,
    scale: PyReadonlyArray1<'py, f32>,
    bias: Option<PyReadonlyArray1<'py, f32>>,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let ([m, k], [kx, n]) = (w.shape().try_into().expect("2-D"), x.shape().try_into().expect("2-D"));
    if k != kx || scale.len() != m || bias.as_ref().is_some_and(|b| b.len() != m) {
        return Err(Error::input(format!(
            "int8_gemm: w {m}x{k}, x {kx}x{n}, {} scales and {:?} biases do not fit",
            scale.len(),
            bias.as_ref().map(|b| b.len())
        )))
        .py();
    }
    if !(w.is_c_contiguous() && x.is_c_contiguous()) {
        // as_slice would also accept Fortran order, and read it transposed.
        return Err(Error::input("int8_gemm: w and x must be C-contiguous")).py();
    }
    // Copies: Python code could write to the arrays while the GIL is released.
    let contiguous = || to_py(Error::input("int8_gemm: arrays must be contiguous"));
    let w = w.as_slice().map_err(|_| contiguous())?.to_vec();
    let x = x.as_slice().map_err(|_| contiguous())?.to_vec();
    let scale = scale.as_slice().map_err(|_| contiguous())?.to_vec();
    let bias = bias.map(|b| b.as_slice().map(|s| s.to_vec())).transpose().map_err(|_| contiguous())?;
    let pool = pool(threads)?;
    let mut out = vec![0.0f32; m * n];
    py.detach(|| {
        pool.install(|| {
            let a = PackedA::new(dispatch::I8.selected(), &w, m, k);
            let ep = Epilogue {
                scale: &scale,
                bias: bias.as_deref(),
                activation: Activation::Identity,
                requant: None,
                fused: false,
            };
            gemm_i8::conv_gemm(&a, &ConvSource::dense(&x, k, n), &ep, Out::F32(&mut out));
        })
    });
    Ok(PyArray1::from_vec(py, out).reshape([m, n])?.into_any())
}
