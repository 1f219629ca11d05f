//! The one conversion from the crate's error enum to Python exceptions. The exception classes
//! live in `ncnnq/errors.py` so that they can inherit from both `ncnnq.Error` and the matching
//! builtin (`ValueError`, `OSError`).

use crate::error::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

fn class_name(err: &Error) -> &'static str {
    match err {
        Error::Io { .. } => "FileError",
        Error::Param { .. } => "ParamError",
        Error::Weights { .. } => "WeightsError",
        Error::Layer { .. } => "LayerError",
        Error::Unsupported { .. } => "UnsupportedLayerError",
        Error::Shape { .. } => "ShapeError",
        Error::Input(_) => "InputError",
        Error::OutOfMemory { .. } => "OutOfMemoryError",
    }
}

pub fn to_py(err: Error) -> PyErr {
    Python::attach(|py| {
        let message = err.to_string();
        match py.import("ncnnq.errors").and_then(|m| m.getattr(class_name(&err))) {
            Ok(cls) => PyErr::from_type(cls.cast_into().expect("exception class"), message),
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
