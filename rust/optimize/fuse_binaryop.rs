//! BinaryOp rewrites (optimize.md §3 passes 3, 4, 6, 7, 9, 10, 13, 22, 23): a per-channel
//! MemoryData multiplier or addend folded into the convolution/InnerProduct before it, scalar
//! MemoryData operands turned into `with_scalar` BinaryOps, and `a·x + b·y` into an Eltwise sum.

use super::fuse_batchnorm::{bias_term_id, cannot_fold, scale_weight_rows};
use super::pattern::{
    absorb, int_param, only_reader, readers, remove, set_int, set_weight, weight_f32, weight_f32_mut,
};
use super::PassLog;
use crate::model::{Graph, ParamDict, ParamValue};

const OP_ADD: i32 = 0;
const OP_SUB: i32 = 1;
const OP_MUL: i32 = 2;
const OP_DIV: i32 = 3;
const OP_MAX: i32 = 4;
const OP_MIN: i32 = 5;
const OP_RSUB: i32 = 7;
const OP_RDIV: i32 = 8;

/// MemoryData extents (w, h, d, c) as written.
fn memorydata_dims(g: &Graph, k: usize) -> [i32; 4] {
    let l = &g.layers[k];
    [int_param(l, 0, 0), int_param(l, 1, 0), int_param(l, 11, 0), int_param(l, 2, 0)]
}

/// The first MemoryData before `j` whose top is `blob` (ncnn's search).
fn memorydata_before(g: &Graph, j: usize, blob: usize) -> Option<usize> {
    (0..j).find(|&k| g.layers[k].type_name == "MemoryData" && g.layers[k].tops.first() == Some(&blob))
}

/// Producer → BinaryOp(producer, MemoryData) with a per-channel MemoryData: folded into the
/// producer's weights (mul) or bias (add).
fn producer_binaryop(g: &mut Graph, log: &mut PassLog, producer_type: &str, op: i32) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != producer_type || g.layers[i].tops.is_empty() {
            continue;
        }
        let top = g.layers[i].tops[0];
        let found = (i + 1..g.layers.len()).find(|&j| {
            let l = &g.layers[j];
            l.type_name == "BinaryOp" && l.bottoms.len() == 2 && l.bottoms[0] == top
        });
        let Some(j) = found else { continue };
        if int_param(&g.layers[j], 0, 0) != op || int_param(&g.layers[j], 1, 0) != 0 {
            continue;
        }
        let Some(k) = memorydata_before(g, j, g.layers[j].bottoms[1]) else { continue };
        let channels = int_param(&g.layers[i], 0, 0);
        let [w, h, d, c] = memorydata_dims(g, k);
        let vector = w == channels && h == 0 && c == 0;
        let ncnn_accepts = vector || (op == OP_ADD && w == 1 && h == 1 && c == channels);
        if !ncnn_accepts {
            continue;
        }
        let why = if d != 0 {
            Some(format!("the MemoryData is 4-D (d={d}), not per-channel"))
        } else if !only_reader(g, top, j) {
            Some("the intermediate blob has other readers".into())
        } else {
            cannot_fold(&g.layers[i], channels)
        };
        if let Some(why) = why {
            log.decline(format!("{} + {}: {why}", g.layers[i].name, g.layers[j].name));
            continue;
        }
        let m = weight_f32(&g.layers[k], "data").unwrap_or_default();
        let layer = &mut g.layers[i];
        let bias_term = bias_term_id(&layer.type_name);
        let has_bias = int_param(layer, bias_term, 0) != 0;
        if op == OP_MUL {
            scale_weight_rows(layer, &m);
            if let Some(bias) = weight_f32_mut(layer, "bias").filter(|_| has_bias) {
                bias.iter_mut().zip(&m).for_each(|(v, k)| *v *= k);
            }
        } else if let Some(bias) = weight_f32_mut(layer, "bias").filter(|_| has_bias) {
            bias.iter_mut().zip(&m).for_each(|(v, k)| *v += k);
        } else {
            // A missing bias becomes the MemoryData itself (0 + m would turn -0.0 into +0.0).
            set_int(layer, bias_term, 1);
            set_weight(layer, "bias", false, m);
        }
        log.fire(g, &[i, j]);
        absorb(g, i, j);
    }
}

pub fn convolution_mul(g: &mut Graph, log: &mut PassLog) {
    producer_binaryop(g, log, "Convolution", OP_MUL);
}
pub fn convolution_add(g: &mut Graph, log: &mut PassLog) {
    producer_binaryop(g, log, "Convolution", OP_ADD);
}
pub fn convolutiondepthwise_mul(g: &mut Graph, log: &mut PassLog) {
    producer_binaryop(g, log, "ConvolutionDepthWise", OP_MUL);
}
pub fn convolutiondepthwise_add(g: &mut Graph, log: &mut PassLog) {
    producer_binaryop(g, log, "ConvolutionDepthWise", OP_ADD);
}
pub fn deconvolution_mul(g: &mut Graph, log: &mut PassLog) {
    producer_binaryop(g, log, "Deconvolution", OP_MUL);
}
pub fn deconvolution_add(g: &mut Graph, log: &mut PassLog) {
    producer_binaryop(g, log, "Deconvolution", OP_ADD);
}
pub fn innerproduct_add(g: &mut Graph, log: &mut PassLog) {
    producer_binaryop(g, log, "InnerProduct", OP_ADD);
}

/// The op that computes the same with the operands swapped, when the scalar is the first one.
fn swapped_op(op: i32) -> Option<i32> {
    match op {
        OP_ADD | OP_MUL | OP_MAX | OP_MIN => Some(op),
        OP_SUB => Some(OP_RSUB),
        OP_DIV => Some(OP_RDIV),
        _ => None,
    }
}

fn is_scalar(g: &Graph, k: usize) -> bool {
    let [w, h, _, c] = memorydata_dims(g, k);
    w == 1 && h == 0 && c == 0
}

/// Makes BinaryOp `j` a `with_scalar` op on `value`, dropping its operand `blob`. `None` when
/// ncnn would not (the scalar is the first operand of a non-swappable op).
fn make_scalar(g: &mut Graph, j: usize, blob: usize, value: f32) -> Option<()> {
    let bop = &mut g.layers[j];
    let index = if bop.bottoms[0] == blob {
        let op = swapped_op(int_param(bop, 0, 0))?;
        set_int(bop, 0, op);
        0
    } else {
        1
    };
    set_int(bop, 1, 1);
    bop.params.set(2, ParamValue::Float(value));
    bop.bottoms.remove(index);
    Some(())
}

fn scalar_value(g: &Graph, k: usize) -> f32 {
    weight_f32(&g.layers[k], "data").and_then(|v| v.first().copied()).unwrap_or(0.0)
}

/// Scalar MemoryData → BinaryOp (directly, or through a Split) becomes `with_scalar=1`.
pub fn memorydata_binaryop(g: &mut Graph, log: &mut PassLog) {
    // MemoryData - BinaryOp
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != "MemoryData" || g.layers[i].tops.is_empty() {
            continue;
        }
        let top = g.layers[i].tops[0];
        let found = (i + 1..g.layers.len()).find(|&j| {
            let l = &g.layers[j];
            l.type_name == "BinaryOp" && l.bottoms.len() == 2 && l.bottoms.contains(&top)
        });
        let Some(j) = found else { continue };
        if !is_scalar(g, i) {
            continue;
        }
        if memorydata_dims(g, i)[2] != 0 || g.layers[j].bottoms[0] == g.layers[j].bottoms[1] {
            log.decline(format!("{} + {}: not a scalar operand of two inputs", g.layers[i].name, g.layers[j].name));
            continue;
        }
        let value = scalar_value(g, i);
        if make_scalar(g, j, top, value).is_none() {
            continue;
        }
        log.fire(g, &[j, i]);
        // ncnn removes the MemoryData even if another layer still reads it.
        if readers(g, top).is_empty() {
            remove(g, i);
        }
    }

    // MemoryData - Split - BinaryOp; the same MemoryData is re-examined for further branches.
    let mut i = 0;
    while i < g.layers.len() {
        if g.layers[i].type_name != "MemoryData" || g.layers[i].tops.is_empty() || !fuse_split_branch(g, log, i) {
            i += 1;
        }
    }
}

/// One MemoryData → Split → BinaryOp branch; `true` if it was fused.
fn fuse_split_branch(g: &mut Graph, log: &mut PassLog, i: usize) -> bool {
    let top = g.layers[i].tops[0];
    let Some(j0) = (i + 1..g.layers.len()).find(|&j| {
        let l = &g.layers[j];
        l.type_name == "Split" && l.bottoms.len() == 1 && l.bottoms[0] == top
    }) else {
        return false;
    };
    let split_tops = g.layers[j0].tops.clone();
    let found = (j0 + 1..g.layers.len()).find_map(|j| {
        let l = &g.layers[j];
        if l.type_name != "BinaryOp" || l.bottoms.len() != 2 {
            return None;
        }
        let k = split_tops.iter().position(|&t| l.bottoms.contains(&t))?;
        Some((j, k))
    });
    let Some((j1, k)) = found else { return false };
    if !is_scalar(g, i) {
        return false;
    }
    let branch = split_tops[k];
    let b = &g.layers[j1].bottoms;
    if memorydata_dims(g, i)[2] != 0 || b[0] == b[1] || !only_reader(g, branch, j1) {
        log.decline(format!("{} + {}: not a scalar operand of two inputs", g.layers[i].name, g.layers[j1].name));
        return false;
    }
    let value = scalar_value(g, i);
    if make_scalar(g, j1, branch, value).is_none() {
        return false;
    }
    log.fire(g, &[j1, i, j0]);
    g.layers[j0].tops.remove(k);
    if g.layers[j0].tops.is_empty() {
        remove(g, j0);
        remove(g, i);
    }
    true
}

/// The earlier scalar multiply (BinaryOp with one bottom, op mul) whose top is `blob`.
fn scalar_mul_before(g: &Graph, i: usize, blob: usize) -> Option<usize> {
    (0..i).find(|&j| {
        let l = &g.layers[j];
        l.type_name == "BinaryOp"
            && l.bottoms.len() == 1
            && int_param(l, 0, 0) == OP_MUL
            && l.tops.first() == Some(&blob)
    })
}

/// BinaryOp add of (scalar-mul outputs) → Eltwise sum with the scalars as coefficients.
pub fn binaryop_eltwise(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        let l = &g.layers[i];
        if l.type_name != "BinaryOp" || l.bottoms.len() != 2 || int_param(l, 0, 0) != OP_ADD || int_param(l, 1, 0) != 0
        {
            continue;
        }
        let (b0, b1) = (l.bottoms[0], l.bottoms[1]);
        let muls = [scalar_mul_before(g, i, b0), scalar_mul_before(g, i, b1)];
        if muls == [None, None] {
            continue;
        }
        let shapes = (g.blobs[b0].shape, g.blobs[b1].shape);
        let why = if muls.iter().flatten().any(|&m| int_param(&g.layers[m], 1, 0) == 0) {
            Some("a multiply has one input but no scalar".to_string())
        } else if muls.iter().flatten().any(|&m| !only_reader(g, g.layers[m].tops[0], i)) {
            Some("a multiply's output has other readers".into())
        } else if matches!(shapes, (Some(a), Some(b)) if a != b) {
            Some("the add broadcasts two shapes, which Eltwise cannot".into())
        } else {
            None
        };
        if let Some(why) = why {
            log.decline(format!("{}: {why}", g.layers[i].name));
            continue;
        }
        let mut coeffs = [1.0f32; 2];
        let mut bottoms = [b0, b1];
        for (slot, m) in muls.iter().enumerate() {
            if let Some(m) = *m {
                coeffs[slot] = super::pattern::float_param(&g.layers[m], 2, 0.0);
                bottoms[slot] = g.layers[m].bottoms[0];
            }
        }
        let mut involved = vec![i];
        involved.extend(muls.iter().flatten());
        log.fire(g, &involved);
        for &m in muls.iter().flatten() {
            remove(g, m);
        }
        let eltwise = &mut g.layers[i];
        eltwise.type_name = "Eltwise".into();
        eltwise.bottoms = bottoms.to_vec();
        eltwise.params = ParamDict::default();
        eltwise.params.set(0, ParamValue::Int(1));
        eltwise.params.set(1, ParamValue::FloatArray(coeffs.to_vec()));
        eltwise.weights.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{blobs_of, graph, run_pass, types, weights};
    use super::*;

    fn conv_binop(op: i32, md: &str) -> String {
        format!(
            "7767517\n4 4\nInput in 0 1 x 0=5 1=5 2=2\nConvolution conv 1 1 x c 0=3 1=1 6=6\n\
             MemoryData m 0 1 m {md}\nBinaryOp op 2 1 c m y 0={op}\n"
        )
    }

    #[test]
    fn per_channel_mul_and_add_fold_into_convolution() {
        let g = graph(&conv_binop(OP_MUL, "0=3"));
        let (out, log) = run_pass(convolution_mul, &g);
        assert_eq!(types(&out), ["Input", "Convolution", "MemoryData"], "MemoryData stays for pass 34");
        assert_eq!(log.fired.len(), 1);
        let m = weights(&g.layers[2], "data");
        let w0 = weights(&g.layers[1], "weight");
        let w = weights(&out.layers[1], "weight");
        for c in 0..3 {
            assert_eq!(&w[c * 2..c * 2 + 2], &[w0[c * 2] * m[c], w0[c * 2 + 1] * m[c]]);
        }
        assert_eq!(out.layers[1].params.int(5, 0), 0, "mul creates no bias");

        for md in ["0=3", "0=1 1=1 2=3"] {
            let g = graph(&conv_binop(OP_ADD, md));
            let (out, _) = run_pass(convolution_add, &g);
            assert_eq!(types(&out), ["Input", "Convolution", "MemoryData"], "{md}");
            assert_eq!(weights(&out.layers[1], "bias"), weights(&g.layers[2], "data"));
            assert_eq!(blobs_of(&out, &out.layers[1]).1, ["y"]);
        }
    }

    #[test]
    fn other_shapes_and_ops_stay() {
        for (pass, src) in [
            (convolution_mul as fn(&mut Graph, &mut PassLog), conv_binop(OP_MUL, "0=1 1=1 2=3")),
            (convolution_mul, conv_binop(OP_MUL, "0=3 1=2")),
            (convolution_add, conv_binop(OP_SUB, "0=3")),
            (convolution_add, conv_binop(OP_ADD, "0=5")),
        ] {
            let (out, log) = run_pass(pass, &graph(&src));
            assert_eq!(out.layers.len(), 4, "{src}");
            assert!(log.fired.is_empty());
        }
    }

    #[test]
    fn scalar_memorydata_becomes_with_scalar() {
        let src = "7767517\n3 3\nInput in 0 1 x 0=4\nMemoryData m 0 1 m 0=1\nBinaryOp op 2 1 m x y 0=1\n";
        let g = graph(src);
        let (out, _) = run_pass(memorydata_binaryop, &g);
        assert_eq!(types(&out), ["Input", "BinaryOp"]);
        let op = &out.layers[1];
        assert_eq!((op.params.int(0, 0), op.params.int(1, 0)), (OP_RSUB, 1), "m - x = rsub(x, m)");
        assert_eq!(op.params.float(2, 0.0), weights(&g.layers[1], "data")[0]);
        let (out, _) = run_pass(memorydata_binaryop, &graph(&src.replace("0=1\n", "0=6\n")));
        assert_eq!(out.layers.len(), 3, "pow cannot swap its operands");
    }

    #[test]
    fn scalar_through_split_fuses_every_branch() {
        let src = "7767517\n5 7\nInput in 0 1 x 0=4\nMemoryData m 0 1 m 0=1\nSplit s 1 2 m m0 m1\n\
            BinaryOp a 2 1 x m0 y 0=2\nBinaryOp b 2 1 m1 y z 0=3\n";
        let (out, log) = run_pass(memorydata_binaryop, &graph(src));
        assert_eq!(types(&out), ["Input", "BinaryOp", "BinaryOp"]);
        assert_eq!(log.fired.len(), 2);
        assert_eq!(out.layers[2].params.int(0, 0), OP_RDIV);
    }

    #[test]
    fn scaled_sum_becomes_eltwise() {
        let src = "7767517\n6 7\nInput in 0 1 x 0=4\nSplit s 1 2 x x0 x1\nBinaryOp m0 1 1 x0 a 0=2 1=1 2=0.5\n\
            BinaryOp m1 1 1 x1 b 0=2 1=1 2=3.0\nBinaryOp add 2 1 a b y 0=0\nReLU r 1 1 y z\n";
        let (out, log) = run_pass(binaryop_eltwise, &graph(src));
        assert_eq!(types(&out), ["Input", "Split", "Eltwise", "ReLU"]);
        assert_eq!(log.fired, [vec!["add".to_string(), "m0".into(), "m1".into()]]);
        let e = &out.layers[2];
        assert_eq!(blobs_of(&out, e), (vec!["x0".into(), "x1".into()], vec!["y".into()]));
        assert_eq!(e.params.float_array(1), [0.5, 3.0]);
        let plain = src.replace("0=2 1=1 2=0.5", "0=0 1=1 2=0.5").replace("0=2 1=1 2=3.0", "0=1 1=1 2=3.0");
        assert_eq!(run_pass(binaryop_eltwise, &graph(&plain)).0.layers.len(), 6);
    }
}
