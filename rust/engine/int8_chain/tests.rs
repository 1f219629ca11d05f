//! int8 chains against the same nets with them off: the same output bits on odd sizes, every
//! pooling pad mode, Concats of two and three parts, one to three threads; regions planned only
//! where every reader is an int8 convolution at one scale, and runs that show a region's blob
//! (output, observer, fed) fall back.

use super::*;
use crate::base::{Shape, Tensor};
use crate::engine::{Net, NetOptions, Observer};
use crate::model::{param_text, random_weights, WeightData};

/// `c1` (3×3 stride 2, ReLU) → max pool with pads in ceil mode → a requantizing squeeze read
/// through a Split by three expand convolutions (1×1, 3×3, 5×5 with odd channel counts) → a
/// three-part Concat → a valid-mode 2×2 pool → `t`; and `c1` → a SAME-mode pool (pad mode 3)
/// → `u`. Two regions: {c1, p1, pu} read by `sq` and `u`, {e1, e3, e5, cat, p2} read by `t`.
const CHAIN: &str = "7767517
13 18
Input       data 0 1 data 0=17 1=15 2=5
Convolution c1   1 1 data c1 0=12 1=3 3=2 4=1 5=1 6=540 8=2 9=1
Split       spc  1 2 c1 c1a c1b
Pooling     p1   1 1 c1a p1 0=0 1=3 2=2 3=1 5=0
Pooling     pu   1 1 c1b pu 0=0 1=2 2=2 5=3
Convolution u    1 1 pu u 0=3 1=1 5=1 6=36 8=2
Convolution sq   1 1 p1 sq 0=6 1=1 5=1 6=72 8=102 9=1
Split       sp   1 3 sq s1 s2 s3
Convolution e1   1 1 s1 e1 0=7 1=1 5=1 6=42 8=2 9=1
Convolution e3   1 1 s2 e3 0=9 1=3 4=1 5=1 6=486 8=2 9=1
Convolution e5   1 1 s3 e5 0=5 1=5 4=2 5=1 6=750 8=2 9=1
Concat      cat  3 1 e1 e3 e5 cat 0=0
Pooling     p2   1 1 cat p2 0=0 1=2 2=2 5=1
";

/// `CHAIN` with the readers of each region given one input scale, and one more layer at the end.
const CHAIN_TAIL: &str = "Convolution t    1 1 p2 t 0=4 1=1 5=1 6=84 8=2\n";

/// Regions that must not be planned: `b` is read by an int8 convolution and by a float ReLU,
/// `c` by two int8 convolutions at different scales, `d` by a global max pool whose output is
/// requested (unread), `e` (pooled, then read by `f`) is the one planned.
const FALLBACK: &str = "7767517
14 19
Input       data 0 1 data 0=13 1=11 2=4
Convolution b    1 1 data b 0=6 1=3 4=1 5=1 6=216 8=2 9=1
Split       spb  1 2 b b1 b2
Convolution rb   1 1 b1 rb 0=3 1=1 5=1 6=18 8=2
ReLU        fb   1 1 b2 fb
Convolution c    1 1 data c 0=5 1=1 5=1 6=20 8=2
Split       spc  1 2 c c1 c2
Convolution rc1  1 1 c1 rc1 0=2 1=1 5=1 6=10 8=2
Convolution rc2  1 1 c2 rc2 0=2 1=3 4=1 5=1 6=90 8=2
Convolution d    1 1 data d 0=3 1=1 5=1 6=12 8=2
Pooling     gd   1 1 d gd 0=0 4=1
Convolution e    1 1 data e 0=4 1=1 5=1 6=16 8=2 9=1
Pooling     pe   1 1 e pe 0=0 1=3 2=2 5=2
Convolution f    1 1 pe f 0=3 1=1 5=1 6=12 8=2
";

fn graph(text: &str, same_scale: &[&str]) -> Graph {
    let mut g = param_text::parse(text, "chain-test.param").expect("parses");
    random_weights::fill_random_weights(&mut g, 5).expect("weights");
    // Readers of one region at one input scale, as a calibration table gives one blob one scale.
    for name in same_scale {
        let l = g.layer_index(name).expect("layer");
        let w = g.layers[l].weight_mut("bottom_int8_scale").expect("int8 layer");
        w.data = WeightData::F32(vec![31.25]);
    }
    g
}

fn input(shape: Shape, seed: u64) -> Tensor {
    let mut state = seed;
    let data = (0..shape.len())
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        })
        .collect();
    Tensor::new(shape, data)
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.f32().iter().map(|v| v.to_bits()).collect()
}

fn blobs(g: &Graph, names: &[&str]) -> Vec<usize> {
    names.iter().map(|n| g.blob_index(n).expect("blob")).collect()
}

/// Wants the listed blobs.
struct Watch(Vec<usize>, usize);

impl Observer for Watch {
    fn wants(&self, blob: usize) -> bool {
        self.0.contains(&blob)
    }
    fn observe(&mut self, _: usize, _: &Tensor) {
        self.1 += 1;
    }
}

/// The outputs of `net` (chains on or off) and how many layers ran chained.
fn run(net: &mut Net, on: bool, x: &Tensor, outputs: &[usize], watch: &[usize]) -> (Vec<Tensor>, usize) {
    net.set_int8_chains(on);
    let before = CHAINED.with(std::cell::Cell::get);
    let mut w = Watch(watch.to_vec(), 0);
    let obs: Option<&mut dyn Observer> = if watch.is_empty() { None } else { Some(&mut w) };
    let out = net.install(|| net.run_here(vec![(0, x.clone())], outputs, obs)).expect("run");
    (out, CHAINED.with(std::cell::Cell::get) - before)
}

fn assert_same(a: &[Tensor], b: &[Tensor], what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (a, b)) in a.iter().zip(b).enumerate() {
        assert!(!a.is_i8() && !b.is_i8(), "{what}: outputs are floats");
        assert_eq!(a.shape, b.shape, "{what}: output {i}");
        assert_eq!(bits(a), bits(b), "{what}: output {i}");
    }
}

#[test]
fn chains_give_the_unchained_bits() {
    let text = format!("{}{CHAIN_TAIL}", CHAIN.replace("13 18", "14 19"));
    let g = graph(&text, &["sq", "u"]);
    let outputs = blobs(&g, &["t", "u"]);
    for threads in [1, 2, 3] {
        let mut net = Net::new(&g, &NetOptions { threads }).expect("net");
        assert_eq!(net.chains.len(), 2, "both regions planned");
        for (seed, shape) in [(1, Shape::d3(17, 15, 5)), (2, Shape::d3(17, 15, 5)), (3, Shape::d3(23, 9, 5))] {
            let x = input(shape, seed);
            let (off, n) = run(&mut net, false, &x, &outputs, &[]);
            assert_eq!(n, 0);
            let (on, n) = run(&mut net, true, &x, &outputs, &[]);
            // c1, spc, p1, pu; e1, e3, e5 (written into the Concat or run chained), cat, p2.
            assert!(n >= 5, "layers ran chained: {n}");
            assert_same(&off, &on, &format!("{threads} threads, input {shape}"));
        }
    }
}

#[test]
fn concat_parts_write_int8_in_place_or_not_the_same_bits() {
    // Observing `sq` (outside the regions) keeps the chains; the Concat's parts go in place. A
    // second Concat reader (`t2`, same scale) keeps them too, a requested `e3` drops that region.
    let text = format!(
        "{}{CHAIN_TAIL}Convolution t2   1 1 cat2 t2 0=2 1=3 4=1 5=1 6=378 8=2\n",
        CHAIN
            .replace("13 18", "16 21")
            .replace("Pooling     p2   1 1 cat p2", "Split       spk  1 2 cat cat1 cat2\nPooling     p2   1 1 cat1 p2")
    );
    let g = graph(&text, &["sq", "u", "t", "t2"]);
    let mut net = Net::new(&g, &NetOptions { threads: 2 }).expect("net");
    assert_eq!(net.chains.len(), 2);
    let x = input(Shape::d3(17, 15, 5), 9);
    let outputs = blobs(&g, &["t", "t2", "u"]);
    let (off, _) = run(&mut net, false, &x, &outputs, &[]);
    let (on, n) = run(&mut net, true, &x, &outputs, &blobs(&g, &["sq"]));
    assert!(n >= 5, "{n}");
    assert_same(&off, &on, "observing sq");
    let mut with_e3 = outputs.clone();
    with_e3.extend(blobs(&g, &["e3"]));
    let (off, _) = run(&mut net, false, &x, &with_e3, &[]);
    let (on, n) = run(&mut net, true, &x, &with_e3, &[]);
    assert_eq!(n, 4, "only c1's region (c1, spc, p1, pu) ran chained");
    assert_same(&off, &on, "e3 requested");
}

#[test]
fn a_region_blob_shown_or_fed_falls_back_to_floats() {
    let text = format!("{}{CHAIN_TAIL}", CHAIN.replace("13 18", "14 19"));
    let g = graph(&text, &["sq", "u"]);
    let mut net = Net::new(&g, &NetOptions::default()).expect("net");
    let x = input(Shape::d3(17, 15, 5), 4);
    let outputs = blobs(&g, &["t", "u"]);
    let (want, _) = run(&mut net, false, &x, &outputs, &[]);
    // p1 requested: c1's region gives floats; p2 watched: the other one too.
    let mut with_p1 = outputs.clone();
    with_p1.extend(blobs(&g, &["p1"]));
    let (off, _) = run(&mut net, false, &x, &with_p1, &[]);
    let (on, n) = run(&mut net, true, &x, &with_p1, &blobs(&g, &["p2"]));
    assert_eq!(n, 0, "both regions shown");
    assert_same(&off, &on, "p1 requested, p2 watched");
    assert!(!on[2].is_i8());
    assert_same(&want, &on[..2], "the outputs");
    // cat fed: its region is off for the run (t computed from the fed floats), c1's stays on for
    // the layers `u` still needs (c1, spc, pu; p1 and sq are not run).
    net.set_int8_chains(true);
    let cat = g.blob_index("cat").expect("blob");
    let cat_x = input(Shape::d3(5, 4, 21), 6);
    let before = CHAINED.with(std::cell::Cell::get);
    let fed = net.run(vec![(0, x.clone()), (cat, cat_x.clone())], &outputs).expect("run");
    assert_eq!(CHAINED.with(std::cell::Cell::get) - before, 3);
    net.set_int8_chains(false);
    let plain = net.run(vec![(0, x), (cat, cat_x)], &outputs).expect("run");
    assert_same(&plain, &fed, "cat fed");
}

#[test]
fn only_regions_read_by_int8_convolutions_at_one_scale_are_planned() {
    let g = graph(FALLBACK, &["rb", "rc1", "f"]);
    let mut net = Net::new(&g, &NetOptions::default()).expect("net");
    let layer = |n: &str| g.layer_index(n).expect("layer");
    // Only e's region: b has a float reader, c's readers differ (rc2 keeps its random scale), d's
    // pooled blob is unread.
    assert_eq!(net.chains.len(), 1);
    let active = [true];
    for l in ["b", "spb", "c", "spc", "d", "gd"] {
        assert_eq!(net.chains.scale(layer(l), &active), None, "{l}");
    }
    for l in ["e", "pe"] {
        assert_eq!(net.chains.scale(layer(l), &active), Some(31.25), "{l}");
    }
    let outputs = blobs(&g, &["rb", "fb", "rc1", "rc2", "gd", "f"]);
    for seed in [1, 2] {
        let x = input(Shape::d3(13, 11, 4), seed);
        let (off, _) = run(&mut net, false, &x, &outputs, &[]);
        let (on, n) = run(&mut net, true, &x, &outputs, &[]);
        assert_eq!(n, 2, "e and pe ran chained");
        assert_same(&off, &on, &format!("seed {seed}"));
    }
    // With rc2 at rc1's scale, c's region is planned as well.
    let g = graph(FALLBACK, &["rb", "rc1", "rc2", "f"]);
    let net = Net::new(&g, &NetOptions::default()).expect("net");
    assert_eq!(net.chains.len(), 2);
}
