//! Output glue: the one writer ([`crate::output`]) for the files Python builds (tables, and a
//! model's files written together with others).

use super::errors::IntoPyResult;
use crate::output;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::{Path, PathBuf};

/// Checks every output path of a command before any work: folder exists and takes new files,
/// not a folder, no two outputs the same file. Raises `FileError` naming the path.
#[pyfunction]
pub fn check_outputs(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<()> {
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    py.detach(|| output::check(&paths).map(|_| ())).py()
}

/// Writes every (path, bytes) together or not at all (see `ncnnq.output`).
#[pyfunction]
pub fn write_outputs(py: Python<'_>, files: Vec<(PathBuf, Bound<'_, PyBytes>)>) -> PyResult<()> {
    // Bytes objects are immutable and held by `files`, so their buffers can be read without the GIL.
    let files: Vec<(&Path, &[u8])> = files.iter().map(|(p, b)| (p.as_path(), b.as_bytes())).collect();
    py.detach(|| output::commit(&files)).py()
}
