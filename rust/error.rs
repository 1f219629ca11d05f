//! The one error type of the crate. Every variant carries enough context (file, line, layer,
//! byte offset) for a one-line message a user can act on; the Python binding maps each variant
//! to one exception class.

use std::fmt;
use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io { path: String, message: String },

    /// A `.param` (text or binary) file is malformed.
    #[error("{file}:{line}: {}{message}", layer_prefix(.layer.as_ref()))]
    Param {
        file: String,
        /// 1-based line for text files; for binary params, the byte offset.
        line: usize,
        layer: Option<String>,
        message: String,
    },

    /// A `.bin` weight file does not match what the param file says the layers read.
    #[error("{file}: layer '{layer}' ({layer_type}): {message} (at byte offset {offset})")]
    Weights { file: String, layer: String, layer_type: String, offset: u64, message: String },

    /// A layer's parameters or weights are inconsistent (found when building or editing a graph).
    #[error("layer '{layer}' ({layer_type}): {message}")]
    Layer { layer: String, layer_type: String, message: String },

    /// The engine has no implementation for a layer type (or for this form of it).
    #[error("layer '{layer}': layer type {layer_type} is not supported{}", detail_suffix(.detail))]
    Unsupported { layer: String, layer_type: String, detail: String },

    /// A tensor reaching a layer at run time has a shape the layer cannot take.
    #[error("layer '{layer}' ({layer_type}): {message}")]
    Shape { layer: String, layer_type: String, message: String },

    /// Bad arguments from the caller (unknown blob name, wrong array rank, bad option).
    #[error("{0}")]
    Input(String),

    /// An allocation whose size comes from the input (a tensor, an image, declared weights)
    /// failed or would not fit the address space: reported instead of aborting the process.
    #[error("{context}out of memory: cannot allocate {what}")]
    OutOfMemory {
        /// Where it happened (`layer 'conv1' (Convolution): `), filled in by the caller that knows.
        context: String,
        /// How much (`30000000000 bytes (7500000000 values)`).
        what: String,
    },
}

fn layer_prefix(layer: Option<&String>) -> String {
    match layer {
        Some(name) => format!("layer '{name}': "),
        None => String::new(),
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl Error {
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        Error::Io { path: path.display().to_string(), message: err.to_string() }
    }

    pub fn layer(layer: &str, layer_type: &str, message: impl fmt::Display) -> Self {
        Error::Layer { layer: layer.to_string(), layer_type: layer_type.to_string(), message: message.to_string() }
    }

    pub fn shape(layer: &str, layer_type: &str, message: impl fmt::Display) -> Self {
        Error::Shape { layer: layer.to_string(), layer_type: layer_type.to_string(), message: message.to_string() }
    }

    pub fn input(message: impl fmt::Display) -> Self {
        Error::Input(message.to_string())
    }

    pub fn out_of_memory(what: impl fmt::Display) -> Self {
        Error::OutOfMemory { context: String::new(), what: what.to_string() }
    }

    /// Names where an out-of-memory error happened (`layer 'x' (Type): `); other errors as they are.
    pub fn in_context(self, context: impl FnOnce() -> String) -> Self {
        match self {
            Error::OutOfMemory { context: c, what } if c.is_empty() => Error::OutOfMemory { context: context(), what },
            other => other,
        }
    }
}
