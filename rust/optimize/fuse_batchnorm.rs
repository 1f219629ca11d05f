//! Folding per-channel affine maps into the layer before them (optimize.md §3 passes 1, 2, 5, 8,
//! 11, 12, 14): BatchNorm into Scale's predecessor BatchNorm, BatchNorm into convolutions and
//! InnerProduct, a Dropout scale into InnerProduct. The float32 math is ncnn's, in its order.

use super::pattern::{absorb, float_param, int_param, next_single_reader, only_reader, set_int, set_weight};
use super::pattern::{weight_f32, weight_f32_mut};
use super::PassLog;
use crate::model::{Graph, Layer};

/// Where a foldable layer keeps its bias flag, weight size and dynamic-weight flag.
struct Ids {
    bias_term: u32,
    dynamic_weight: Option<u32>,
}

fn ids(type_name: &str) -> Ids {
    match type_name {
        "InnerProduct" => Ids { bias_term: 1, dynamic_weight: None },
        "Deconvolution" | "DeconvolutionDepthWise" => Ids { bias_term: 5, dynamic_weight: Some(28) },
        _ => Ids { bias_term: 5, dynamic_weight: Some(19) },
    }
}

pub(super) fn bias_term_id(type_name: &str) -> u32 {
    ids(type_name).bias_term
}

/// Why `layer`'s weights cannot absorb a per-output-channel map over `channels` channels (ncnn
/// folds regardless and computes something else in these cases).
pub(super) fn cannot_fold(layer: &Layer, channels: i32) -> Option<String> {
    let ids = ids(&layer.type_name);
    if int_param(layer, 8, 0) != 0 {
        return Some("it is int8-quantized (ncnn would scale the int8 values as floats)".into());
    }
    if ids.dynamic_weight.is_some_and(|id| int_param(layer, id, 0) != 0) {
        return Some("its weights are a runtime input (dynamic_weight)".into());
    }
    if int_param(layer, 9, 0) != 0 {
        return Some("it already applies an activation, which must stay after the folded op".into());
    }
    let num_output = int_param(layer, 0, 0);
    if channels != num_output {
        return Some(format!("the folded op has {channels} channels, the layer {num_output} outputs"));
    }
    let Some(w) = layer.weight("weight") else { return Some("it has no weight array".into()) };
    if !w.data.is_float() || num_output <= 0 || w.data.len() % num_output as usize != 0 {
        return Some("its weight array is not float or not a whole number of channels".into());
    }
    None
}

/// Multiplies every weight of output channel c by `m[c]` (weights are output-channel-major for
/// every foldable type, also the deconvolutions).
pub(super) fn scale_weight_rows(layer: &mut Layer, m: &[f32]) {
    let Some(w) = weight_f32_mut(layer, "weight") else { return };
    let per_channel = w.len() / m.len().max(1);
    for (row, &k) in w.chunks_mut(per_channel.max(1)).zip(m) {
        for v in row.iter_mut() {
            *v *= k;
        }
    }
}

/// The bias, created as zeros with `bias_term=1` when the layer has none.
fn bias_or_zero(layer: &mut Layer, channels: usize) -> &mut Vec<f32> {
    let id = bias_term_id(&layer.type_name);
    if int_param(layer, id, 0) == 0 || layer.weight("bias").is_none() {
        set_int(layer, id, 1);
        set_weight(layer, "bias", false, vec![0.0; channels]);
    }
    weight_f32_mut(layer, "bias").expect("bias was just created")
}

/// BatchNorm as `y = b·x + a` per channel: b = slope/sqrt(var+eps), a = bias − slope·mean/sqrt(var+eps).
fn batchnorm_ab(bn: &Layer) -> Option<(Vec<f32>, Vec<f32>)> {
    let eps = float_param(bn, 1, 0.0);
    let (slope, mean) = (weight_f32(bn, "slope")?, weight_f32(bn, "mean")?);
    let (var, bias) = (weight_f32(bn, "var")?, weight_f32(bn, "bias")?);
    let mut a = Vec::with_capacity(slope.len());
    let mut b = Vec::with_capacity(slope.len());
    for c in 0..slope.len() {
        // No zero guard, like ncnn's fusion (the runtime BatchNorm has one).
        let sqrt_var = (var[c] + eps).sqrt();
        a.push(bias[c] - slope[c] * mean[c] / sqrt_var);
        b.push(slope[c] / sqrt_var);
    }
    Some((a, b))
}

fn fold_batchnorm(layer: &mut Layer, bn: &Layer) {
    let Some((a, b)) = batchnorm_ab(bn) else { return };
    scale_weight_rows(layer, &b);
    let bias = bias_or_zero(layer, b.len());
    for c in 0..b.len() {
        bias[c] = bias[c] * b[c] + a[c];
    }
}

fn names(g: &Graph, i: usize, j: usize) -> String {
    format!("{} + {}", g.layers[i].name, g.layers[j].name)
}

/// Producer → BatchNorm: the BatchNorm folds into the producer's weights and bias.
fn producer_batchnorm(g: &mut Graph, log: &mut PassLog, producer_type: &str) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != producer_type || g.layers[i].tops.is_empty() {
            continue;
        }
        let top = g.layers[i].tops[0];
        let Some(j) = next_single_reader(g, i, top, &["BatchNorm"]) else { continue };
        let channels = int_param(&g.layers[j], 0, 0);
        let why = if only_reader(g, top, j) {
            cannot_fold(&g.layers[i], channels)
        } else {
            Some("the intermediate blob has other readers".into())
        };
        if let Some(why) = why {
            log.decline(format!("{}: {why}", names(g, i, j)));
            continue;
        }
        let bn = g.layers[j].clone();
        fold_batchnorm(&mut g.layers[i], &bn);
        log.fire(g, &[i, j]);
        absorb(g, i, j);
    }
}

pub fn convolution_batchnorm(g: &mut Graph, log: &mut PassLog) {
    producer_batchnorm(g, log, "Convolution");
}

pub fn convolutiondepthwise_batchnorm(g: &mut Graph, log: &mut PassLog) {
    producer_batchnorm(g, log, "ConvolutionDepthWise");
}

pub fn deconvolution_batchnorm(g: &mut Graph, log: &mut PassLog) {
    producer_batchnorm(g, log, "Deconvolution");
}

pub fn deconvolutiondepthwise_batchnorm(g: &mut Graph, log: &mut PassLog) {
    producer_batchnorm(g, log, "DeconvolutionDepthWise");
}

pub fn innerproduct_batchnorm(g: &mut Graph, log: &mut PassLog) {
    producer_batchnorm(g, log, "InnerProduct");
}

/// BatchNorm → Scale: slope·s, bias·s + scale bias.
pub fn batchnorm_scale(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != "BatchNorm" || g.layers[i].tops.is_empty() {
            continue;
        }
        let top = g.layers[i].tops[0];
        let Some(j) = next_single_reader(g, i, top, &["Scale"]) else { continue };
        let channels = int_param(&g.layers[i], 0, 0);
        let scale = &g.layers[j];
        let why = if !only_reader(g, top, j) {
            Some("the intermediate blob has other readers".to_string())
        } else if int_param(scale, 0, 0) != channels {
            Some(format!("the Scale has {} values for {channels} channels", int_param(scale, 0, 0)))
        } else {
            None
        };
        if let Some(why) = why {
            log.decline(format!("{}: {why}", names(g, i, j)));
            continue;
        }
        let s = weight_f32(scale, "scale").unwrap_or_default();
        let sb = (int_param(scale, 1, 0) != 0).then(|| weight_f32(scale, "bias")).flatten();
        let bn = &mut g.layers[i];
        if let Some(slope) = weight_f32_mut(bn, "slope") {
            slope.iter_mut().zip(&s).for_each(|(v, k)| *v *= k);
        }
        if let Some(bias) = weight_f32_mut(bn, "bias") {
            for (q, v) in bias.iter_mut().enumerate() {
                *v = match &sb {
                    Some(sb) => *v * s[q] + sb[q],
                    None => *v * s[q],
                };
            }
        }
        log.fire(g, &[i, j]);
        absorb(g, i, j);
    }
}

/// InnerProduct → Dropout: a scale ≠ 1 multiplies weights and bias; the Dropout goes either way.
pub fn innerproduct_dropout(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != "InnerProduct" || g.layers[i].tops.is_empty() {
            continue;
        }
        let top = g.layers[i].tops[0];
        let Some(j) = next_single_reader(g, i, top, &["Dropout"]) else { continue };
        let scale = float_param(&g.layers[j], 0, 1.0);
        let num_output = int_param(&g.layers[i], 0, 0);
        let why = if !only_reader(g, top, j) {
            Some("the intermediate blob has other readers".into())
        } else if scale != 1.0 {
            cannot_fold(&g.layers[i], num_output)
        } else {
            None
        };
        if let Some(why) = why {
            log.decline(format!("{}: {why}", names(g, i, j)));
            continue;
        }
        if scale != 1.0 {
            let ip = &mut g.layers[i];
            scale_weight_rows(ip, &vec![scale; num_output as usize]);
            if int_param(ip, 1, 0) != 0 {
                if let Some(bias) = weight_f32_mut(ip, "bias") {
                    for v in bias.iter_mut() {
                        *v *= scale;
                    }
                }
            }
        }
        log.fire(g, &[i, j]);
        absorb(g, i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{graph, run_pass, types, weights};
    use super::*;

    const CONV_BN: &str = "7767517\n3 3\nInput in 0 1 x 0=6 1=6 2=3\n\
        Convolution conv 1 1 x c 0=4 1=3 6=108\n\
        BatchNorm bn 1 1 c y 0=4 1=1e-5\n";

    #[test]
    fn batchnorm_folds_into_convolution_with_ncnn_math() {
        let g = graph(CONV_BN);
        let (out, log) = run_pass(convolution_batchnorm, &g);
        assert_eq!(types(&out), ["Input", "Convolution"]);
        assert_eq!(log.fired, [vec!["conv".to_string(), "bn".to_string()]]);
        let conv = &out.layers[1];
        assert_eq!(out.blobs[conv.tops[0]].name, "y", "the surviving blob is the BatchNorm's top");
        assert_eq!(conv.params.int(5, 0), 1, "bias created");
        let (w0, bn) = (weights(&g.layers[1], "weight"), &g.layers[2]);
        let (slope, mean, var, bb) =
            (weights(bn, "slope"), weights(bn, "mean"), weights(bn, "var"), weights(bn, "bias"));
        let (w, bias) = (weights(conv, "weight"), weights(conv, "bias"));
        for c in 0..4 {
            let sv = (var[c] + 1e-5f32).sqrt();
            let (a, b) = (bb[c] - slope[c] * mean[c] / sv, slope[c] / sv);
            assert_eq!(bias[c].to_bits(), (0.0f32 * b + a).to_bits());
            for k in 0..27 {
                assert_eq!(w[c * 27 + k].to_bits(), (w0[c * 27 + k] * b).to_bits());
            }
        }
        assert_eq!(conv.weights.iter().map(|w| w.name).collect::<Vec<_>>(), ["weight", "bias"]);
    }

    #[test]
    fn batchnorm_is_not_folded_past_an_activation_or_a_shared_blob() {
        let with_act = CONV_BN.replace("6=108", "6=108 9=1");
        let (out, log) = run_pass(convolution_batchnorm, &graph(&with_act));
        assert_eq!(types(&out), ["Input", "Convolution", "BatchNorm"]);
        assert!(log.declined[0].contains("activation"), "{:?}", log.declined);

        let shared = "7767517\n4 4\nInput in 0 1 x 0=6 1=6 2=3\nConvolution conv 1 1 x c 0=4 1=3 6=108\n\
            BatchNorm bn 1 1 c y 0=4\nReLU r 1 1 c z\n";
        let (out, log) = run_pass(convolution_batchnorm, &graph(shared));
        assert_eq!(types(&out), ["Input", "Convolution", "BatchNorm", "ReLU"]);
        assert!(log.declined[0].contains("other readers"));
    }

    #[test]
    fn scale_folds_into_batchnorm() {
        let src = "7767517\n3 3\nInput in 0 1 x 0=6 1=6 2=4\nBatchNorm bn 1 1 x b 0=4\nScale s 1 1 b y 0=4 1=1\n";
        let g = graph(src);
        let (out, _) = run_pass(batchnorm_scale, &g);
        assert_eq!(types(&out), ["Input", "BatchNorm"]);
        let (s, sb) = (weights(&g.layers[2], "scale"), weights(&g.layers[2], "bias"));
        let (slope0, bias0) = (weights(&g.layers[1], "slope"), weights(&g.layers[1], "bias"));
        let (slope, bias) = (weights(&out.layers[1], "slope"), weights(&out.layers[1], "bias"));
        for q in 0..4 {
            assert_eq!(slope[q], slope0[q] * s[q]);
            assert_eq!(bias[q], bias0[q] * s[q] + sb[q]);
        }
        let (out, _) = run_pass(batchnorm_scale, &graph(&src.replace("0=4 1=1", "0=3 1=1")));
        assert_eq!(types(&out), ["Input", "BatchNorm", "Scale"], "a Scale of another size is not per-channel");
    }

    #[test]
    fn dropout_scale_multiplies_innerproduct() {
        let src = "7767517\n3 3\nInput in 0 1 x 0=8\nInnerProduct fc 1 1 x f 0=3 1=1 2=24\nDropout d 1 1 f y 0=0.5\n";
        let g = graph(src);
        let (out, _) = run_pass(innerproduct_dropout, &g);
        assert_eq!(types(&out), ["Input", "InnerProduct"]);
        let (w0, b0) = (weights(&g.layers[1], "weight"), weights(&g.layers[1], "bias"));
        assert_eq!(weights(&out.layers[1], "weight"), w0.iter().map(|v| v * 0.5).collect::<Vec<_>>());
        assert_eq!(weights(&out.layers[1], "bias"), b0.iter().map(|v| v * 0.5).collect::<Vec<_>>());
    }
}
