//! Per-layer int8 rewrite (ncnn2int8's passes 1-8): int8 weights quantized row by row with the
//! table's scales, the int8 flag set, and the scale arrays appended in the order the loader
//! reads them.

use super::{ncnn_workarounds, Report, ScaleTable};
use crate::error::{Error, Result};
use crate::model::{Graph, Layer, Weight, WeightData};

/// Layers that get an activation scale from calibration data.
pub const CALIBRATED: &[&str] = &["Convolution", "ConvolutionDepthWise", "InnerProduct"];

/// ncnn's float2int8: round half away from zero (as "add ±0.5, truncate" in float32, which is
/// what ncnn2int8's x86 Quantize does), clamp to ±127.
pub fn float2int8(v: f32) -> i8 {
    (v + 0.5f32.copysign(v)).trunc().clamp(-127.0, 127.0) as i8
}

fn directions(layer: &Layer) -> usize {
    if layer.params.int(2, 0) == 2 {
        2
    } else {
        1
    }
}

/// How many scales `<layer>_param_<k>` must hold, or an error when the layer takes none.
pub fn expected_weight_scales(layer: &Layer, k: &str) -> std::result::Result<Option<usize>, String> {
    let p = &layer.params;
    let n = |v: i32| Some(v.max(0) as usize);
    let count = match (layer.type_name.as_str(), k) {
        ("Convolution" | "InnerProduct", "0") => n(p.int(0, 0)),
        ("ConvolutionDepthWise", "0") => n(p.int(7, 1)),
        ("Embed", "0") | ("MultiHeadAttention", "3") => Some(1),
        ("MultiHeadAttention", "0" | "1" | "2") => n(p.int(0, 0)),
        ("RNN", "0" | "1") => n(p.int(0, 0) * directions(layer) as i32),
        ("GRU", "0" | "1") => n(3 * p.int(0, 0) * directions(layer) as i32),
        ("LSTM", "0" | "1") => n(4 * p.int(3, p.int(0, 0)) * directions(layer) as i32),
        (t, _) if CALIBRATED.contains(&t) || ["Embed", "MultiHeadAttention", "RNN", "GRU", "LSTM"].contains(&t) => {
            return Err(format!("layer type {t} has no weight entry _param_{k}"))
        }
        (t, _) => return Err(format!("layer type {t} takes no weight scales")),
    };
    Ok(count)
}

/// The weight array a `_param_<k>` entry scales.
fn scaled_array(layer: &Layer, k: &str) -> Option<&'static str> {
    Some(match (layer.type_name.as_str(), k) {
        ("Convolution" | "ConvolutionDepthWise" | "InnerProduct" | "Embed", "0") => "weight",
        ("MultiHeadAttention", "0") => "q_weight",
        ("MultiHeadAttention", "1") => "k_weight",
        ("MultiHeadAttention", "2") => "v_weight",
        ("MultiHeadAttention", "3") => "out_weight",
        ("RNN" | "LSTM" | "GRU", "0") => "weight_xc",
        ("RNN" | "LSTM" | "GRU", "1") => "weight_hc",
        _ => return None,
    })
}

/// For each of `rows` equal rows of the array entry `k` scales: whether it is all zeros.
pub fn zero_rows(layer: &Layer, k: &str, rows: usize) -> Vec<bool> {
    let Some(w) = scaled_array(layer, k).and_then(|name| layer.weight(name)) else { return Vec::new() };
    let values = w.data.to_f32();
    if rows == 0 || values.len() % rows != 0 {
        return Vec::new();
    }
    values.chunks(values.len() / rows).map(|r| r.iter().all(|&v| v == 0.0)).collect()
}

/// Scales with ncnn2table's `inf` (all-zero rows) replaced by 1: the row quantizes to zeros and
/// produces its bias either way, and no NaN·0 reaches the int8 weights.
pub fn finite_scales(scales: &[f32]) -> Vec<f32> {
    scales.iter().map(|&s| if s.is_infinite() { 1.0 } else { s }).collect()
}

fn float_weights(layer: &Layer, name: &str) -> Result<Vec<f32>> {
    let w = layer
        .weight(name)
        .ok_or_else(|| Error::layer(&layer.name, &layer.type_name, format!("has no {name} array")))?;
    if let WeightData::I8(_) = w.data {
        return Err(Error::layer(&layer.name, &layer.type_name, format!("{name} is already int8")));
    }
    let v = w.data.to_f32();
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::layer(&layer.name, &layer.type_name, format!("{name} holds NaN or infinite values")));
    }
    Ok(v)
}

/// Quantizes `values` as `scales.len()` equal rows, row r with `scales[r]`.
fn quantize_rows(values: &[f32], scales: &[f32]) -> Vec<i8> {
    let row = values.len() / scales.len().max(1);
    values.iter().enumerate().map(|(i, &v)| float2int8(v * scales[(i / row.max(1)).min(scales.len() - 1)])).collect()
}

fn raw(name: &'static str, values: Vec<f32>) -> Weight {
    Weight { name, tagged: false, data: WeightData::F32(values) }
}

fn set_int8(layer: &mut Layer, name: &str, q: Vec<i8>) {
    if let Some(w) = layer.weight_mut(name) {
        w.data = WeightData::I8(q);
    }
}

/// The int8 weights of a Convolution, ConvolutionDepthWise or InnerProduct: `scales.len()` equal
/// rows (output channels, or groups), row r quantized with `scales[r]` (`inf` read as 1).
pub fn int8_weights(values: &[f32], scales: &[f32]) -> Vec<i8> {
    quantize_rows(values, &finite_scales(scales))
}

/// Convolution, ConvolutionDepthWise and InnerProduct: per-row weights, flag, scale arrays.
fn quantize_calibrated(layer: &mut Layer, weight_scales: &[f32], input_scale: f32) -> Result<()> {
    let w = float_weights(layer, "weight")?;
    set_int8(layer, "weight", int8_weights(&w, weight_scales));
    let weight_scales = &finite_scales(weight_scales);
    let flag = if layer.type_name == "ConvolutionDepthWise" { 1 } else { 2 };
    layer.params.set_int(8, flag);
    layer.weights.push(raw("weight_int8_scales", weight_scales.clone()));
    layer.weights.push(raw("bottom_int8_scale", vec![input_scale]));
    Ok(())
}

fn scales<'a>(table: &'a ScaleTable, layer: &str, k: usize) -> Option<&'a [f32]> {
    table.weights.get(&format!("{layer}_param_{k}")).map(Vec::as_slice)
}

fn quantize_static(layer: &mut Layer, table: &ScaleTable, report: &mut Report) -> Result<bool> {
    let name = layer.name.clone();
    match layer.type_name.as_str() {
        "Embed" => {
            let Some(s) = scales(table, &name, 0) else { return Ok(false) };
            let w = float_weights(layer, "weight")?;
            set_int8(layer, "weight", quantize_rows(&w, &s[..1]));
            layer.params.set_int(18, 2);
            layer.weights.push(raw("weight_int8_scale", vec![s[0]]));
        }
        "MultiHeadAttention" => {
            let all: Option<Vec<&[f32]>> = (0..4).map(|k| scales(table, &name, k)).collect();
            let Some(s) = all else {
                if (0..4).any(|k| scales(table, &name, k).is_some()) {
                    report.warnings.push(format!("{name}: needs _param_0.._param_3; kept in float"));
                }
                return Ok(false);
            };
            for (k, array) in ["q_weight", "k_weight", "v_weight", "out_weight"].iter().enumerate() {
                let w = float_weights(layer, array)?;
                set_int8(layer, array, quantize_rows(&w, if k == 3 { &s[3][..1] } else { s[k] }));
            }
            layer.params.set_int(18, 2);
            layer.weights.push(raw("q_scales", s[0].to_vec()));
            layer.weights.push(raw("k_scales", s[1].to_vec()));
            layer.weights.push(raw("v_scales", s[2].to_vec()));
            layer.weights.push(raw("out_scale", vec![s[3][0]]));
        }
        "RNN" | "LSTM" | "GRU" => {
            let (Some(xc), Some(hc)) = (scales(table, &name, 0), scales(table, &name, 1)) else { return Ok(false) };
            let (xc, hc) = (finite_scales(xc), finite_scales(hc));
            let wx = float_weights(layer, "weight_xc")?;
            let wh = float_weights(layer, "weight_hc")?;
            set_int8(layer, "weight_xc", quantize_rows(&wx, &xc));
            set_int8(layer, "weight_hc", quantize_rows(&wh, &hc));
            layer.params.set_int(8, 2);
            layer.weights.push(raw("xc_scales", xc));
            layer.weights.push(raw("hc_scales", hc));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn row_scale(row: &[f32]) -> f32 {
    let absmax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if absmax == 0.0 {
        1.0
    } else {
        127.0 / absmax
    }
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = v[r * cols + c];
        }
    }
    t
}

/// ncnn2int8 converts every Gemm: constant A to per-row int8 (M rows of K), constant B to one
/// scale (N rows of K); operands that stay dynamic are quantized at run time.
fn quantize_gemm(layer: &mut Layer) -> Result<()> {
    let (m, n, k) = (layer.params.int(7, 0) as usize, layer.params.int(8, 0) as usize, layer.params.int(9, 0) as usize);
    let mut a_scales = None;
    let mut b_scale = None;
    if layer.params.int(4, 0) != 0 {
        let mut a = float_weights(layer, "A")?;
        if layer.params.int(2, 0) == 1 {
            a = transpose(&a, k, m);
            layer.params.set_int(2, 0);
        }
        let s: Vec<f32> = a.chunks(k.max(1)).map(row_scale).collect();
        set_int8(layer, "A", quantize_rows(&a, &s));
        a_scales = Some(s);
    }
    if layer.params.int(5, 0) != 0 {
        let mut b = float_weights(layer, "B")?;
        if layer.params.int(3, 0) == 0 {
            b = transpose(&b, k, n);
            layer.params.set_int(3, 1);
        }
        let s = row_scale(&b);
        set_int8(layer, "B", b.iter().map(|&v| float2int8(v * s)).collect());
        b_scale = Some(s);
    }
    layer.params.set_int(18, 2);
    if let Some(s) = a_scales {
        layer.weights.push(raw("A_int8_scales", s));
    }
    if let Some(s) = b_scale {
        layer.weights.push(raw("B_int8_scale", vec![s]));
    }
    Ok(())
}

pub fn quantize_layers(graph: &mut Graph, table: &ScaleTable, report: &mut Report) -> Result<()> {
    let one_d = ncnn_workarounds::one_d_blobs(graph);
    for layer in &mut graph.layers {
        let name = layer.name.clone();
        let mut kind = layer.type_name.clone();
        if layer.is_int8() {
            report.warnings.push(format!("{name}: already int8, left as is"));
            continue;
        }
        let flat_input = layer.bottoms.first().is_some_and(|&b| one_d[b]);
        let has_scales = scales(table, &name, 0).is_some() && table.activations.contains_key(&name);
        if kind == "Convolution" && flat_input && has_scales {
            // Real ncnn's int8 Convolution cannot read a 1-D blob (ncnn_workarounds.rs).
            let Some(ip) = ncnn_workarounds::convolution_as_innerproduct(layer) else {
                report.kept_float.push((name, "its input is 1-D, which real ncnn's int8 Convolution misreads".into()));
                continue;
            };
            report.warnings.push(format!(
                "{name}: a Convolution of a 1-D blob, written as the equivalent int8 InnerProduct \
                 (real ncnn's int8 Convolution returns garbage for 1-D input)"
            ));
            *layer = ip;
            kind.clone_from(&layer.type_name);
        }
        if CALIBRATED.contains(&kind.as_str()) {
            let weight = scales(table, &name, 0);
            let input = table.activations.get(&name);
            let reason = match (weight, input) {
                (Some(w), Some(&s)) if layer.params.int(19, 0) == 0 => {
                    if w.iter().any(|v| v.is_infinite()) {
                        report.warnings.push(format!("{name}: inf weight scales of all-zero channels written as 1.0"));
                    }
                    quantize_calibrated(layer, w, s)?;
                    report.quantized.push((name, kind));
                    continue;
                }
                (Some(_), Some(_)) => "dynamic weights cannot be quantized ahead of time",
                (Some(_), None) => "the table has its weight scales but no activation scale",
                (None, Some(_)) => "the table has its activation scale but no weight scales",
                (None, None) => "not in the table",
            };
            report.kept_float.push((name, reason.to_string()));
        } else if kind == "Gemm" {
            if layer.params.int(18, 0) >= 400 {
                continue;
            }
            quantize_gemm(layer)?;
            report.quantized.push((name, kind));
        } else if quantize_static(layer, table, report)? {
            report.quantized.push((name, kind));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero_and_clamped() {
        assert_eq!(float2int8(0.5), 1);
        assert_eq!(float2int8(-0.5), -1);
        assert_eq!(float2int8(1.49), 1);
        assert_eq!(float2int8(-2.5), -3);
        assert_eq!(float2int8(126.5), 127);
        assert_eq!(float2int8(-300.0), -127);
        assert_eq!(float2int8(0.499_999_97), 1, "ncnn's x86 add-then-truncate");
    }
}
