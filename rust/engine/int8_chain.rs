//! int8 chains: blobs between int8 convolutions kept int8 where the file has them float.
//!
//! ncnn2int8 leaves an int8 convolution's output float (de-scaled) when anything but an int8
//! convolution reads it: in squeezenet `conv1` → `pool1` (`MaxPool`) → `fire2/squeeze1x1`, and every
//! fire module's two expand convolutions → Concat → the next squeeze. The reader then quantizes
//! the floats again with its input scale `s`: `q(x) = float2int8(x·s)`. That costs a float store
//! and load of the blob (3.27 MB after `conv1`) and a quantizing pass. Since `q` is monotone, max
//! pooling commutes with it (padding, `-FLT_MAX`, becomes `q(-FLT_MAX)` = −127), and Split and
//! Concat only move values, so when every reader at the end of such a path is an int8 convolution
//! with the same `s`, the producers can write `q(y·s)` of the float `y` they compute now (their
//! epilogue's requantization: `float2int8(act(acc·scale + bias)·s)`, the reader's very operation
//! on the stored float), the layers between run on int8, and the readers take the bytes as is
//! (as they take requantized blobs): the same bits as the float path, in a quarter of the memory.
//!
//! A region is a set of blobs joined through [`Chain::Select`] layers (each one's bottoms and tops
//! all belong to it). It is planned once, when the net is built, and only if: every blob's
//! producer is an int8 convolution that de-scales (single top) or a Select layer; every reader of
//! every blob is a Select layer or an int8 convolution ([`Chain::Conv`]); all those convolutions
//! read at one scale (equal bits); no blob is a graph output (unread). The files do not change:
//! real ncnn runs them as written. A run uses a region unless one of its blobs is fed, requested
//! as an output or wanted by an observer (calibration, shape inference): those see floats.

use crate::layers::{Chain, Op};
use crate::model::Graph;
use std::sync::Arc;

#[cfg(test)]
mod tests;

#[cfg(test)]
thread_local! {
    /// Layers run chained on this thread (tests check the path ran).
    pub(super) static CHAINED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One planned region.
struct Region {
    blobs: Vec<usize>,
    /// The readers' input scale, which the producers requantize with.
    scale: f32,
}

/// The regions of one net.
pub(super) struct Plan {
    regions: Vec<Region>,
    /// Per layer: the region it runs in as a producer or Select layer.
    layer_region: Vec<Option<usize>>,
}

impl Plan {
    pub fn new(graph: &Graph, ops: &[Arc<dyn Op>]) -> Plan {
        let blobs = graph.blobs.len();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); blobs];
        for (i, layer) in graph.layers.iter().enumerate() {
            for &b in &layer.bottoms {
                readers[b].push(i);
            }
        }
        let producer = |b: usize| graph.blobs[b].producer;
        let mut seen = vec![false; blobs];
        let mut regions = Vec::new();
        let mut layer_region = vec![None; graph.layers.len()];
        for (p, layer) in graph.layers.iter().enumerate() {
            if !matches!(ops[p].chain(), Chain::Conv { requantizes: true, .. }) {
                continue;
            }
            let [top] = layer.tops[..] else { continue };
            if seen[top] {
                continue;
            }
            // The blobs joined to `top` through Select layers, checked as they are found.
            let mut ok = true;
            let mut members = vec![top];
            seen[top] = true;
            let (mut producers, mut selects, mut scales) = (Vec::new(), Vec::new(), Vec::new());
            let mut next = 0;
            while next < members.len() {
                let b = members[next];
                next += 1;
                let mut join = |l: usize, members: &mut Vec<usize>, selects: &mut Vec<usize>| {
                    if !selects.contains(&l) {
                        selects.push(l);
                    }
                    for &x in graph.layers[l].bottoms.iter().chain(&graph.layers[l].tops) {
                        if !seen[x] {
                            seen[x] = true;
                            members.push(x);
                        }
                    }
                };
                match producer(b).map(|l| (l, ops[l].chain())) {
                    Some((l, Chain::Conv { requantizes: true, .. })) if graph.layers[l].tops.len() == 1 => {
                        if !producers.contains(&l) {
                            producers.push(l);
                        }
                    }
                    Some((l, Chain::Select)) => join(l, &mut members, &mut selects),
                    _ => ok = false,
                }
                if readers[b].is_empty() {
                    ok = false;
                }
                for &r in &readers[b] {
                    match ops[r].chain() {
                        Chain::Conv { input, .. } => scales.push(input),
                        Chain::Select => join(r, &mut members, &mut selects),
                        Chain::None => ok = false,
                    }
                }
            }
            let Some(&scale) = scales.first() else { continue };
            if !ok || scales.iter().any(|s| s.to_bits() != scale.to_bits()) {
                continue;
            }
            let region = regions.len();
            for &l in producers.iter().chain(&selects) {
                layer_region[l] = Some(region);
            }
            regions.push(Region { blobs: members, scale });
        }
        Plan { regions, layer_region }
    }

    /// Whether each region is used in a run: none of its blobs is fed or `shown` (requested as an
    /// output, or wanted by an observer).
    pub fn start(&self, fed: &[usize], shown: impl Fn(usize) -> bool) -> Vec<bool> {
        self.regions.iter().map(|r| r.blobs.iter().all(|&b| !fed.contains(&b) && !shown(b))).collect()
    }

    /// The scale layer `node` writes its int8 tops with in this run (`active`: [`Plan::start`]'s),
    /// if it runs in a region.
    pub fn scale(&self, node: usize, active: &[bool]) -> Option<f32> {
        self.layer_region[node].filter(|&r| active[r]).map(|r| self.regions[r].scale)
    }

    /// Planned regions (tests and profiles).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn len(&self) -> usize {
        self.regions.len()
    }
}
