//! Built layer ops shared between the networks the network probe assembles: a layer left as the
//! fp32 model has it is built once; a rewritten (int8) layer is looked up by its content, so a
//! layer whose scales, weights and requantization did not change between two configurations is
//! not packed again.

use crate::error::Result;
use crate::layers::{self, Op};
use crate::model::weights::store_as;
use crate::model::{Layer, Storage, WeightData};
use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One rewritten layer's op, with the layer (bitwise compared on a hash hit).
struct Entry {
    index: usize,
    hash: u64,
    layer: Layer,
    op: Arc<dyn Op>,
}

pub struct OpCache {
    storage: Storage,
    /// Per layer of the fp32 graph, its op when the layer is used unchanged.
    original: Vec<Option<Arc<dyn Op>>>,
    /// Rewritten layers' ops, oldest first; at most `capacity`.
    rewritten: VecDeque<Entry>,
    capacity: usize,
}

fn hash_layer(index: usize, l: &Layer) -> u64 {
    let mut h = DefaultHasher::new();
    index.hash(&mut h);
    l.type_name.hash(&mut h);
    for (id, v) in l.params.iter() {
        id.hash(&mut h);
        // Bitwise: the same bits build the same op.
        format!("{v:?}").hash(&mut h);
    }
    for w in &l.weights {
        w.name.hash(&mut h);
        match &w.data {
            WeightData::F32(v) => v.iter().for_each(|x| x.to_bits().hash(&mut h)),
            WeightData::F16(v) => v.hash(&mut h),
            WeightData::I8(v) => v.hash(&mut h),
            WeightData::Codebook { indices, .. } => indices.hash(&mut h),
        }
    }
    h.finish()
}

fn same_data(a: &WeightData, b: &WeightData) -> bool {
    match (a, b) {
        (WeightData::F32(x), WeightData::F32(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}

fn same_layer(a: &Layer, b: &Layer) -> bool {
    a.type_name == b.type_name
        && a.params.same_bits(&b.params)
        && a.weights.len() == b.weights.len()
        && a.weights.iter().zip(&b.weights).all(|(x, y)| x.name == y.name && same_data(&x.data, &y.data))
}

/// The layer with its float arrays as the written file stores them.
fn stored(layer: &Layer, storage: Storage) -> Layer {
    let mut l = layer.clone();
    l.weights.iter_mut().for_each(|w| store_as(w, storage));
    l
}

impl OpCache {
    pub fn new(layers: usize, storage: Storage) -> OpCache {
        OpCache { storage, original: vec![None; layers], rewritten: VecDeque::new(), capacity: 4 * layers.max(16) }
    }

    /// The op of layer `index`, which is either `original` (the fp32 graph's layer, unchanged)
    /// or its rewritten form.
    pub fn op(&mut self, index: usize, layer: &Layer, original: &Layer) -> Result<Arc<dyn Op>> {
        if layer.params.same_bits(&original.params) {
            if let Some(op) = &self.original[index] {
                return Ok(op.clone());
            }
            let op: Arc<dyn Op> = Arc::from(layers::build(&stored(original, self.storage))?);
            self.original[index] = Some(op.clone());
            return Ok(op);
        }
        let layer = stored(layer, self.storage);
        let hash = hash_layer(index, &layer);
        if let Some(e) =
            self.rewritten.iter().find(|e| e.index == index && e.hash == hash && same_layer(&e.layer, &layer))
        {
            return Ok(e.op.clone());
        }
        let op: Arc<dyn Op> = Arc::from(layers::build(&layer)?);
        if self.rewritten.len() == self.capacity {
            self.rewritten.pop_front();
        }
        self.rewritten.push_back(Entry { index, hash, layer, op: op.clone() });
        Ok(op)
    }

    /// Built ops held (unchanged and rewritten layers).
    pub fn count(&self) -> usize {
        self.original.iter().flatten().count() + self.rewritten.len()
    }
}
