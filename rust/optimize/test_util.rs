//! Small models for the passes' unit tests.

use super::{pattern, PassFn, PassLog};
use crate::model::{param_text, random_weights, Graph, Layer};

/// A model from `.param` text with seeded random weights.
pub fn graph(text: &str) -> Graph {
    let mut g = param_text::parse(text, "<test>").expect("test model parses");
    random_weights::fill_random_weights(&mut g, 1).expect("random weights");
    g
}

/// Runs one pass on a copy and drops the layers it removed, like the driver.
pub fn run_pass(pass: PassFn, g: &Graph) -> (Graph, PassLog) {
    let mut out = g.clone();
    let mut log = PassLog::default();
    pass(&mut out, &mut log);
    out.layers.retain(pattern::is_live);
    out.compact_blobs();
    out.relink().expect("the pass leaves a valid graph");
    crate::model::bin_file::check_weights(&out).expect("weights match params");
    (out, log)
}

pub fn types(g: &Graph) -> Vec<&str> {
    g.layers.iter().map(|l| l.type_name.as_str()).collect()
}

pub fn weights(layer: &Layer, name: &str) -> Vec<f32> {
    layer.weight(name).unwrap_or_else(|| panic!("{} has no {name}", layer.name)).data.to_f32()
}

/// Names of a layer's bottoms and tops.
pub fn blobs_of(g: &Graph, layer: &Layer) -> (Vec<String>, Vec<String>) {
    let n = |v: &Vec<usize>| v.iter().map(|&b| g.blobs[b].name.clone()).collect();
    (n(&layer.bottoms), n(&layer.tops))
}
