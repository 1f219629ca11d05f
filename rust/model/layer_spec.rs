//! What the codec knows about each ncnn layer type: its parameters (id, name, type, default, in
//! the order ncnn's writer emits them) and the weight arrays its `load_model` reads from `.bin`.
//!
//! This is the one registry of layer types for the codec; the engine has its own registry of
//! implementations (`layers/registry.rs`).

use super::param_dict::ParamDict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Int,
    Float,
    IntArray,
    FloatArray,
    Str,
    /// A string holding an ncnn shape expression (`model/expression.rs`), checked when read.
    Expr,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamDefault {
    Int(i32),
    Float(f32),
    /// Defaults to the (effective) value of another parameter, e.g. `kernel_h` = `kernel_w`.
    SameAs(u32),
    /// Empty array or empty string.
    Empty,
    /// Computed by the layer from other parameters (MultiHeadAttention's scale).
    Derived,
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub id: u32,
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: ParamDefault,
}

/// One array that a layer's `load_model` reads, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSlot {
    pub name: &'static str,
    pub count: usize,
    /// `true`: ModelBin type 0 (a storage tag precedes the data). `false`: raw float32.
    pub tagged: bool,
}

pub type WeightLayout = fn(&ParamDict) -> Result<Vec<WeightSlot>, String>;

pub struct LayerSpec {
    pub name: &'static str,
    /// Parameters in ncnn's writer order.
    pub params: &'static [ParamSpec],
    pub weights: Option<WeightLayout>,
    /// Parameter ids shown by `ncnnq info` as the layer's key parameters.
    pub key_params: &'static [u32],
}

impl LayerSpec {
    pub fn param(&self, id: u32) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.id == id)
    }

    /// The weight arrays this layer reads for the given parameters (empty for weightless types).
    pub fn weight_slots(&self, params: &ParamDict) -> Result<Vec<WeightSlot>, String> {
        match self.weights {
            Some(layout) => layout(params),
            None => Ok(Vec::new()),
        }
    }
}

const fn int(id: u32, name: &'static str, default: i32) -> ParamSpec {
    ParamSpec { id, name, kind: ParamKind::Int, default: ParamDefault::Int(default) }
}
const fn float(id: u32, name: &'static str, default: f32) -> ParamSpec {
    ParamSpec { id, name, kind: ParamKind::Float, default: ParamDefault::Float(default) }
}
const fn same(id: u32, name: &'static str, other: u32) -> ParamSpec {
    ParamSpec { id, name, kind: ParamKind::Int, default: ParamDefault::SameAs(other) }
}
const fn ints(id: u32, name: &'static str) -> ParamSpec {
    ParamSpec { id, name, kind: ParamKind::IntArray, default: ParamDefault::Empty }
}
const fn floats(id: u32, name: &'static str) -> ParamSpec {
    ParamSpec { id, name, kind: ParamKind::FloatArray, default: ParamDefault::Empty }
}
const fn expr(id: u32, name: &'static str) -> ParamSpec {
    ParamSpec { id, name, kind: ParamKind::Expr, default: ParamDefault::Empty }
}

// ---------------------------------------------------------------------------------------------
// Weight layouts (formats.md §3.5)

fn count(params: &ParamDict, id: u32, what: &str) -> Result<usize, String> {
    let v = params.int(id, 0);
    usize::try_from(v).map_err(|_| format!("{what} (param {id}) is negative: {v}"))
}

/// Product of element counts; a product that overflows is a corrupt param, not a real network.
fn product(factors: &[usize]) -> Result<usize, String> {
    factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f)).ok_or_else(|| "array size overflows".to_string())
}

fn tagged(name: &'static str, count: usize) -> WeightSlot {
    WeightSlot { name, count, tagged: true }
}
fn raw(name: &'static str, count: usize) -> WeightSlot {
    WeightSlot { name, count, tagged: false }
}

fn convolution_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let mut slots = Vec::new();
    if p.int(19, 0) == 0 {
        slots.push(tagged("weight", count(p, 6, "weight_data_size")?));
    }
    if p.int(5, 0) != 0 {
        slots.push(raw("bias", num_output));
    }
    let int8 = p.int(8, 0);
    if int8 != 0 {
        slots.push(raw("weight_int8_scales", num_output));
        slots.push(raw("bottom_int8_scale", 1));
    }
    if int8 > 100 {
        slots.push(raw("top_int8_scale", 1));
    }
    Ok(slots)
}

fn convolution_depthwise_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let group = count(p, 7, "group")?;
    let mut slots = Vec::new();
    if p.int(19, 0) == 0 {
        slots.push(tagged("weight", count(p, 6, "weight_data_size")?));
    }
    if p.int(5, 0) != 0 {
        slots.push(raw("bias", num_output));
    }
    let int8 = p.int(8, 0);
    match int8 {
        1 | 101 => {
            slots.push(raw("weight_int8_scales", group));
            slots.push(raw("bottom_int8_scale", 1));
        }
        2 | 102 => {
            slots.push(raw("weight_int8_scale", 1));
            slots.push(raw("bottom_int8_scale", 1));
        }
        _ => {}
    }
    if int8 > 100 {
        slots.push(raw("top_int8_scale", 1));
    }
    Ok(slots)
}

/// Weight + bias only: Deconvolution*, Convolution1D/3D, ConvolutionDepthWise1D/3D.
fn weight_bias_weights(p: &ParamDict, dynamic_id: u32) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let mut slots = Vec::new();
    if p.int(dynamic_id, 0) == 0 {
        slots.push(tagged("weight", count(p, 6, "weight_data_size")?));
    }
    if p.int(5, 0) != 0 {
        slots.push(raw("bias", num_output));
    }
    Ok(slots)
}

fn deconvolution_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    weight_bias_weights(p, 28)
}

fn convolution_nd_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    weight_bias_weights(p, 19)
}

fn deformable_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let mut slots = vec![tagged("weight", count(p, 6, "weight_data_size")?)];
    if p.int(5, 0) != 0 {
        slots.push(raw("bias", num_output));
    }
    Ok(slots)
}

fn innerproduct_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let mut slots = vec![tagged("weight", count(p, 2, "weight_data_size")?)];
    if p.int(1, 0) != 0 {
        slots.push(raw("bias", num_output));
    }
    if p.int(8, 0) != 0 {
        slots.push(raw("weight_int8_scales", num_output));
        slots.push(raw("bottom_int8_scale", 1));
    }
    Ok(slots)
}

fn batchnorm_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let c = count(p, 0, "channels")?;
    Ok(vec![raw("slope", c), raw("mean", c), raw("var", c), raw("bias", c)])
}

fn scale_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let size = p.int(0, 0);
    if size == -233 {
        return Ok(Vec::new());
    }
    let size = count(p, 0, "scale_data_size")?;
    let mut slots = vec![raw("scale", size)];
    if p.int(1, 0) != 0 {
        slots.push(raw("bias", size));
    }
    Ok(slots)
}

fn prelu_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    Ok(vec![raw("slope", count(p, 0, "num_slope")?)])
}

fn bias_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    Ok(vec![raw("bias", count(p, 0, "bias_data_size")?)])
}

fn memorydata_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let dims = [count(p, 0, "w")?, count(p, 1, "h")?, count(p, 11, "d")?, count(p, 2, "c")?];
    // ncnn reads w*h*d*c over the non-zero dims; nothing when all are zero.
    if dims.iter().all(|&d| d == 0) {
        return Ok(Vec::new());
    }
    let n =
        dims.iter().filter(|&&d| d != 0).try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("w*h*d*c overflows")?;
    Ok(vec![WeightSlot { name: "data", count: n, tagged: p.int(21, 1) == 0 }])
}

fn embed_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let mut slots = vec![tagged("weight", count(p, 3, "weight_data_size")?)];
    if p.int(2, 0) != 0 {
        slots.push(raw("bias", num_output));
    }
    if p.int(18, 0) != 0 {
        slots.push(raw("weight_int8_scale", 1));
    }
    Ok(slots)
}

fn gemm_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let m = count(p, 7, "constantM")?;
    let n = count(p, 8, "constantN")?;
    let k = count(p, 9, "constantK")?;
    let quantize = p.int(18, 0);
    if quantize >= 400 {
        return Err(format!("block-quantized Gemm (quantize_term={quantize}) is not supported"));
    }
    let mut slots = Vec::new();
    if p.int(4, 0) != 0 {
        slots.push(tagged("A", product(&[m, k])?));
    }
    if p.int(5, 0) != 0 {
        slots.push(tagged("B", product(&[n, k])?));
    }
    if p.int(6, 0) != 0 {
        let c = match p.int(10, 0) {
            -1 => None,
            0 => Some(1),
            1 | 2 => Some(m),
            3 => Some(product(&[n, m])?),
            4 => Some(n),
            other => return Err(format!("constant_broadcast_type_C {other} is not one of -1..4")),
        };
        if let Some(c) = c {
            slots.push(tagged("C", c));
        }
    }
    if quantize != 0 {
        if p.int(4, 0) != 0 {
            slots.push(raw("A_int8_scales", m));
        }
        if p.int(5, 0) != 0 {
            slots.push(raw("B_int8_scale", 1));
        }
    }
    Ok(slots)
}

fn norm_affine_weights(
    p: &ParamDict,
    size_id: u32,
    affine_id: u32,
    with_beta: bool,
) -> Result<Vec<WeightSlot>, String> {
    if p.int(affine_id, 1) == 0 {
        return Ok(Vec::new());
    }
    let n = count(p, size_id, "affine size")?;
    let mut slots = vec![raw("gamma", n)];
    if with_beta {
        slots.push(raw("beta", n));
    }
    Ok(slots)
}

fn layernorm_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    norm_affine_weights(p, 0, 2, true)
}
fn groupnorm_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    norm_affine_weights(p, 1, 3, true)
}
fn instancenorm_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    norm_affine_weights(p, 0, 2, true)
}
fn rmsnorm_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    norm_affine_weights(p, 0, 2, false)
}

fn mha_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let embed_dim = count(p, 0, "embed_dim")?;
    let weight_data_size = count(p, 2, "weight_data_size")?;
    let kdim = usize::try_from(p.int(3, embed_dim as i32)).map_err(|_| "kdim is negative".to_string())?;
    let vdim = usize::try_from(p.int(4, embed_dim as i32)).map_err(|_| "vdim is negative".to_string())?;
    if embed_dim == 0 {
        return Err("embed_dim is 0".into());
    }
    let qdim = weight_data_size / embed_dim;
    if p.int(18, 0) >= 400 {
        return Err("block-quantized MultiHeadAttention is not supported".into());
    }
    let mut slots = vec![
        tagged("q_weight", product(&[embed_dim, qdim])?),
        raw("q_bias", embed_dim),
        tagged("k_weight", product(&[embed_dim, kdim])?),
        raw("k_bias", embed_dim),
        tagged("v_weight", product(&[embed_dim, vdim])?),
        raw("v_bias", embed_dim),
        tagged("out_weight", product(&[qdim, embed_dim])?),
        raw("out_bias", qdim),
    ];
    if p.int(18, 0) != 0 {
        slots.push(raw("q_scales", embed_dim));
        slots.push(raw("k_scales", embed_dim));
        slots.push(raw("v_scales", embed_dim));
        slots.push(raw("out_scale", 1));
    }
    Ok(slots)
}

fn directions(p: &ParamDict) -> usize {
    if p.int(2, 0) == 2 {
        2
    } else {
        1
    }
}

fn rnn_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let d = directions(p);
    let wds = count(p, 1, "weight_data_size")?;
    let mut slots = vec![
        tagged("weight_xc", wds),
        tagged("bias_c", product(&[num_output, d])?),
        tagged("weight_hc", product(&[num_output, num_output, d])?),
    ];
    if p.int(8, 0) != 0 {
        slots.push(raw("xc_scales", product(&[num_output, d])?));
        slots.push(raw("hc_scales", product(&[num_output, d])?));
    }
    Ok(slots)
}

fn lstm_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let hidden = usize::try_from(p.int(3, num_output as i32)).map_err(|_| "hidden_size is negative".to_string())?;
    let d = directions(p);
    let wds = count(p, 1, "weight_data_size")?;
    let mut slots = vec![
        tagged("weight_xc", wds),
        tagged("bias_c", product(&[4, hidden, d])?),
        tagged("weight_hc", product(&[num_output, 4, hidden, d])?),
    ];
    if num_output != hidden {
        slots.push(tagged("weight_hr", product(&[hidden, num_output, d])?));
    }
    if p.int(8, 0) != 0 {
        slots.push(raw("xc_scales", product(&[4, hidden, d])?));
        slots.push(raw("hc_scales", product(&[4, hidden, d])?));
    }
    Ok(slots)
}

fn gru_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let num_output = count(p, 0, "num_output")?;
    let d = directions(p);
    let wds = count(p, 1, "weight_data_size")?;
    let mut slots = vec![
        tagged("weight_xc", wds),
        tagged("bias_c", product(&[4, num_output, d])?),
        tagged("weight_hc", product(&[num_output, 3, num_output, d])?),
    ];
    if p.int(8, 0) != 0 {
        slots.push(raw("xc_scales", product(&[3, num_output, d])?));
        slots.push(raw("hc_scales", product(&[3, num_output, d])?));
    }
    Ok(slots)
}

fn padding_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let n = count(p, 6, "per_channel_pad_data_size")?;
    Ok(if n > 0 { vec![raw("pad_values", n)] } else { Vec::new() })
}

fn normalize_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    Ok(vec![raw("scale", count(p, 3, "scale_data_size")?)])
}

fn quantize_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    Ok(vec![raw("scale", usize::try_from(p.int(0, 1)).map_err(|_| "scale_data_size is negative")?)])
}

fn dequantize_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let scale = usize::try_from(p.int(0, 1)).map_err(|_| "scale_data_size is negative")?;
    let mut slots = vec![raw("scale", scale)];
    let bias = count(p, 1, "bias_data_size")?;
    if bias > 0 {
        slots.push(raw("bias", bias));
    }
    Ok(slots)
}

fn requantize_weights(p: &ParamDict) -> Result<Vec<WeightSlot>, String> {
    let scale_in = usize::try_from(p.int(0, 1)).map_err(|_| "scale_in_data_size is negative")?;
    let scale_out = usize::try_from(p.int(1, 1)).map_err(|_| "scale_out_data_size is negative")?;
    let mut slots = vec![raw("scale_in", scale_in), raw("scale_out", scale_out)];
    let bias = count(p, 2, "bias_data_size")?;
    if bias > 0 {
        slots.push(raw("bias", bias));
    }
    Ok(slots)
}

// ---------------------------------------------------------------------------------------------
// Parameter tables

const CONV_ACT: [ParamSpec; 2] = [int(9, "activation_type", 0), floats(10, "activation_params")];

const CONVOLUTION: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "kernel_w", 0),
    same(11, "kernel_h", 1),
    int(2, "dilation_w", 1),
    same(12, "dilation_h", 2),
    int(3, "stride_w", 1),
    same(13, "stride_h", 3),
    int(4, "pad_left", 0),
    same(14, "pad_top", 4),
    same(15, "pad_right", 4),
    same(16, "pad_bottom", 14),
    float(18, "pad_value", 0.0),
    int(5, "bias_term", 0),
    int(6, "weight_data_size", 0),
    int(8, "int8_scale_term", 0),
    CONV_ACT[0],
    CONV_ACT[1],
    int(19, "dynamic_weight", 0),
];

const CONVOLUTION_DEPTHWISE: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "kernel_w", 0),
    same(11, "kernel_h", 1),
    int(2, "dilation_w", 1),
    same(12, "dilation_h", 2),
    int(3, "stride_w", 1),
    same(13, "stride_h", 3),
    int(4, "pad_left", 0),
    same(14, "pad_top", 4),
    same(15, "pad_right", 4),
    same(16, "pad_bottom", 14),
    float(18, "pad_value", 0.0),
    int(5, "bias_term", 0),
    int(6, "weight_data_size", 0),
    int(7, "group", 1),
    int(8, "int8_scale_term", 0),
    CONV_ACT[0],
    CONV_ACT[1],
    int(19, "dynamic_weight", 0),
];

const CONVOLUTION1D: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "kernel_w", 0),
    int(2, "dilation_w", 1),
    int(3, "stride_w", 1),
    int(4, "pad_left", 0),
    same(15, "pad_right", 4),
    float(18, "pad_value", 0.0),
    int(5, "bias_term", 0),
    int(6, "weight_data_size", 0),
    CONV_ACT[0],
    CONV_ACT[1],
    int(19, "dynamic_weight", 0),
];

const CONVOLUTION_DEPTHWISE1D: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "kernel_w", 0),
    int(2, "dilation_w", 1),
    int(3, "stride_w", 1),
    int(4, "pad_left", 0),
    same(15, "pad_right", 4),
    float(18, "pad_value", 0.0),
    int(5, "bias_term", 0),
    int(6, "weight_data_size", 0),
    int(7, "group", 1),
    CONV_ACT[0],
    CONV_ACT[1],
    int(19, "dynamic_weight", 0),
];

const CONVOLUTION3D: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "kernel_w", 0),
    same(11, "kernel_h", 1),
    same(21, "kernel_d", 1),
    int(2, "dilation_w", 1),
    same(12, "dilation_h", 2),
    same(22, "dilation_d", 2),
    int(3, "stride_w", 1),
    same(13, "stride_h", 3),
    same(23, "stride_d", 3),
    int(4, "pad_left", 0),
    same(14, "pad_top", 4),
    same(24, "pad_front", 4),
    same(15, "pad_right", 4),
    same(16, "pad_bottom", 14),
    same(17, "pad_behind", 24),
    float(18, "pad_value", 0.0),
    int(5, "bias_term", 0),
    int(6, "weight_data_size", 0),
    CONV_ACT[0],
    CONV_ACT[1],
];

const CONVOLUTION_DEPTHWISE3D: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "kernel_w", 0),
    same(11, "kernel_h", 1),
    same(21, "kernel_d", 1),
    int(2, "dilation_w", 1),
    same(12, "dilation_h", 2),
    same(22, "dilation_d", 2),
    int(3, "stride_w", 1),
    same(13, "stride_h", 3),
    same(23, "stride_d", 3),
    int(4, "pad_left", 0),
    same(14, "pad_top", 4),
    same(24, "pad_front", 4),
    same(15, "pad_right", 4),
    same(16, "pad_bottom", 14),
    same(17, "pad_behind", 24),
    float(18, "pad_value", 0.0),
    int(5, "bias_term", 0),
    int(6, "weight_data_size", 0),
    int(7, "group", 1),
    CONV_ACT[0],
    CONV_ACT[1],
];

const DECONVOLUTION: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "kernel_w", 0),
    same(11, "kernel_h", 1),
    int(2, "dilation_w", 1),
    same(12, "dilation_h", 2),
    int(3, "stride_w", 1),
    same(13, "stride_h", 3),
    int(4, "pad_left", 0),
    same(14, "pad_top", 4),
    same(15, "pad_right", 4),
    same(16, "pad_bottom", 14),
    int(18, "output_pad_right", 0),
    same(19, "output_pad_bottom", 18),
    int(20, "output_w", 0),
    same(21, "output_h", 20),
    int(5, "bias_term", 0),
    int(6, "weight_data_size", 0),
    CONV_ACT[0],
    CONV_ACT[1],
    int(28, "dynamic_weight", 0),
];

const DECONVOLUTION_DEPTHWISE: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "kernel_w", 0),
    same(11, "kernel_h", 1),
    int(2, "dilation_w", 1),
    same(12, "dilation_h", 2),
    int(3, "stride_w", 1),
    same(13, "stride_h", 3),
    int(4, "pad_left", 0),
    same(14, "pad_top", 4),
    same(15, "pad_right", 4),
    same(16, "pad_bottom", 14),
    int(18, "output_pad_right", 0),
    same(19, "output_pad_bottom", 18),
    int(20, "output_w", 0),
    same(21, "output_h", 20),
    int(5, "bias_term", 0),
    int(6, "weight_data_size", 0),
    int(7, "group", 1),
    CONV_ACT[0],
    CONV_ACT[1],
    int(28, "dynamic_weight", 0),
];

const INNER_PRODUCT: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "bias_term", 0),
    int(2, "weight_data_size", 0),
    int(8, "int8_scale_term", 0),
    CONV_ACT[0],
    CONV_ACT[1],
];

const POOLING: &[ParamSpec] = &[
    int(0, "pooling_type", 0),
    int(1, "kernel_w", 0),
    same(11, "kernel_h", 1),
    int(2, "stride_w", 1),
    same(12, "stride_h", 2),
    int(3, "pad_left", 0),
    same(13, "pad_top", 3),
    same(14, "pad_right", 3),
    same(15, "pad_bottom", 13),
    int(4, "global_pooling", 0),
    int(5, "pad_mode", 0),
    int(6, "avgpool_count_include_pad", 0),
    int(7, "adaptive_pooling", 0),
    int(8, "out_w", 0),
    same(18, "out_h", 8),
];

const POOLING1D: &[ParamSpec] = &[
    int(0, "pooling_type", 0),
    int(1, "kernel_w", 0),
    int(2, "stride_w", 1),
    int(3, "pad_left", 0),
    same(14, "pad_right", 3),
    int(4, "global_pooling", 0),
    int(5, "pad_mode", 0),
    int(6, "avgpool_count_include_pad", 0),
    int(7, "adaptive_pooling", 0),
    int(8, "out_w", 0),
];

const INPUT: &[ParamSpec] = &[int(0, "w", 0), int(1, "h", 0), int(11, "d", 0), int(2, "c", 0)];

const MEMORY_DATA: &[ParamSpec] =
    &[int(0, "w", 0), int(1, "h", 0), int(2, "c", 0), int(11, "d", 0), int(21, "load_type", 1)];

const NORM_EPS: [ParamSpec; 1] = [float(1, "eps", 0.001)];

const GEMM: &[ParamSpec] = &[
    float(0, "alpha", 1.0),
    float(1, "beta", 1.0),
    int(2, "transA", 0),
    int(3, "transB", 0),
    int(4, "constantA", 0),
    int(5, "constantB", 0),
    int(6, "constantC", 0),
    int(7, "constantM", 0),
    int(8, "constantN", 0),
    int(9, "constantK", 0),
    int(10, "constant_broadcast_type_C", 0),
    int(11, "output_N1M", 0),
    int(12, "output_elempack", 0),
    int(13, "output_elemtype", 0),
    int(14, "output_transpose", 0),
    int(18, "quantize_term", 0),
    int(20, "constant_TILE_M", 0),
    int(21, "constant_TILE_N", 0),
    int(22, "constant_TILE_K", 0),
];

const MULTI_HEAD_ATTENTION: &[ParamSpec] = &[
    int(0, "embed_dim", 0),
    int(1, "num_heads", 1),
    int(2, "weight_data_size", 0),
    same(3, "kdim", 0),
    same(4, "vdim", 0),
    int(5, "attn_mask", 0),
    ParamSpec { id: 6, name: "scale", kind: ParamKind::Float, default: ParamDefault::Derived },
    int(7, "kv_cache", 0),
    int(18, "quantize_term", 0),
];

const RECURRENT: &[ParamSpec] =
    &[int(0, "num_output", 0), int(1, "weight_data_size", 0), int(2, "direction", 0), int(8, "int8_scale_term", 0)];

const LSTM: &[ParamSpec] = &[
    int(0, "num_output", 0),
    int(1, "weight_data_size", 0),
    int(2, "direction", 0),
    same(3, "hidden_size", 0),
    int(8, "int8_scale_term", 0),
];

const CROP: &[ParamSpec] = &[
    int(0, "woffset", 0),
    int(1, "hoffset", 0),
    int(13, "doffset", 0),
    int(2, "coffset", 0),
    int(3, "outw", 0),
    int(4, "outh", 0),
    int(14, "outd", 0),
    int(5, "outc", 0),
    int(6, "woffset2", 0),
    int(7, "hoffset2", 0),
    int(15, "doffset2", 0),
    int(8, "coffset2", 0),
    ints(9, "starts"),
    ints(10, "ends"),
    ints(11, "axes"),
    expr(19, "starts_expr"),
    expr(20, "ends_expr"),
    expr(21, "axes_expr"),
];

const PADDING: &[ParamSpec] = &[
    int(0, "top", 0),
    int(1, "bottom", 0),
    int(2, "left", 0),
    int(3, "right", 0),
    int(4, "type", 0),
    float(5, "value", 0.0),
    int(6, "per_channel_pad_data_size", 0),
    int(7, "front", 0),
    int(8, "behind", 0),
];

const INTERP: &[ParamSpec] = &[
    int(0, "resize_type", 0),
    float(1, "height_scale", 1.0),
    float(2, "width_scale", 1.0),
    int(3, "output_height", 0),
    int(4, "output_width", 0),
    int(5, "dynamic_target_size", 0),
    int(6, "align_corner", 0),
    expr(9, "size_expr"),
];

// 12/13: the axis of the input/output shape that is the batch (233 = none). pnnx writes them
// with a shape expression that lists the batch; any other value switches ncnn to its batch path.
const RESHAPE: &[ParamSpec] = &[
    int(0, "w", -233),
    int(1, "h", -233),
    int(11, "d", -233),
    int(2, "c", -233),
    expr(6, "shape_expr"),
    int(12, "input_batch_axis", 233),
    int(13, "output_batch_axis", 233),
];

const REDUCTION: &[ParamSpec] = &[
    int(0, "operation", 0),
    int(1, "reduce_all", 1),
    float(2, "coeff", 1.0),
    ints(3, "axes"),
    int(4, "keepdims", 0),
    int(5, "fixbug0", 0),
];

const PRIOR_BOX: &[ParamSpec] = &[
    floats(0, "min_sizes"),
    floats(1, "max_sizes"),
    floats(2, "aspect_ratios"),
    float(3, "variance0", 0.1),
    float(4, "variance1", 0.1),
    float(5, "variance2", 0.2),
    float(6, "variance3", 0.2),
    int(7, "flip", 1),
    int(8, "clip", 0),
    int(9, "image_width", 0),
    int(10, "image_height", 0),
    float(11, "step_width", -233.0),
    float(12, "step_height", -233.0),
    float(13, "offset", 0.0),
    int(14, "step_mmdetection", 0),
    int(15, "center_mmdetection", 0),
];

const DETECTION_OUTPUT: &[ParamSpec] = &[
    int(0, "num_class", 0),
    float(1, "nms_threshold", 0.05),
    int(2, "nms_top_k", 300),
    int(3, "keep_top_k", 100),
    float(4, "confidence_threshold", 0.5),
    float(5, "variance0", 0.1),
    float(6, "variance1", 0.1),
    float(7, "variance2", 0.2),
    float(8, "variance3", 0.2),
];

const YOLO_DETECTION_OUTPUT: &[ParamSpec] = &[
    int(0, "num_class", 20),
    int(1, "num_box", 5),
    float(2, "confidence_threshold", 0.01),
    float(3, "nms_threshold", 0.45),
    floats(4, "biases"),
];

const YOLOV3_DETECTION_OUTPUT: &[ParamSpec] = &[
    int(0, "num_class", 20),
    int(1, "num_box", 5),
    float(2, "confidence_threshold", 0.01),
    float(3, "nms_threshold", 0.45),
    floats(4, "biases"),
    // Read as floats; benchmark files write the floats' bit patterns as ints.
    floats(5, "mask"),
    floats(6, "anchors_scale"),
];

const HARD_ACT: &[ParamSpec] = &[float(0, "alpha", 0.2), float(1, "beta", 0.5)];
const EXP_LOG: &[ParamSpec] = &[float(0, "base", -1.0), float(1, "scale", 1.0), float(2, "shift", 0.0)];
const SQUEEZE: &[ParamSpec] =
    &[int(0, "squeeze_w", 0), int(1, "squeeze_h", 0), int(11, "squeeze_d", 0), int(2, "squeeze_c", 0), ints(3, "axes")];
// ncnn dropped ExpandDims' expand_w/h/c flags (0, 1, 2): only axes is read.
const EXPAND_DIMS: &[ParamSpec] = &[ints(3, "axes")];
const NONE: &[ParamSpec] = &[];

macro_rules! spec {
    ($name:literal, $params:expr) => {
        LayerSpec { name: $name, params: $params, weights: None, key_params: &[] }
    };
    ($name:literal, $params:expr, $weights:expr) => {
        LayerSpec { name: $name, params: $params, weights: Some($weights), key_params: &[] }
    };
    ($name:literal, $params:expr, $weights:expr, keys $keys:expr) => {
        LayerSpec { name: $name, params: $params, weights: $weights, key_params: $keys }
    };
}

const CONV_KEYS: &[u32] = &[0, 1, 11, 3, 13, 4, 7, 9, 8];

static SPECS: &[LayerSpec] = &[
    spec!("AbsVal", NONE),
    spec!("ArgMax", &[int(0, "out_max_val", 0), int(1, "topk", 1)]),
    spec!("BatchNorm", &[int(0, "channels", 0), float(1, "eps", 0.0)], batchnorm_weights),
    spec!("Bias", &[int(0, "bias_data_size", 0)], bias_weights),
    spec!("BNLL", NONE),
    spec!("Concat", &[int(0, "axis", 0)], None, keys & [0]),
    spec!("Convolution", CONVOLUTION, Some(convolution_weights), keys CONV_KEYS),
    spec!("Crop", CROP),
    spec!("Deconvolution", DECONVOLUTION, Some(deconvolution_weights), keys CONV_KEYS),
    spec!("Dropout", &[float(0, "scale", 1.0)]),
    spec!("Eltwise", &[int(0, "op_type", 0), floats(1, "coeffs")], None, keys & [0]),
    spec!("ELU", &[float(0, "alpha", 0.1)]),
    spec!(
        "Embed",
        &[
            int(0, "num_output", 0),
            int(1, "input_dim", 0),
            int(2, "bias_term", 0),
            int(3, "weight_data_size", 0),
            int(18, "int8_scale_term", 0)
        ],
        embed_weights
    ),
    spec!("Exp", EXP_LOG),
    spec!("Flatten", NONE),
    spec!("InnerProduct", INNER_PRODUCT, Some(innerproduct_weights), keys & [0, 9, 8]),
    spec!("Input", INPUT, None, keys & [0, 1, 11, 2]),
    spec!("Log", EXP_LOG),
    spec!(
        "LRN",
        &[
            int(0, "region_type", 0),
            int(1, "local_size", 5),
            float(2, "alpha", 1.0),
            float(3, "beta", 0.75),
            float(4, "bias", 1.0)
        ]
    ),
    spec!("MemoryData", MEMORY_DATA, Some(memorydata_weights), keys & [0, 1, 11, 2]),
    spec!("MVN", &[int(0, "normalize_variance", 0), int(1, "across_channels", 0), float(2, "eps", 0.0001)]),
    spec!("Pooling", POOLING, None, keys & [0, 1, 2, 4]),
    spec!("Power", &[float(0, "power", 1.0), float(1, "scale", 1.0), float(2, "shift", 0.0)]),
    spec!("PReLU", &[int(0, "num_slope", 0)], prelu_weights),
    spec!("Reduction", REDUCTION, None, keys & [0, 3]),
    spec!("ReLU", &[float(0, "slope", 0.0)]),
    spec!("Reshape", RESHAPE, None, keys & [0, 1, 11, 2]),
    spec!("Scale", &[int(0, "scale_data_size", 0), int(1, "bias_term", 0)], scale_weights),
    spec!("Sigmoid", NONE),
    spec!("Slice", &[ints(0, "slices"), int(1, "axis", 0), ints(2, "indices")], None, keys & [0, 1]),
    spec!("Softmax", &[int(0, "axis", 0), int(1, "fixbug0", 0)], None, keys & [0]),
    spec!("Split", NONE),
    spec!("TanH", NONE),
    spec!("Threshold", &[float(0, "threshold", 0.0)]),
    spec!("Tile", &[int(0, "axis", 0), int(1, "tiles", 1), ints(2, "repeats")]),
    spec!("RNN", RECURRENT, rnn_weights),
    spec!("LSTM", LSTM, lstm_weights),
    spec!("BinaryOp", &[int(0, "op_type", 0), int(1, "with_scalar", 0), float(2, "b", 0.0)], None, keys & [0, 1, 2]),
    spec!("UnaryOp", &[int(0, "op_type", 0)], None, keys & [0]),
    spec!("ConvolutionDepthWise", CONVOLUTION_DEPTHWISE, Some(convolution_depthwise_weights), keys CONV_KEYS),
    spec!("Padding", PADDING, padding_weights),
    spec!("Squeeze", SQUEEZE),
    spec!("ExpandDims", EXPAND_DIMS),
    spec!(
        "Normalize",
        &[
            int(0, "across_spatial", 0),
            int(1, "channel_shared", 0),
            float(2, "eps", 0.0001),
            int(3, "scale_data_size", 0),
            int(4, "across_channel", 1),
            int(9, "eps_mode", 0)
        ],
        normalize_weights
    ),
    spec!("Permute", &[int(0, "order_type", 0)], None, keys & [0]),
    spec!("PriorBox", PRIOR_BOX),
    spec!("DetectionOutput", DETECTION_OUTPUT),
    spec!("Interp", INTERP, None, keys & [0, 3, 4]),
    spec!("DeconvolutionDepthWise", DECONVOLUTION_DEPTHWISE, Some(deconvolution_weights), keys CONV_KEYS),
    spec!("ShuffleChannel", &[int(0, "group", 1), int(1, "reverse", 0)], None, keys & [0]),
    spec!("InstanceNorm", &[int(0, "channels", 0), NORM_EPS[0], int(2, "affine", 1)], instancenorm_weights),
    spec!("Clip", &[float(0, "min", -f32::MAX), float(1, "max", f32::MAX)]),
    spec!("Reorg", &[int(0, "stride", 1), int(1, "mode", 0)]),
    spec!("YoloDetectionOutput", YOLO_DETECTION_OUTPUT),
    spec!("Quantize", &[int(0, "scale_data_size", 1)], quantize_weights),
    spec!("Dequantize", &[int(0, "scale_data_size", 1), int(1, "bias_data_size", 0)], dequantize_weights),
    spec!("Yolov3DetectionOutput", YOLOV3_DETECTION_OUTPUT),
    spec!(
        "Requantize",
        &[
            int(0, "scale_in_data_size", 1),
            int(1, "scale_out_data_size", 1),
            int(2, "bias_data_size", 0),
            int(3, "activation_type", 0),
            floats(4, "activation_params")
        ],
        requantize_weights
    ),
    spec!("Cast", &[int(0, "type_from", 0), int(1, "type_to", 0)]),
    spec!("HardSigmoid", HARD_ACT),
    spec!("SELU", &[float(0, "alpha", 1.673_263_2), float(1, "lambda", 1.050_701)]),
    spec!("HardSwish", HARD_ACT),
    spec!("Noop", NONE),
    spec!("PixelShuffle", &[int(0, "upscale_factor", 1), int(1, "mode", 0)]),
    spec!("Mish", NONE),
    spec!("Swish", NONE),
    spec!("Gemm", GEMM, Some(gemm_weights), keys & [2, 3, 4, 5, 7, 8, 9]),
    spec!(
        "GroupNorm",
        &[int(0, "group", 1), int(1, "channels", 0), float(2, "eps", 0.001), int(3, "affine", 1)],
        groupnorm_weights
    ),
    spec!(
        "LayerNorm",
        &[int(0, "affine_size", 0), NORM_EPS[0], int(2, "affine", 1)],
        Some(layernorm_weights),
        keys & [0]
    ),
    spec!("Softplus", NONE),
    spec!("GRU", RECURRENT, gru_weights),
    spec!("MultiHeadAttention", MULTI_HEAD_ATTENTION, Some(mha_weights), keys & [0, 1]),
    spec!("GELU", &[int(0, "fast_gelu", 0)]),
    spec!("Convolution1D", CONVOLUTION1D, Some(convolution_nd_weights), keys & [0, 1, 3]),
    spec!("Pooling1D", POOLING1D),
    spec!("ConvolutionDepthWise1D", CONVOLUTION_DEPTHWISE1D, Some(convolution_nd_weights), keys & [0, 1, 3, 7]),
    spec!("Convolution3D", CONVOLUTION3D, convolution_nd_weights),
    spec!("ConvolutionDepthWise3D", CONVOLUTION_DEPTHWISE3D, convolution_nd_weights),
    spec!(
        "DeformableConv2D",
        &[
            int(0, "num_output", 0),
            int(1, "kernel_w", 0),
            same(11, "kernel_h", 1),
            int(2, "dilation_w", 1),
            same(12, "dilation_h", 2),
            int(3, "stride_w", 1),
            same(13, "stride_h", 3),
            int(4, "pad_left", 0),
            same(14, "pad_top", 4),
            same(15, "pad_right", 4),
            same(16, "pad_bottom", 14),
            int(5, "bias_term", 0),
            int(6, "weight_data_size", 0),
            CONV_ACT[0],
            CONV_ACT[1],
        ],
        deformable_weights
    ),
    spec!("GLU", &[int(0, "axis", 0)]),
    spec!("Erf", NONE),
    spec!("CELU", &[float(0, "alpha", 1.0)]),
    spec!("RMSNorm", &[int(0, "affine_size", 0), NORM_EPS[0], int(2, "affine", 1)], rmsnorm_weights),
    spec!("Flip", &[ints(0, "axes")]),
    spec!("MatMul", &[int(0, "transB", 0)]),
];

/// ncnn's built-in layer enum (formats.md §2): the index is the binary param's type id.
pub const TYPE_INDEX: &[&str] = &[
    "AbsVal",
    "ArgMax",
    "BatchNorm",
    "Bias",
    "BNLL",
    "Concat",
    "Convolution",
    "Crop",
    "Deconvolution",
    "Dropout",
    "Eltwise",
    "ELU",
    "Embed",
    "Exp",
    "Flatten",
    "InnerProduct",
    "Input",
    "Log",
    "LRN",
    "MemoryData",
    "MVN",
    "Pooling",
    "Power",
    "PReLU",
    "Proposal",
    "Reduction",
    "ReLU",
    "Reshape",
    "ROIPooling",
    "Scale",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "SPP",
    "TanH",
    "Threshold",
    "Tile",
    "RNN",
    "LSTM",
    "BinaryOp",
    "UnaryOp",
    "ConvolutionDepthWise",
    "Padding",
    "Squeeze",
    "ExpandDims",
    "Normalize",
    "Permute",
    "PriorBox",
    "DetectionOutput",
    "Interp",
    "DeconvolutionDepthWise",
    "ShuffleChannel",
    "InstanceNorm",
    "Clip",
    "Reorg",
    "YoloDetectionOutput",
    "Quantize",
    "Dequantize",
    "Yolov3DetectionOutput",
    "PSROIPooling",
    "ROIAlign",
    "Packing",
    "Requantize",
    "Cast",
    "HardSigmoid",
    "SELU",
    "HardSwish",
    "Noop",
    "PixelShuffle",
    "DeepCopy",
    "Mish",
    "StatisticsPooling",
    "Swish",
    "Gemm",
    "GroupNorm",
    "LayerNorm",
    "Softplus",
    "GRU",
    "MultiHeadAttention",
    "GELU",
    "Convolution1D",
    "Pooling1D",
    "ConvolutionDepthWise1D",
    "Convolution3D",
    "ConvolutionDepthWise3D",
    "Pooling3D",
    "MatMul",
    "Deconvolution1D",
    "DeconvolutionDepthWise1D",
    "Deconvolution3D",
    "DeconvolutionDepthWise3D",
    "Einsum",
    "DeformableConv2D",
    "GLU",
    "Fold",
    "Unfold",
    "GridSample",
    "CumulativeSum",
    "CopyTo",
    "Erf",
    "Diag",
    "CELU",
    "Shrink",
    "RMSNorm",
    "Spectrogram",
    "InverseSpectrogram",
    "Flip",
    "SDPA",
    "RotaryEmbed",
];

pub fn lookup(type_name: &str) -> Option<&'static LayerSpec> {
    SPECS.iter().find(|s| s.name == type_name)
}

pub fn all() -> &'static [LayerSpec] {
    SPECS
}

/// Whether ncnn has a built-in layer of this name (with or without a spec here).
pub fn is_builtin(type_name: &str) -> bool {
    TYPE_INDEX.contains(&type_name)
}

pub fn type_index(type_name: &str) -> Option<usize> {
    TYPE_INDEX.iter().position(|&n| n == type_name)
}

/// The effective value of a parameter: its stored value, or its default resolved through
/// `SameAs` chains. `None` for array/string defaults and derived defaults.
pub fn effective(spec: &LayerSpec, params: &ParamDict, id: u32) -> Option<super::param_dict::ParamValue> {
    use super::param_dict::ParamValue;
    if let Some(v) = params.get(id) {
        return Some(v.clone());
    }
    let p = spec.param(id)?;
    match p.default {
        ParamDefault::Int(i) => Some(ParamValue::Int(i)),
        ParamDefault::Float(f) => Some(ParamValue::Float(f)),
        ParamDefault::SameAs(other) => effective(spec, params, other),
        ParamDefault::Empty | ParamDefault::Derived => None,
    }
}

/// A value to store as parameter `id`, checked against the type the layer reads: an int where a
/// float is read (or int elements in a float array) becomes that float; any other mismatch, or a
/// parameter the layer does not read, is an error (ncnn would reinterpret the bits or ignore it).
pub fn coerce(
    spec: &LayerSpec,
    id: u32,
    value: super::param_dict::ParamValue,
) -> Result<super::param_dict::ParamValue, String> {
    use super::param_dict::ParamValue as V;
    let p = spec.param(id).ok_or_else(|| format!("{} has no parameter {id}", spec.name))?;
    match (p.kind, value) {
        (ParamKind::Float, V::Int(i)) => Ok(V::Float(i as f32)),
        (ParamKind::FloatArray, V::IntArray(v)) => Ok(V::FloatArray(v.into_iter().map(|i| i as f32).collect())),
        (ParamKind::Int, v @ V::Int(_))
        | (ParamKind::Float, v @ V::Float(_))
        | (ParamKind::IntArray, v @ V::IntArray(_))
        | (ParamKind::FloatArray, v @ V::FloatArray(_))
        | (ParamKind::Str | ParamKind::Expr, v @ V::Str(_)) => Ok(v),
        (kind, v) => {
            let wanted = match kind {
                ParamKind::Int => "an int",
                ParamKind::Float => "a float",
                ParamKind::IntArray => "an int array",
                ParamKind::FloatArray => "a float array",
                ParamKind::Str => "a string",
                ParamKind::Expr => "a shape expression string",
            };
            Err(format!("parameter {id} ({}) is {wanted} (got: {})", p.name, v.kind_name()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_consistent() {
        for spec in all() {
            assert!(is_builtin(spec.name), "{} is not in ncnn's type enum", spec.name);
            let mut ids: Vec<u32> = spec.params.iter().map(|p| p.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), spec.params.len(), "{} has duplicate param ids", spec.name);
            for p in spec.params {
                assert!(p.id < 30, "{}: param {} uses a reserved id", spec.name, p.id);
                if let ParamDefault::SameAs(other) = p.default {
                    assert!(spec.param(other).is_some(), "{}: {} refers to missing {}", spec.name, p.id, other);
                }
            }
        }
        assert_eq!(type_index("Convolution"), Some(6));
        assert_eq!(type_index("RotaryEmbed"), Some(109));
    }
}
