//! Removing layers that compute nothing (optimize.md §3 passes 24–30, 33, 34): Dropout scale 1,
//! 1×1 stride-1 Pooling, Noop, single-output Split, Flatten/Reshape after global pooling or
//! InnerProduct, Reshape to [1,1,C] before a broadcasting BinaryOp, unread MemoryData.

use super::pattern::{absorb, effective_int, float_param, int_param, is_live, next_single_reader};
use super::pattern::{only_reader, producer_before, readers, remove};
use super::PassLog;
use crate::model::{Graph, Layer};

/// Removes layer `i`, which passes `bottom` through unchanged as `top`: its producer `(j, k)`
/// takes `top` (so downstream names survive, as in ncnn). An Input keeps its blob instead (it
/// is the name users feed) and the readers of `top` read it directly. `false` if neither works.
fn bypass(g: &mut Graph, i: usize, bottom: usize, top: usize, (j, k): (usize, usize)) -> bool {
    if g.layers[j].type_name == "Input" {
        let rs = readers(g, top);
        if rs.is_empty() {
            return false;
        }
        for r in rs {
            g.layers[r].bottoms.iter_mut().filter(|b| **b == top).for_each(|b| *b = bottom);
        }
    } else {
        g.layers[j].tops[k] = top;
    }
    remove(g, i);
    true
}

fn bypass_and_log(g: &mut Graph, log: &mut PassLog, i: usize, bottom: usize, top: usize, producer: (usize, usize)) {
    if !only_reader(g, bottom, i) {
        log.decline(format!("{}: its input has other readers", g.layers[i].name));
    } else if bypass(g, i, bottom, top, producer) {
        log.fire(g, &[producer.0, i]);
    } else {
        log.decline(format!("{}: its output is a network output of an Input's blob", g.layers[i].name));
    }
}

fn one_in_one_out(g: &Graph, i: usize) -> Option<(usize, usize)> {
    let l = &g.layers[i];
    (l.bottoms.len() == 1 && l.tops.len() == 1).then(|| (l.bottoms[0], l.tops[0]))
}

/// Dropout with scale 1 is the identity.
pub fn dropout(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != "Dropout" || float_param(&g.layers[i], 0, 1.0) != 1.0 {
            continue;
        }
        let Some((bottom, top)) = one_in_one_out(g, i) else { continue };
        // ncnn only looks for a producer with exactly one top.
        let found = (0..i).rev().find(|&j| {
            let l = &g.layers[j];
            is_live(l) && l.tops.len() == 1 && l.tops[0] == bottom
        });
        let Some(j) = found else { continue };
        bypass_and_log(g, log, i, bottom, top, (j, 0));
    }
}

/// Pooling with a 1×1 kernel, stride 1 and no padding is the identity.
pub fn pooling1x1(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        let l = &g.layers[i];
        if l.type_name != "Pooling" {
            continue;
        }
        let [kw, kh, sw, sh, pl, pt, pr, pb, global] = [1, 11, 2, 12, 3, 13, 14, 15, 4].map(|id| effective_int(l, id));
        if [pl, pr, pt, pb] != [0; 4] || [kw, kh, sw, sh] != [1; 4] || global != 0 {
            continue;
        }
        let Some((bottom, top)) = one_in_one_out(g, i) else { continue };
        let Some(producer) = producer_before(g, i, bottom) else { continue };
        if int_param(&g.layers[i], 7, 0) != 0 {
            log.decline(format!("{}: adaptive pooling ignores the kernel size", g.layers[i].name));
            continue;
        }
        bypass_and_log(g, log, i, bottom, top, producer);
    }
}

/// Noop: with no inputs it is dropped; otherwise the producer of its first input takes its top.
pub fn noop(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != "Noop" {
            continue;
        }
        let (bottoms, tops) = (g.layers[i].bottoms.clone(), g.layers[i].tops.clone());
        if bottoms.is_empty() || tops.is_empty() {
            if tops.iter().any(|&t| !readers(g, t).is_empty()) {
                log.decline(format!("{}: its outputs are read but it has no input", g.layers[i].name));
                continue;
            }
            log.fire(g, &[i]);
            remove(g, i);
            continue;
        }
        let Some(producer) = producer_before(g, i, bottoms[0]) else { continue };
        if tops.len() > 1 {
            log.decline(format!("{}: only its first output would keep a producer", g.layers[i].name));
            continue;
        }
        bypass_and_log(g, log, i, bottoms[0], tops[0], producer);
    }
}

/// A Split with at most one read output is the identity on that output.
pub fn split(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != "Split" || g.layers[i].bottoms.len() != 1 {
            continue;
        }
        let tops = g.layers[i].tops.clone();
        // Read outputs are counted on the current graph (ncnn uses the counts from load time).
        let read: Vec<usize> = tops.iter().copied().filter(|&t| !readers(g, t).is_empty()).collect();
        if read.len() > 1 {
            continue;
        }
        let bottom = g.layers[i].bottoms[0];
        let Some(producer) = producer_before(g, i, bottom) else { continue };
        let keep = match (read.as_slice(), tops.as_slice()) {
            ([t], _) | ([], [t]) => *t,
            _ => {
                // ncnn indexes tops[-1] here.
                log.decline(format!("{}: none of its several outputs is read", g.layers[i].name));
                continue;
            }
        };
        bypass_and_log(g, log, i, bottom, keep, producer);
    }
}

/// `producer_type` (passing `is_producer`) → the first `consumer_type` reading its top alone: the
/// consumer is removed and the producer takes its top. `check` may decline with a reason.
fn absorb_pass(
    g: &mut Graph,
    log: &mut PassLog,
    producer_type: &str,
    consumer_type: &str,
    is_producer: impl Fn(&Graph, usize) -> bool,
    check: impl Fn(&Graph, usize, usize) -> Option<String>,
) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != producer_type || g.layers[i].tops.is_empty() || !is_producer(g, i) {
            continue;
        }
        let top = g.layers[i].tops[0];
        let Some(j) = next_single_reader(g, i, top, &[consumer_type]) else { continue };
        let why = if only_reader(g, top, j) { check(g, i, j) } else { Some("the blob has other readers".into()) };
        if let Some(why) = why {
            log.decline(format!("{} + {}: {why}", g.layers[i].name, g.layers[j].name));
            continue;
        }
        log.fire(g, &[i, j]);
        absorb(g, i, j);
    }
}

fn global_pooling(g: &Graph, i: usize) -> bool {
    int_param(&g.layers[i], 4, 0) != 0
}

/// Global pooling already yields a 1-D [C].
pub fn flatten_after_global_pooling(g: &mut Graph, log: &mut PassLog) {
    absorb_pass(g, log, "Pooling", "Flatten", global_pooling, |_, _, _| None);
}

/// Why a Reshape's target is not its fixed w/h/d/c: a shape expression (evaluated on the input's
/// shape when it runs) or batch axes (12=/13=, ncnn's batch path). Such a Reshape is kept as is.
fn dynamic_reshape(r: &Layer) -> Option<&'static str> {
    if !r.params.string(6).is_empty() {
        Some("the Reshape's shape is an expression, kept as written")
    } else if int_param(r, 12, 233) != 233 || int_param(r, 13, 233) != 233 {
        Some("the Reshape sets batch axes (12=/13=), kept as written")
    } else {
        None
    }
}

/// A Reshape to 1-D after global pooling (h and c unset).
pub fn reshape_after_global_pooling(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != "Pooling" || g.layers[i].tops.is_empty() || !global_pooling(g, i) {
            continue;
        }
        let top = g.layers[i].tops[0];
        let Some(j) = next_single_reader(g, i, top, &["Reshape"]) else { continue };
        let r = &g.layers[j];
        if int_param(r, 1, -233) != -233 || int_param(r, 2, -233) != -233 {
            continue;
        }
        let why = if let Some(why) = dynamic_reshape(r) {
            Some(why)
        } else if int_param(r, 11, -233) != -233 {
            Some("the Reshape sets d, so it is not 1-D")
        } else if !only_reader(g, top, j) {
            Some("the blob has other readers")
        } else {
            None
        };
        if let Some(why) = why {
            log.decline(format!("{} + {}: {why}", g.layers[i].name, g.layers[j].name));
            continue;
        }
        log.fire(g, &[i, j]);
        absorb(g, i, j);
    }
}

/// Reshape to [1,1,C] feeding a BinaryOp: BinaryOp broadcasts a 1-D [C] the same way.
pub fn reshape_before_binaryop(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        let r = &g.layers[i];
        let dynamic = dynamic_reshape(r);
        let fixed_1x1 = int_param(r, 0, -233) == 1 && int_param(r, 1, -233) == 1;
        if r.type_name != "Reshape" || !(fixed_1x1 || dynamic.is_some()) {
            continue;
        }
        let Some((bottom, top)) = one_in_one_out(g, i) else { continue };
        let found = (i + 1..g.layers.len()).find(|&j| {
            let l = &g.layers[j];
            l.type_name == "BinaryOp" && l.bottoms.len() == 2 && l.bottoms.contains(&top)
        });
        let Some(j) = found else { continue };
        let input_dims = g.blobs[bottom].shape.map(|s| s.dims);
        let why = if let Some(why) = dynamic {
            Some(why)
        } else if int_param(&g.layers[i], 11, -233) != -233 {
            Some("the Reshape sets d, so its output is 4-D")
        } else if !only_reader(g, top, j) {
            Some("the Reshape's output has other readers")
        } else if input_dims.is_some_and(|d| d != 1) {
            Some("the Reshape's input is not 1-D, so it broadcasts differently")
        } else {
            None
        };
        if let Some(why) = why {
            log.decline(format!("{} + {}: {why}", g.layers[i].name, g.layers[j].name));
            continue;
        }
        g.layers[j].bottoms.iter_mut().filter(|b| **b == top).for_each(|b| *b = bottom);
        log.fire(g, &[j, i]);
        remove(g, i);
    }
}

/// Flatten after an InnerProduct (a no-op unless the InnerProduct ran on 2-D input).
pub fn flatten_after_innerproduct(g: &mut Graph, log: &mut PassLog) {
    let check = |g: &Graph, i: usize, _: usize| {
        let dims = g.blobs[g.layers[i].tops[0]].shape.map(|s| s.dims);
        dims.is_some_and(|d| d != 1).then(|| "the InnerProduct's output is not 1-D".to_string())
    };
    absorb_pass(g, log, "InnerProduct", "Flatten", |_, _| true, check);
}

/// A MemoryData no later layer reads.
pub fn orphaned_memorydata(g: &mut Graph, log: &mut PassLog) {
    for i in 0..g.layers.len() {
        if g.layers[i].type_name != "MemoryData" || g.layers[i].tops.is_empty() {
            continue;
        }
        let top = g.layers[i].tops[0];
        if readers(g, top).iter().any(|&j| j > i) {
            continue;
        }
        log.fire(g, &[i]);
        remove(g, i);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{blobs_of, graph, run_pass, types};
    use super::*;

    const HEAD: &str = "Input in 0 1 x 0=4 1=4 2=2\nConvolution conv 1 1 x c 0=2 1=1 6=4\n";

    fn model(n: usize, body: &str) -> String {
        format!("7767517\n{n} 9\n{HEAD}{body}")
    }

    #[test]
    fn identities_after_a_convolution_disappear() {
        for (pass, body) in [
            (dropout as fn(&mut Graph, &mut PassLog), "Dropout d 1 1 c y\n"),
            (pooling1x1, "Pooling p 1 1 c y 1=1\n"),
            (noop, "Noop n 1 1 c y\n"),
            (split, "Split s 1 1 c y\n"),
        ] {
            let (out, log) = run_pass(pass, &graph(&model(3, body)));
            assert_eq!(types(&out), ["Input", "Convolution"], "{body}");
            assert_eq!(blobs_of(&out, &out.layers[1]).1, ["y"], "{body}: the producer takes the top");
            assert_eq!(log.fired.len(), 1);
        }
        let one_read = model(4, "Split s 1 2 c y y2\nReLU r 1 1 y2 z\n");
        let (out, _) = run_pass(split, &graph(&one_read));
        assert_eq!(types(&out), ["Input", "Convolution", "ReLU"]);
        assert_eq!(blobs_of(&out, &out.layers[1]).1, ["y2"]);
        let none_read = model(3, "Split s 1 2 c y y2\n");
        assert_eq!(run_pass(split, &graph(&none_read)).0.layers.len(), 3, "ncnn would index tops[-1]");
    }

    #[test]
    fn non_identities_stay() {
        for (pass, body) in [
            (dropout as fn(&mut Graph, &mut PassLog), "Dropout d 1 1 c y 0=0.5\n"),
            (pooling1x1, "Pooling p 1 1 c y 1=1 3=1\n"),
            (pooling1x1, "Pooling p 1 1 c y 1=1 2=2\n"),
            (pooling1x1, "Pooling p 1 1 c y 1=1 4=1\n"),
            (split, "Split s 1 2 c y z\nConcat cat 2 1 y z w\n"),
        ] {
            let src = model(2 + body.lines().count(), body);
            let (out, log) = run_pass(pass, &graph(&src));
            assert_eq!(out.layers.len(), 2 + body.lines().count(), "{body}");
            assert!(log.fired.is_empty(), "{body}");
        }
    }

    #[test]
    fn an_input_keeps_its_blob_name() {
        let src = "7767517\n3 3\nInput in 0 1 x 0=4\nDropout d 1 1 x y\nReLU r 1 1 y z\n";
        let (out, _) = run_pass(dropout, &graph(src));
        assert_eq!(types(&out), ["Input", "ReLU"]);
        assert_eq!(blobs_of(&out, &out.layers[1]), (vec!["x".into()], vec!["z".into()]));
    }

    #[test]
    fn flatten_and_reshape_after_global_pooling() {
        let pool = "Pooling gap 1 1 c p 0=1 4=1\n";
        for (pass, tail) in [
            (flatten_after_global_pooling as fn(&mut Graph, &mut PassLog), "Flatten f 1 1 p y\n"),
            (reshape_after_global_pooling, "Reshape r 1 1 p y 0=-1\n"),
        ] {
            let (out, _) = run_pass(pass, &graph(&model(4, &format!("{pool}{tail}"))));
            assert_eq!(types(&out), ["Input", "Convolution", "Pooling"], "{tail}");
        }
        let kept = model(4, &format!("{pool}Reshape r 1 1 p y 0=2 1=1\n"));
        assert_eq!(run_pass(reshape_after_global_pooling, &graph(&kept)).0.layers.len(), 4);
        let local = model(4, "Pooling mp 1 1 c p 1=2\nFlatten f 1 1 p y\n");
        assert_eq!(run_pass(flatten_after_global_pooling, &graph(&local)).0.layers.len(), 4);
    }

    #[test]
    fn reshape_before_binaryop_reads_the_vector() {
        let body = "Split s 1 2 c c0 c1\nPooling gap 1 1 c0 p 0=1 4=1\nReshape r 1 1 p q 0=1 1=1 2=-1\n\
            BinaryOp mul 2 1 c1 q y 0=2\n";
        let (out, log) = run_pass(reshape_before_binaryop, &graph(&model(6, body)));
        assert_eq!(types(&out), ["Input", "Convolution", "Split", "Pooling", "BinaryOp"]);
        assert_eq!(log.fired, [vec!["mul".to_string(), "r".into()]]);
        assert_eq!(blobs_of(&out, &out.layers[4]).0, ["c1", "p"]);
    }

    #[test]
    fn reshapes_by_expression_or_batch_axes_are_kept_and_said_so() {
        let body = "Split s 1 2 c c0 c1\nPooling gap 1 1 c0 p 0=1 4=1\nReshape r 1 1 p q {}\n\
            BinaryOp mul 2 1 c1 q y 0=2\n";
        let cases = [
            (reshape_before_binaryop as fn(&mut Graph, &mut PassLog), "12=0 13=0 6=\"1,1,//(-1,0n),0n\"", "expression"),
            (reshape_before_binaryop, "0=1 1=1 2=-1 12=0 13=0", "batch axes"),
            (reshape_after_global_pooling, "6=\"-1\"", "expression"),
            (reshape_after_global_pooling, "0=-1 12=0 13=0", "batch axes"),
        ];
        for (pass, reshape, why) in cases {
            let (out, log) = run_pass(pass, &graph(&model(6, &body.replace("{}", reshape))));
            assert_eq!(out.layers.len(), 6, "{reshape}");
            assert!(log.declined.iter().any(|d| d.contains(why)), "{reshape}: {:?}", log.declined);
        }
    }

    #[test]
    fn orphaned_memorydata_goes() {
        let src = "7767517\n3 3\nInput in 0 1 x 0=4\nMemoryData a 0 1 a 0=4\nMemoryData b 0 1 b 0=4\n";
        let src = src.replace("3 3\n", "4 4\n") + "BinaryOp add 2 1 x b y\n";
        let (out, log) = run_pass(orphaned_memorydata, &graph(&src));
        assert_eq!(types(&out), ["Input", "MemoryData", "BinaryOp"]);
        assert_eq!(log.fired, [vec!["a".to_string()]]);
    }
}
