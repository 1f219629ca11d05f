//! An activation layer after a convolution or InnerProduct becomes the layer's built-in
//! activation (optimize.md §3 passes 17–21): ReLU → 1 (or 2 with its slope), Clip → 3 [min,max],
//! Sigmoid → 4, Mish → 5, HardSwish → 6 [alpha,beta].

use super::pattern::{absorb, float_param, int_param, next_single_reader, only_reader, set_int};
use super::PassLog;
use crate::model::{Graph, Layer, ParamValue};

const ALL: &[&str] = &["ReLU", "Clip", "Sigmoid", "Mish", "HardSwish"];
const NO_HARDSWISH: &[&str] = &["ReLU", "Clip", "Sigmoid", "Mish"];
const BASIC: &[&str] = &["ReLU", "Clip", "Sigmoid"];

/// ncnn's `activation_type` and `activation_params` for an activation layer.
fn activation_of(act: &Layer) -> (i32, Vec<f32>) {
    match act.type_name.as_str() {
        "ReLU" => match float_param(act, 0, 0.0) {
            0.0 => (1, Vec::new()),
            slope => (2, vec![slope]),
        },
        "Clip" => (3, vec![float_param(act, 0, -f32::MAX), float_param(act, 1, f32::MAX)]),
        "Sigmoid" => (4, Vec::new()),
        "Mish" => (5, Vec::new()),
        _ => (6, vec![float_param(act, 0, 0.2), float_param(act, 1, 0.5)]),
    }
}

fn producer_activation(g: &mut Graph, log: &mut PassLog, producer_type: &str, acts: &[&str]) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != producer_type || g.layers[i].tops.is_empty() {
            continue;
        }
        let top = g.layers[i].tops[0];
        let Some(j) = next_single_reader(g, i, top, acts) else { continue };
        let why = if int_param(&g.layers[i], 9, 0) != 0 {
            Some("the layer already has an activation (ncnn would replace it)")
        } else if !only_reader(g, top, j) {
            Some("the intermediate blob has other readers")
        } else {
            None
        };
        if let Some(why) = why {
            log.decline(format!("{} + {}: {why}", g.layers[i].name, g.layers[j].name));
            continue;
        }
        let (kind, params) = activation_of(&g.layers[j]);
        let layer = &mut g.layers[i];
        set_int(layer, 9, kind);
        if params.is_empty() {
            layer.params.remove(10);
        } else {
            layer.params.set(10, ParamValue::FloatArray(params));
        }
        log.fire(g, &[i, j]);
        absorb(g, i, j);
    }
}

pub fn convolution_activation(g: &mut Graph, log: &mut PassLog) {
    producer_activation(g, log, "Convolution", ALL);
    producer_activation(g, log, "Convolution1D", NO_HARDSWISH);
}

pub fn convolutiondepthwise_activation(g: &mut Graph, log: &mut PassLog) {
    producer_activation(g, log, "ConvolutionDepthWise", ALL);
}

pub fn deconvolution_activation(g: &mut Graph, log: &mut PassLog) {
    producer_activation(g, log, "Deconvolution", BASIC);
}

pub fn deconvolutiondepthwise_activation(g: &mut Graph, log: &mut PassLog) {
    producer_activation(g, log, "DeconvolutionDepthWise", BASIC);
}

pub fn innerproduct_activation(g: &mut Graph, log: &mut PassLog) {
    producer_activation(g, log, "InnerProduct", ALL);
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{graph, run_pass, types};
    use super::*;

    fn conv_then(act: &str) -> String {
        format!("7767517\n3 3\nInput in 0 1 x 0=5 1=5 2=2\nConvolution conv 1 1 x c 0=3 1=1 6=6\n{act} a 1 1 c y\n")
    }

    #[test]
    fn each_activation_maps_to_ncnns_type_and_params() {
        let cases: [(&str, i32, Vec<f32>); 6] = [
            ("ReLU", 1, vec![]),
            ("ReLU 0=0.1", 2, vec![0.1]),
            ("Clip 0=-1.0 1=6.0", 3, vec![-1.0, 6.0]),
            ("Sigmoid", 4, vec![]),
            ("Mish", 5, vec![]),
            ("HardSwish", 6, vec![0.2, 0.5]),
        ];
        for (act, kind, params) in cases {
            let (type_name, rest) = act.split_once(' ').unwrap_or((act, ""));
            let src = conv_then(type_name).replace("c y\n", &format!("c y {rest}\n"));
            let (out, log) = run_pass(convolution_activation, &graph(&src));
            assert_eq!(types(&out), ["Input", "Convolution"], "{act}");
            assert_eq!(log.fired.len(), 1);
            let conv = &out.layers[1];
            assert_eq!((conv.params.int(9, 0), conv.params.float_array(10)), (kind, params), "{act}");
        }
    }

    #[test]
    fn unsupported_pairs_stay() {
        for (pass, src) in [
            (convolution_activation as fn(&mut Graph, &mut PassLog), conv_then("TanH")),
            (deconvolution_activation, conv_then("HardSwish").replace("Convolution", "Deconvolution")),
            (deconvolution_activation, conv_then("Mish").replace("Convolution", "Deconvolution")),
            (convolution_activation, conv_then("ReLU").replace("6=6", "6=6 9=4")),
        ] {
            let (out, log) = run_pass(pass, &graph(&src));
            assert_eq!(out.layers.len(), 3, "{src}");
            assert!(log.fired.is_empty());
        }
        let (out, _) =
            run_pass(deconvolution_activation, &graph(&conv_then("Sigmoid").replace("Convolution", "Deconvolution")));
        assert_eq!(types(&out), ["Input", "Deconvolution"]);
    }
}
