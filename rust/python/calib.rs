//! Calibration glue: ncnn-exact pixel preprocessing, the statistics collector and its typed
//! per-blob result.

use super::errors::{to_py, IntoPyResult};
use super::model::PyModel;
use super::net::{tensor_from_numpy, tensor_to_numpy};
use crate::base::alloc;
use crate::calib::{Collector, StatsMode};
use crate::engine::{self, Tensor};
use crate::error::Error;
use crate::pixels::{self, PixelType};
use numpy::{PyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
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
    let data = alloc::copy(pixels.as_slice().map_err(|_| to_py(Error::input("pixels must be C-contiguous")))?).py()?;
    let tensor = py
        .detach(|| {
            let resized =
                if (w, h) == (width, height) { data } else { pixels::resize_bilinear(&data, w, h, c, width, height)? };
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
        threads: i64,
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
        let options = engine::NetOptions { threads: engine::thread_count(threads).py()? };
        let graph = model.get().read();
        let net = py.detach(|| engine::Net::new(&graph, &options)).py()?;
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

    /// {blob: `BlobStats`} for the watched blobs.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let stats = py.detach(|| self.net.install(|| self.collector.map_stats(|s| PyBlobStats::from(&s))));
        for (name, s) in self.names.iter().zip(stats) {
            out.set_item(name, Bound::new(py, s)?)?;
        }
        Ok(out)
    }
}

/// One blob's statistics over the samples seen.
#[pyclass(name = "BlobStats", module = "ncnnq._native", frozen)]
pub struct PyBlobStats {
    absmax: f32,
    elements: u64,
    non_finite: u64,
    /// Counts and range of the widening histogram ("histogram" mode).
    histogram: Option<(Vec<u64>, f32)>,
    /// ncnn's linear histogram ("linear" mode).
    linear: Option<Vec<u64>>,
}

impl From<&crate::calib::BlobStats> for PyBlobStats {
    fn from(s: &crate::calib::BlobStats) -> Self {
        PyBlobStats {
            absmax: s.absmax,
            elements: s.elements,
            non_finite: s.non_finite,
            histogram: s.histogram.as_ref().map(|h| (h.counts(), h.range())),
            linear: s.linear.as_ref().map(|h| h.counts.clone()),
        }
    }
}

/// A read-only numpy view of counts held by a `BlobStats`.
fn counts_view<'py>(counts: &[u64], owner: &Bound<'py, PyBlobStats>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the counts live in a frozen BlobStats that the array keeps alive; never changed.
    let a = unsafe { PyArray1::borrow_from_array(&numpy::ndarray::ArrayView1::from(counts), owner.clone().into_any()) };
    a.call_method1("setflags", (false,))?;
    Ok(a.into_any())
}

#[pymethods]
impl PyBlobStats {
    /// Largest |value| seen.
    #[getter]
    fn absmax(&self) -> f32 {
        self.absmax
    }

    /// Elements of the blob in one sample (the largest seen).
    #[getter]
    fn elements(&self) -> u64 {
        self.elements
    }

    /// NaN or infinite values seen (their samples add nothing to the histograms).
    #[getter]
    fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// The one-pass widening histogram of |x| over [0, `histogram_range`) ("histogram" mode).
    #[getter]
    fn histogram<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        slf.get().histogram.as_ref().map(|(c, _)| counts_view(c, slf)).transpose()
    }

    #[getter]
    fn histogram_range(&self) -> Option<f32> {
        self.histogram.as_ref().map(|(_, r)| *r)
    }

    /// ncnn2table's 2048-bin histogram of |x| over [0, absmax given) ("linear" mode).
    #[getter]
    fn linear<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        slf.get().linear.as_ref().map(|c| counts_view(c, slf)).transpose()
    }

    fn __repr__(&self) -> String {
        let kind = match (&self.histogram, &self.linear) {
            (Some((c, r)), _) => format!(", histogram of {} bins over [0, {r})", c.len()),
            (_, Some(c)) => format!(", linear histogram of {} bins", c.len()),
            _ => String::new(),
        };
        format!("BlobStats(absmax={}, elements={}, non_finite={}{kind})", self.absmax, self.elements, self.non_finite)
    }
}
