//! The in-place Concat against the plain one: the same output to the bit, with and without
//! observers, on one and two threads; the in-place path taken only where it may be.

use super::*;
use crate::engine::{Net, NetOptions, Observer};
use crate::model::{param_text, random_weights};

/// Two fire-module-like groups: `cat1`'s parts share an input (through a Split, one of them a
/// Winograd-sized 3×3), `cat2`'s second part is computed after the first part ran (as in
/// googlenet's inception blocks), a 5×5 part with odd channel counts.
const MODEL: &str = "7767517
10 14
Input       data 0 1 data 0=15 1=13 2=9
Split       sp   1 2 data d1 d2
Convolution a    1 1 d1 a 0=11 1=1 5=1 6=99 9=1
Convolution b    1 1 d2 b 0=16 1=3 4=1 5=1 6=1296 9=1
Concat      cat1 2 1 a b cat1 0=0
Split       sp2  1 2 cat1 s1 s2
Convolution c    1 1 s1 c 0=5 1=1 5=1 6=135
Convolution r    1 1 s2 r 0=3 1=1 5=0 6=81
Convolution e    1 1 r e 0=7 1=5 4=2 5=1 6=525
Concat      cat2 2 1 c e cat2 0=-3
";

fn graph(text: &str) -> Graph {
    let mut g = param_text::parse(text, "concat-test.param").expect("parses");
    random_weights::fill_random_weights(&mut g, 3).expect("weights");
    g
}

fn input(shape: Shape) -> Tensor {
    let mut state = 17u64;
    let data = (0..shape.len())
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    Tensor::new(shape, data)
}

/// Blobs an observer saw, with copies of their tensors.
type Observed = Vec<(usize, Tensor)>;

/// Wants the listed blobs, keeps copies of them.
struct Keep(Vec<usize>, Observed);

impl Observer for Keep {
    fn wants(&self, blob: usize) -> bool {
        self.0.contains(&blob)
    }
    fn observe(&mut self, blob: usize, tensor: &Tensor) {
        self.1.push((blob, tensor.clone()));
    }
}

fn blob(g: &Graph, name: &str) -> usize {
    g.blob_index(name).expect("blob")
}

/// Runs `net` on `x` for `outputs` with an observer of `watch`: the outputs, the observed blobs
/// and how many parts were written in place.
fn run(net: &Net, x: &Tensor, outputs: &[usize], watch: &[usize]) -> Result<(Vec<Tensor>, Observed, usize)> {
    let before = IN_PLACE.with(std::cell::Cell::get);
    let mut keep = Keep(watch.to_vec(), Vec::new());
    let obs: Option<&mut dyn Observer> = if watch.is_empty() { None } else { Some(&mut keep) };
    let out = net.install(|| net.run_here(vec![(0, x.clone())], outputs, obs))?;
    Ok((out, keep.1, IN_PLACE.with(std::cell::Cell::get) - before))
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.f32().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn both_groups_are_planned() {
    let g = graph(MODEL);
    let net = Net::new(&g, &NetOptions::default()).expect("net");
    let layer = |n: &str| g.layer_index(n).expect("layer");
    let plan = &net.concats;
    assert_eq!(plan.role(layer("a")), Role::Part { group: 0, index: 0 });
    assert_eq!(plan.role(layer("b")), Role::Part { group: 0, index: 1 });
    assert_eq!(plan.role(layer("cat1")), Role::Concat { group: 0 });
    assert_eq!(plan.role(layer("c")), Role::Part { group: 1, index: 0 });
    assert_eq!(plan.role(layer("e")), Role::Part { group: 1, index: 1 });
    assert_eq!(plan.role(layer("r")), Role::Other);
}

#[test]
fn in_place_output_is_the_copied_concat_bit_for_bit() {
    let g = graph(MODEL);
    let x = input(Shape::d3(15, 13, 9));
    let (cat1, cat2, a, b, c, e) =
        (blob(&g, "cat1"), blob(&g, "cat2"), blob(&g, "a"), blob(&g, "b"), blob(&g, "c"), blob(&g, "e"));
    for threads in [1, 2] {
        let net = Net::new(&g, &NetOptions { threads }).expect("net");
        // Observing every part keeps both Concats plain: the reference.
        let (plain, seen, in_place) = run(&net, &x, &[cat2], &[a, b, c, e, cat1]).expect("plain run");
        assert_eq!(in_place, 0, "an observed part is a blob of its own");
        let (fast, _, in_place) = run(&net, &x, &[cat2], &[]).expect("in-place run");
        assert_eq!(in_place, 4, "both groups' parts written in place ({threads} threads)");
        assert_eq!(fast[0].shape, Shape::d3(15, 13, 5 + 7));
        assert_eq!(bits(&plain[0]), bits(&fast[0]), "{threads} threads");
        // The plain Concat is the parts one after another.
        let part = |blob: usize| seen.iter().find(|(b, _)| *b == blob).map(|(_, t)| t.f32().to_vec()).expect("seen");
        let joined: Vec<f32> = part(a).into_iter().chain(part(b)).collect();
        assert_eq!(part(cat1), joined);
        // An observer of the Concat's output alone still gets the in-place path.
        let (out, seen, in_place) = run(&net, &x, &[cat2], &[cat1]).expect("observed concat");
        assert_eq!(in_place, 4);
        assert_eq!(bits(&out[0]), bits(&plain[0]));
        assert_eq!(seen[0].1.f32(), &joined[..]);
    }
}

#[test]
fn a_part_read_elsewhere_keeps_its_blob() {
    let g = graph(MODEL);
    let x = input(Shape::d3(15, 13, 9));
    let net = Net::new(&g, &NetOptions::default()).expect("net");
    let (cat2, e) = (blob(&g, "cat2"), blob(&g, "e"));
    let (reference, _, _) = run(&net, &x, &[cat2], &[]).expect("run");
    // `e` is also an output: group 2 runs plain, group 1 still in place.
    let (out, _, in_place) = run(&net, &x, &[cat2, e], &[]).expect("run");
    assert_eq!(in_place, 2);
    assert_eq!(bits(&out[0]), bits(&reference[0]));
    assert_eq!(out[1].shape, Shape::d3(15, 13, 7));
    assert_eq!(out[1].f32(), &reference[0].f32()[5 * 15 * 13..]);
}

#[test]
fn parts_of_different_sizes_fail_as_the_concat_does() {
    // `b` has stride 2: its 8×7 output cannot join `a`'s 15×13 on channels.
    let text = MODEL.replace("0=16 1=3 4=1 5=1 6=1296", "0=16 1=3 3=2 4=1 5=1 6=1296");
    let g = graph(&text);
    let x = input(Shape::d3(15, 13, 9));
    let net = Net::new(&g, &NetOptions::default()).expect("net");
    let (cat1, a, b) = (blob(&g, "cat1"), blob(&g, "a"), blob(&g, "b"));
    let fast = run(&net, &x, &[cat1], &[]).map(|_| ()).expect_err("sizes differ");
    let plain = run(&net, &x, &[cat1], &[a, b]).map(|_| ()).expect_err("sizes differ");
    for e in [fast.to_string(), plain.to_string()] {
        assert!(e.contains("cat1") && e.contains("cannot concat"), "{e}");
    }
}

#[test]
fn other_axes_and_other_producers_are_not_planned() {
    // Concat on height; a Concat fed by a Pooling layer.
    let text = "7767517
6 7
Input       data 0 1 data 0=6 1=5 2=4
Split       sp   1 2 data d1 d2
Convolution a    1 1 d1 a 0=3 1=1 5=1 6=12
Convolution b    1 1 d2 b 0=3 1=1 5=1 6=12
Concat      cat  2 1 a b cat 0=1
Pooling     p    1 1 cat p 0=0 1=1
";
    let g = graph(text);
    let net = Net::new(&g, &NetOptions::default()).expect("net");
    assert!((0..g.layers.len()).all(|l| net.concats.role(l) == Role::Other));
    let x = input(Shape::d3(6, 5, 4));
    let (out, _, in_place) = run(&net, &x, &[blob(&g, "p")], &[]).expect("run");
    assert_eq!(in_place, 0);
    assert_eq!(out[0].shape, Shape::d3(6, 10, 3));
}

/// The same two kinds of group from int8 layers that de-scale (ncnn2int8 writes
/// `int8_scale_term` 1 or 2 before a Concat, whose inputs are floats): `cat1`'s parts read a
/// requantized int8 blob through a Split (a fire module), `cat2`'s are an int8 depthwise
/// convolution and a grouped int8 ConvolutionDepthWise.
const INT8_MODEL: &str = "7767517
10 14
Input                data 0 1 data 0=15 1=13 2=9
Convolution          sq   1 1 data sq 0=8 1=1 5=1 6=72 8=102 9=1
Split                sp   1 2 sq s1 s2
Convolution          a    1 1 s1 a 0=11 1=1 5=1 6=88 8=2 9=1
Convolution          b    1 1 s2 b 0=16 1=3 4=1 5=1 6=1152 8=2 9=1
Concat               cat1 2 1 a b cat1 0=0
Split                sp2  1 2 cat1 c1 c2
ConvolutionDepthWise d    1 1 c1 d 0=27 1=3 4=1 5=1 6=243 7=27 8=1
ConvolutionDepthWise g    1 1 c2 g 0=6 1=3 4=1 5=1 6=486 7=3 8=2 9=1
Concat               cat2 2 1 d g cat2 0=-3
";

#[test]
fn int8_parts_write_in_place_the_copied_concat_bit_for_bit() {
    let g = graph(INT8_MODEL);
    let x = input(Shape::d3(15, 13, 9));
    let layer = |n: &str| g.layer_index(n).expect("layer");
    let (cat1, cat2, a, b, d, gr) =
        (blob(&g, "cat1"), blob(&g, "cat2"), blob(&g, "a"), blob(&g, "b"), blob(&g, "d"), blob(&g, "g"));
    for threads in [1, 2] {
        let net = Net::new(&g, &NetOptions { threads }).expect("net");
        assert_eq!(net.concats.role(layer("a")), Role::Part { group: 0, index: 0 });
        assert_eq!(net.concats.role(layer("b")), Role::Part { group: 0, index: 1 });
        assert_eq!(net.concats.role(layer("d")), Role::Part { group: 1, index: 0 });
        assert_eq!(net.concats.role(layer("g")), Role::Part { group: 1, index: 1 });
        // cat1 as an output of its own keeps cat2 plain through its Split; observing every part
        // keeps both plain.
        let (plain, seen, in_place) = run(&net, &x, &[cat2, cat1], &[a, b, d, gr]).expect("plain run");
        assert_eq!(in_place, 0, "an observed part is a blob of its own");
        let (fast, _, in_place) = run(&net, &x, &[cat2, cat1], &[]).expect("in-place run");
        assert_eq!(in_place, 4, "both groups' int8 parts written in place ({threads} threads)");
        for (p, f) in plain.iter().zip(&fast) {
            assert!(!f.is_i8());
            assert_eq!(p.shape, f.shape);
            assert_eq!(bits(p), bits(f), "{threads} threads");
        }
        assert_eq!(fast[0].shape, Shape::d3(15, 13, 27 + 6));
        assert_eq!(fast[1].shape, Shape::d3(15, 13, 11 + 16));
        // The plain Concats are their parts one after another.
        let part = |blob: usize| seen.iter().find(|(b, _)| *b == blob).map(|(_, t)| bits(t)).expect("seen");
        assert_eq!(bits(&plain[1]), [part(a), part(b)].concat());
        assert_eq!(bits(&plain[0]), [part(d), part(gr)].concat());
    }
}

#[test]
fn a_requantized_part_is_not_planned_and_the_concat_still_refuses_int8() {
    // `a` requantizes: its int8 bytes are no floats to join (ncnn's Concat would misread them).
    let g = graph(&INT8_MODEL.replace("6=88 8=2", "6=88 8=102"));
    let net = Net::new(&g, &NetOptions::default()).expect("net");
    let layer = |n: &str| g.layer_index(n).expect("layer");
    for l in ["a", "b", "cat1"] {
        assert_eq!(net.concats.role(layer(l)), Role::Other, "{l}");
    }
    assert_eq!(net.concats.role(layer("cat2")), Role::Concat { group: 0 });
    let x = input(Shape::d3(15, 13, 9));
    let e = run(&net, &x, &[blob(&g, "cat1")], &[]).map(|_| ()).expect_err("int8 into a Concat");
    let e = e.to_string();
    assert!(e.contains("cat1") && e.contains("receives int8 data"), "{e}");
}
