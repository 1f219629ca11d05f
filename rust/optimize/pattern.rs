//! What every pass shares: ncnn's "removed layer" marker, the consumer/producer searches of
//! optimize.md §2, and float access to weights.
//!
//! Passes never delete layers while they run (later passes scan by index, as ncnn's do); a
//! removed layer gets the type [`FUSED`] and no pass type test matches it. The driver drops
//! those layers at the end.

use crate::model::{Graph, Layer, ParamValue, Weight, WeightData};

/// The type ncnn gives a layer a pass removed.
pub const FUSED: &str = "ncnnfused";

pub fn is_live(layer: &Layer) -> bool {
    layer.type_name != FUSED
}

pub fn remove(g: &mut Graph, j: usize) {
    g.layers[j].type_name = FUSED.to_string();
}

/// ncnn's consumer search: the first layer after `i` whose type is one of `types` and whose
/// only bottom is `blob`.
pub fn next_single_reader(g: &Graph, i: usize, blob: usize, types: &[&str]) -> Option<usize> {
    (i + 1..g.layers.len()).find(|&j| {
        let l = &g.layers[j];
        types.contains(&l.type_name.as_str()) && l.bottoms.len() == 1 && l.bottoms[0] == blob
    })
}

/// Live layers that read `blob`, in file order (each once).
pub fn readers(g: &Graph, blob: usize) -> Vec<usize> {
    (0..g.layers.len()).filter(|&j| is_live(&g.layers[j]) && g.layers[j].bottoms.contains(&blob)).collect()
}

/// Whether `j` is the only live reader of `blob`. ncnn assumes it (its Split convention) and
/// never checks; a model without Splits would otherwise lose the other readers' input.
pub fn only_reader(g: &Graph, blob: usize, j: usize) -> bool {
    readers(g, blob) == [j]
}

/// The nearest live layer before `i` that has `blob` among its tops, with the top's slot.
pub fn producer_before(g: &Graph, i: usize, blob: usize) -> Option<(usize, usize)> {
    (0..i).rev().filter(|&j| is_live(&g.layers[j])).find_map(|j| {
        let k = g.layers[j].tops.iter().position(|&t| t == blob)?;
        Some((j, k))
    })
}

/// "Fuse consumer into producer": `i` takes over `j`'s first top and `j` is removed, so the
/// surviving blob keeps the consumer's name.
pub fn absorb(g: &mut Graph, i: usize, j: usize) {
    g.layers[i].tops[0] = g.layers[j].tops[0];
    remove(g, j);
}

pub fn blob_name(g: &Graph, b: usize) -> &str {
    &g.blobs[b].name
}

/// A weight array's values as float32, for reading.
pub fn weight_f32(layer: &Layer, name: &str) -> Option<Vec<f32>> {
    let w = layer.weight(name)?;
    w.data.is_float().then(|| w.data.to_f32())
}

/// A float weight array for in-place edits: fp16 or codebook storage is decoded to float32
/// first (ncnn's loader does the same; the driver sets the output storage at the end).
pub fn weight_f32_mut<'a>(layer: &'a mut Layer, name: &str) -> Option<&'a mut Vec<f32>> {
    let w = layer.weight_mut(name)?;
    if !w.data.is_float() {
        return None;
    }
    if !matches!(w.data, WeightData::F32(_)) {
        w.data = WeightData::F32(w.data.to_f32());
    }
    match &mut w.data {
        WeightData::F32(v) => Some(v),
        _ => None,
    }
}

/// Sets (or replaces) a weight array and puts the layer's arrays back in the order its
/// params say the loader reads them.
pub fn set_weight(layer: &mut Layer, name: &'static str, tagged: bool, values: Vec<f32>) {
    let data = WeightData::F32(values);
    match layer.weight_mut(name) {
        Some(w) => w.data = data,
        None => layer.weights.push(Weight { name, tagged, data }),
    }
    if let Ok(slots) = Graph::weight_slots(layer) {
        let order = |w: &Weight| slots.iter().position(|s| s.name == w.name).unwrap_or(usize::MAX);
        layer.weights.sort_by_key(order);
    }
}

pub fn int_param(layer: &Layer, id: u32, default: i32) -> i32 {
    layer.params.int(id, default)
}

pub fn float_param(layer: &Layer, id: u32, default: f32) -> f32 {
    layer.params.float(id, default)
}

pub fn set_int(layer: &mut Layer, id: u32, v: i32) {
    layer.params.set(id, ParamValue::Int(v));
}

/// An int parameter as the layer reads it, following ncnn's default chain (`kernel_h` defaults
/// to `kernel_w`, `pad_bottom` to `pad_top`, …).
pub fn effective_int(layer: &Layer, id: u32) -> i32 {
    let written = || layer.params.int(id, 0);
    match layer.spec() {
        Some(spec) => {
            crate::model::layer_spec::effective(spec, &layer.params, id).and_then(|v| v.as_int()).unwrap_or(0)
        }
        None => written(),
    }
}
