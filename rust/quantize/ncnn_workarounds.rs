//! Int8 forms real ncnn (1.0.20261020) runs wrongly, and the equivalent forms the rewrite writes
//! instead (README, "Where ncnnq deliberately differs").
//!
//! - **An int8 Convolution of a 1-D blob.** ncnn's fp32 Convolution runs a 1x1 kernel over a flat
//!   blob `[K]` as an InnerProduct (its "1d input compatibility path"); the int8 Convolution has
//!   no such path and returns a blob of the wrong shape and garbage values. An InnerProduct with
//!   the same weights, bias, activation and int8 scales computes exactly what the fp32 layer
//!   computes, and ncnn's int8 InnerProduct runs it: the rewrite writes that, with a warning.
//!   (ncnnoptimize turns these into InnerProducts only after global pooling or an InnerProduct.)
//! - **Reshape's batch axes** (12=/13=, written by pnnx with a shape expression that lists the
//!   batch). ncnn2int8 and ncnnoptimize rewrite the file through ncnn's `ModelWriter`, which writes
//!   Reshape's 0/1/11/2/6 only; without 12=/13= ncnn reshapes on its plain path and
//!   `6="1,1,//(96,0n),0n"` makes a 4-D (1,96,1,1) of a (96,) vector, after which PP-OCRv4's
//!   output is 1×32×32. The int8 InnerProduct before it is not involved: its output is the same
//!   (96,) as in fp32. ncnnq's writer keeps every parameter, so there is nothing to rewrite;
//!   `tests/test_ppocr.py` checks that the axes survive.

use crate::model::{Graph, Layer, ParamDict};

/// Layer types whose one output has the rank of their one input.
const RANK_PRESERVING: &[&str] = &[
    "ReLU",
    "Sigmoid",
    "Swish",
    "HardSwish",
    "HardSigmoid",
    "GELU",
    "Clip",
    "ELU",
    "CELU",
    "SELU",
    "Mish",
    "TanH",
    "AbsVal",
    "Softplus",
    "BNLL",
    "Erf",
    "Threshold",
    "PReLU",
    "UnaryOp",
    "Power",
    "Exp",
    "Log",
    "Dropout",
    "Noop",
    "Split",
    "BatchNorm",
    "Scale",
    "Bias",
    "Softmax",
];

/// Which blobs are 1-D (`[w]`), as far as the graph tells: a shape hint says so, or the producer
/// always makes one (global Pooling, Flatten, a Reshape to w only, an InnerProduct not fed a 2-D
/// blob) or keeps the rank of a 1-D input (element-wise layers, a 1-D Convolution). Unknown
/// counts as not 1-D.
pub fn one_d_blobs(graph: &Graph) -> Vec<bool> {
    let mut one_d = vec![false; graph.blobs.len()];
    let hinted = |b: usize| graph.blobs[b].shape.filter(|s| s.dims != 0).map(|s| s.dims == 1);
    for layer in &graph.layers {
        let input = |k: usize| layer.bottoms.get(k).is_some_and(|&b| one_d[b]);
        let input_is_2d = layer.bottoms.first().and_then(|&b| graph.blobs[b].shape).is_some_and(|s| s.dims == 2);
        let p = &layer.params;
        let made: bool = match layer.type_name.as_str() {
            "Input" => p.int(0, 0) > 0 && p.int(1, 0) == 0 && p.int(2, 0) == 0 && p.int(11, 0) == 0,
            "Pooling" => p.int(4, 0) != 0 && p.int(7, 0) == 0,
            "Flatten" => true,
            "Reshape" => {
                let plain = p.int(12, 233) == 233 && p.int(13, 233) == 233;
                plain && p.string(6).is_empty() && p.int(0, -233) != -233 && p.int(1, -233) == -233
            }
            "InnerProduct" => !input_is_2d,
            "Convolution" | "ConvolutionDepthWise" => input(0),
            "BinaryOp" if layer.bottoms.len() == 2 => input(0) && input(1),
            t if RANK_PRESERVING.contains(&t) || t == "BinaryOp" => input(0),
            _ => false,
        };
        for &t in &layer.tops {
            one_d[t] = hinted(t).unwrap_or(made);
        }
    }
    one_d
}

/// A Convolution that reads a 1-D blob, as the InnerProduct ncnn's fp32 layer computes: `None`
/// when the fp32 layer could not run it either (not 1x1, grouped, padded, dynamic weights).
pub fn convolution_as_innerproduct(conv: &Layer) -> Option<Layer> {
    let p = &conv.params;
    let kernel = (p.int(1, 0), p.int(11, p.int(1, 0)));
    let padded = [4, 14, 15, 16].iter().any(|&id| p.int(id, 0) != 0);
    if kernel != (1, 1) || p.int(7, 1) != 1 || padded || p.int(19, 0) != 0 || p.int(8, 0) != 0 {
        return None;
    }
    let mut ip = conv.clone();
    ip.type_name = "InnerProduct".to_string();
    ip.params = ParamDict::default();
    ip.params.set_int(0, p.int(0, 0));
    ip.params.set_int(1, p.int(5, 0));
    ip.params.set_int(2, p.int(6, 0));
    for id in [9, 10] {
        if let Some(v) = p.get(id) {
            ip.params.set(id, v.clone());
        }
    }
    // The weight (num_output × K × 1 × 1) and bias arrays are laid out as InnerProduct's.
    Some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::param_text;

    fn graph(body: &str) -> Graph {
        let n = body.lines().count();
        param_text::parse(&format!("7767517\n{n} {}\n{body}", n + 2), "t").unwrap()
    }

    fn dims_of(g: &Graph, one_d: &[bool], name: &str) -> bool {
        one_d[g.blob_index(name).unwrap()]
    }

    #[test]
    fn one_d_blobs_follow_their_producers() {
        let g = graph(
            "Input in 0 1 x 0=8 1=8 2=16\nPooling gap 1 1 x p 0=1 4=1\nInnerProduct fc 1 1 p f 0=4 2=64\n\
             ReLU r 1 1 f fr\nConvolution c 1 1 fr y 0=16 1=1 6=64\nConvolution c3 1 1 x z 0=4 1=1 6=64\n",
        );
        let one_d = one_d_blobs(&g);
        for (blob, want) in [("x", false), ("p", true), ("f", true), ("fr", true), ("y", true), ("z", false)] {
            assert_eq!(dims_of(&g, &one_d, blob), want, "{blob}");
        }
        let flat = graph("Input in 0 1 x 0=16\nReshape r 1 1 x y 0=4 1=-1\nReshape q 1 1 y z 0=-1\n");
        let one_d = one_d_blobs(&flat);
        assert!(dims_of(&flat, &one_d, "x") && !dims_of(&flat, &one_d, "y") && dims_of(&flat, &one_d, "z"));
    }

    #[test]
    fn a_shape_hint_wins() {
        let g = graph("Input in 0 1 x\nPooling gap 1 1 x p 0=1 4=1 -23330=4,3,1,1,16\n");
        assert!(!one_d_blobs(&g)[g.blob_index("p").unwrap()]);
    }

    #[test]
    fn only_a_plain_1x1_convolution_becomes_an_innerproduct() {
        let g = graph("Input in 0 1 x 0=16\nConvolution c 1 1 x y 0=8 1=1 5=1 6=128 9=1\n");
        let ip = convolution_as_innerproduct(&g.layers[1]).unwrap();
        assert_eq!(ip.type_name, "InnerProduct");
        assert_eq!(
            (ip.params.int(0, 0), ip.params.int(1, 0), ip.params.int(2, 0), ip.params.int(9, 0)),
            (8, 1, 128, 1)
        );
        for other in ["0=8 1=3 6=1152", "0=8 1=1 7=2 6=64", "0=8 1=1 4=1 6=128"] {
            let g = graph(&format!("Input in 0 1 x 0=16\nConvolution c 1 1 x y {other}\n"));
            assert!(convolution_as_innerproduct(&g.layers[1]).is_none(), "{other}");
        }
    }
}
