//! Replacing layers by cheaper equivalents (optimize.md §3 passes 15, 16, 31, 32): two mean
//! Reductions by global average pooling, a one-slope PReLU by leaky ReLU, a 1×1 Convolution on a
//! vector (after global pooling or InnerProduct) by InnerProduct.

use super::pattern::{effective_int, float_param, int_param, next_single_reader, remove, weight_f32};
use super::PassLog;
use crate::model::{Graph, Layer, ParamDict, ParamValue};

/// A single-axis mean Reduction without keepdims: its axis, as written.
fn mean_over_one_axis(l: &Layer) -> Option<i32> {
    let axes = l.params.int_array(3);
    let plain = int_param(l, 0, 0) == 3 && int_param(l, 1, 1) == 0 && float_param(l, 2, 1.0) == 1.0;
    (plain && axes.len() == 1).then(|| axes[0])
}

/// Reduction(mean over H or W) → Reduction(mean over the other) = global average pooling.
///
/// ncnn tests the axes with the old numbering that counted the batch axis (R1 ∈ {2,3}, R2 = 2);
/// files ncnn loads today number axes without it (`5=1` is mandatory), where for a [C,H,W] blob
/// H is 1 and W is 2. The test here uses today's numbering, needs the input's rank from a shape
/// hint and needs keepdims=0 (otherwise the result would not be the 1-D [C] pooling yields).
pub fn reduction_with_global_pooling(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        let r1 = &g.layers[i];
        if r1.type_name != "Reduction" || r1.bottoms.len() != 1 || r1.tops.is_empty() {
            continue;
        }
        let Some(a1) = mean_over_one_axis(r1) else { continue };
        let top = r1.tops[0];
        let Some(j) = next_single_reader(g, i, top, &["Reduction"]) else { continue };
        let Some(a2) = mean_over_one_axis(&g.layers[j]) else { continue };
        let spatial_pair = matches!(a1, 1 | 2 | -1 | -2) && matches!(a2, 1 | -1);
        if !spatial_pair {
            if matches!(a1, 2 | 3) && a2 == 2 {
                let why = "ncnn's axis test counts a batch axis these files do not have";
                log.decline(format!("{} + {}: {why}", g.layers[i].name, g.layers[j].name));
            }
            continue;
        }
        let rank = g.blobs[g.layers[i].bottoms[0]].shape.map(|s| s.dims);
        let keepdims = int_param(&g.layers[i], 4, 0) != 0 || int_param(&g.layers[j], 4, 0) != 0;
        let why = if rank != Some(3) {
            Some("the input is not known to be 3-D (no shape hint)")
        } else if keepdims {
            Some("keepdims would keep a 3-D result")
        } else if !super::pattern::only_reader(g, top, j) {
            Some("the first Reduction's output has other readers")
        } else {
            None
        };
        if let Some(why) = why {
            log.decline(format!("{} + {}: {why}", g.layers[i].name, g.layers[j].name));
            continue;
        }
        let input = g.layers[i].bottoms[0];
        let pooling = &mut g.layers[j];
        pooling.type_name = "Pooling".into();
        pooling.params = ParamDict::new();
        pooling.params.set(0, ParamValue::Int(1));
        pooling.params.set(4, ParamValue::Int(1));
        pooling.bottoms = vec![input];
        pooling.weights.clear();
        log.fire(g, &[j, i]);
        remove(g, i);
    }
}

/// PReLU with one slope is a leaky ReLU.
pub fn prelu_with_leaky_relu(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        let l = &g.layers[i];
        if l.type_name != "PReLU" || int_param(l, 0, 0) != 1 {
            continue;
        }
        let slope = weight_f32(l, "slope").and_then(|s| s.first().copied()).unwrap_or(0.0);
        let relu = &mut g.layers[i];
        relu.type_name = "ReLU".into();
        relu.params = ParamDict::new();
        relu.params.set(0, ParamValue::Float(slope));
        relu.weights.clear();
        log.fire(g, &[i]);
    }
}

/// Why Convolution `j` does not compute an InnerProduct of its 1-D input, if it does not.
fn not_a_vector_product(conv: &Layer) -> Option<&'static str> {
    let [kw, kh, pl, pt, pr, pb] = [1, 11, 4, 14, 15, 16].map(|id| effective_int(conv, id));
    if [kw, kh] != [1, 1] || [pl, pt, pr, pb] != [0; 4] {
        Some("the Convolution is not 1×1 without padding")
    } else if int_param(conv, 19, 0) != 0 {
        Some("the Convolution's weights are a runtime input")
    } else if int_param(conv, 8, 0) > 100 {
        Some("the Convolution requantizes its output, which InnerProduct cannot")
    } else {
        None
    }
}

/// The InnerProduct equivalent of a 1×1 Convolution (same name, blobs, weights, activation).
fn as_innerproduct(conv: &Layer) -> Layer {
    let p = &conv.params;
    let mut params = ParamDict::new();
    for (ip_id, conv_id) in [(0, 0), (1, 5), (2, 6), (8, 8), (9, 9)] {
        if let Some(v) = p.get(conv_id) {
            params.set(ip_id, v.clone());
        }
    }
    if let Some(v) = p.get(10) {
        params.set(10, v.clone());
    }
    let weights = conv.weights.iter().filter(|w| w.name != "top_int8_scale").cloned().collect();
    Layer {
        type_name: "InnerProduct".into(),
        name: conv.name.clone(),
        bottoms: conv.bottoms.clone(),
        tops: conv.tops.clone(),
        params,
        weights,
    }
}

/// Replaces the first Convolution reading producer `i`'s top alone; `true` if it did.
fn replace_conv_after(g: &mut Graph, log: &mut PassLog, i: usize) -> bool {
    let Some(&top) = g.layers[i].tops.first() else { return false };
    let Some(j) = next_single_reader(g, i, top, &["Convolution"]) else { return false };
    if let Some(why) = not_a_vector_product(&g.layers[j]) {
        let message = format!("{} + {}: {why}", g.layers[i].name, g.layers[j].name);
        if !log.declined.contains(&message) {
            log.decline(message);
        }
        return false;
    }
    g.layers[j] = as_innerproduct(&g.layers[j]);
    log.fire(g, &[j, i]);
    true
}

/// Global pooling → Convolution: the convolution sees a 1-D [C].
pub fn convolution_with_innerproduct_after_global_pooling(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name == "Pooling" && int_param(&g.layers[i], 4, 0) != 0 {
            replace_conv_after(g, log, i);
        }
    }
}

/// InnerProduct → Convolution, repeated so chains of them all become InnerProducts.
pub fn convolution_with_innerproduct_after_innerproduct(g: &mut Graph, log: &mut PassLog) {
    loop {
        let mut replaced = false;
        for i in 0..g.layers.len() {
            if g.layers[i].type_name == "InnerProduct" {
                replaced |= replace_conv_after(g, log, i);
            }
        }
        if !replaced {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{blobs_of, graph, run_pass, types, weights};
    use super::*;

    #[test]
    fn two_mean_reductions_become_global_pooling() {
        let src = "7767517\n3 3\nInput in 0 1 x -23330=5,3,4,5,1,2 0=4 1=5 2=2\n\
            Reduction r1 1 1 x a 0=3 1=0 -23303=1,2 5=1\nReduction r2 1 1 a y 0=3 1=0 -23303=1,1 5=1\n";
        let (out, log) = run_pass(reduction_with_global_pooling, &graph(src));
        assert_eq!(types(&out), ["Input", "Pooling"]);
        assert_eq!(log.fired, [vec!["r2".to_string(), "r1".into()]]);
        let p = &out.layers[1];
        assert_eq!((p.params.int(0, 0), p.params.int(4, 0)), (1, 1));
        assert_eq!(blobs_of(&out, p), (vec!["x".into(),], vec!["y".into()]));

        // ncnn's old numbering (2 then 2) names W and then an axis a 2-D blob does not have.
        let old = src.replace("-23303=1,1 5=1", "-23303=1,2 5=1");
        let (out, log) = run_pass(reduction_with_global_pooling, &graph(&old));
        assert_eq!(out.layers.len(), 3);
        assert!(!log.declined.is_empty());
        let unknown_rank = src.replace("-23330=5,3,4,5,1,2 ", "");
        assert_eq!(run_pass(reduction_with_global_pooling, &graph(&unknown_rank)).0.layers.len(), 3);
        let keep = src.replace("1=0 -23303=1,2", "1=0 4=1 -23303=1,2");
        assert_eq!(run_pass(reduction_with_global_pooling, &graph(&keep)).0.layers.len(), 3);
    }

    #[test]
    fn one_slope_prelu_becomes_relu() {
        let src = "7767517\n2 2\nInput in 0 1 x 0=4\nPReLU p 1 1 x y 0=1\n";
        let g = graph(src);
        let (out, _) = run_pass(prelu_with_leaky_relu, &g);
        assert_eq!(types(&out), ["Input", "ReLU"]);
        assert_eq!(out.layers[1].params.float(0, 0.0), weights(&g.layers[1], "slope")[0]);
        assert!(out.layers[1].weights.is_empty());
        let (out, _) = run_pass(prelu_with_leaky_relu, &graph(&src.replace("0=1", "0=4")));
        assert_eq!(types(&out), ["Input", "PReLU"]);
    }

    #[test]
    fn vector_convolutions_become_innerproducts() {
        let src = "7767517\n5 5\nInput in 0 1 x 0=3 1=3 2=4\nPooling gap 1 1 x p 0=1 4=1\n\
            Convolution c1 1 1 p a 0=6 1=1 5=1 6=24 9=1\nConvolution c2 1 1 a b 0=5 1=1 6=30\n\
            Convolution c3 1 1 b y 0=2 1=1 6=10\n";
        let g = graph(src);
        let (out, log) = run_pass(convolution_with_innerproduct_after_global_pooling, &g);
        assert_eq!(types(&out), ["Input", "Pooling", "InnerProduct", "Convolution", "Convolution"]);
        let ip = &out.layers[2];
        assert_eq!((ip.params.int(0, 0), ip.params.int(1, 0), ip.params.int(2, 0), ip.params.int(9, 0)), (6, 1, 24, 1));
        assert_eq!(ip.weights, g.layers[2].weights);
        assert_eq!(log.fired.len(), 1);
        let (out, log) = run_pass(convolution_with_innerproduct_after_innerproduct, &out);
        assert_eq!(types(&out), ["Input", "Pooling", "InnerProduct", "InnerProduct", "InnerProduct"]);
        assert_eq!(log.fired.len(), 2);

        let k3 = src.replace("0=6 1=1 5=1", "0=6 1=3 5=1").replace("6=24", "6=216");
        let (out, log) = run_pass(convolution_with_innerproduct_after_global_pooling, &graph(&k3));
        assert_eq!(out.layers[2].type_name, "Convolution");
        assert!(log.declined[0].contains("1×1"));
    }
}
