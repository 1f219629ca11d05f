//! The ncnn model codec: `.param` (text and binary), `.bin`, and the graph IR they load into.

pub mod bin_file;
pub mod expression;
pub mod float_text;
pub mod graph;
pub mod layer_spec;
pub mod param_bin;
pub mod param_defaults;
pub mod param_dict;
pub mod param_text;
pub mod random_weights;
pub mod weights;

pub use graph::{Blob, BlobShape, DuplicateName, Graph, Layer};
pub use param_dict::{ParamDict, ParamValue};
pub use weights::{Storage, Weight, WeightData};

use crate::error::{Error, Result};
use crate::output;
use std::path::Path;

/// How `.param` files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamFormat {
    Text,
    Binary,
}

/// Parses a `.param` (text or binary, detected from the content).
pub fn parse_param(data: &[u8], file: &str) -> Result<Graph> {
    if param_bin::is_binary_param(data) {
        return param_bin::parse(data, file);
    }
    // Counting lines of a bad file's valid prefix, on the error path only: no crate for that.
    #[allow(clippy::naive_bytecount)]
    let text = std::str::from_utf8(data).map_err(|e| Error::Param {
        file: file.to_string(),
        line: 1 + data[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count(),
        layer: None,
        message: "file is neither UTF-8 text nor a binary param".into(),
    })?;
    param_text::parse(text, file)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, &e))
}

/// Loads a model. Without a `.bin` the layers carry no weights (use
/// [`random_weights::fill_random_weights`] to run such a model).
pub fn load(param: &Path, bin: Option<&Path>) -> Result<Graph> {
    let param_name = param.display().to_string();
    let mut graph = parse_param(&read_file(param)?, &param_name)?;
    if let Some(bin) = bin {
        bin_file::read_weights(&mut graph, &read_file(bin)?, &bin.display().to_string())?;
    }
    Ok(graph)
}

/// Serializes the param file.
pub fn param_bytes(graph: &Graph, format: ParamFormat) -> Result<Vec<u8>> {
    match format {
        ParamFormat::Text => Ok(param_text::write(graph)?.into_bytes()),
        ParamFormat::Binary => param_bin::write(graph),
    }
}

/// Saves a model: the outputs are checked, both files fully serialized, then written together
/// or not at all (see [`crate::output`]).
pub fn save(graph: &Graph, param: &Path, bin: Option<&Path>, storage: Storage, format: ParamFormat) -> Result<()> {
    let paths: Vec<&Path> = std::iter::once(param).chain(bin).collect();
    output::check(&paths)?;
    let param_data = param_bytes(graph, format)?;
    match bin {
        Some(bin) => {
            let bin_data = bin_file::write_weights(graph, storage)?;
            output::commit(&[(param, &param_data), (bin, &bin_data)])
        }
        None => output::commit(&[(param, &param_data)]),
    }
}
