//! What `ncnnq int8` did to each layer.

/// The rewrite's account of the model, for the CLI and the Python API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// (layer, type) of every layer given int8 weights.
    pub quantized: Vec<(String, String)>,
    /// (layer, reason) of Convolution/ConvolutionDepthWise/InnerProduct layers left in float.
    pub kept_float: Vec<(String, String)>,
    /// Layers whose output is requantized to int8 (+100).
    pub requantized: Vec<String>,
    /// Findings that did not stop quantization.
    pub warnings: Vec<String>,
}
