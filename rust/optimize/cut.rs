//! ncnnoptimize's `cutstart`/`cutend` (optimize.md §6.5): keep only the layers between two
//! layers of the input file.
//!
//! ncnn only skips the other layers when writing, which leaves header counts for the whole
//! network and kept layers reading blobs nothing produces, so ncnn cannot load the result. Here
//! the result is a whole model: counts are recomputed by the writer, and each blob the kept part
//! reads but no kept layer produces gets a producer — its Input or MemoryData layer when that is
//! what produced it, else a new Input named after the blob (with the blob's shape when known).

use crate::error::{Error, Result};
use crate::model::{Graph, Layer, ParamDict, ParamValue};
use std::collections::HashSet;

fn input_for(g: &Graph, blob: usize, taken: &HashSet<String>) -> Layer {
    let name = &g.blobs[blob].name;
    let mut layer_name = name.clone();
    while taken.contains(&layer_name) {
        layer_name.push_str("_input");
    }
    let mut params = ParamDict::new();
    if let Some(s) = g.blobs[blob].shape {
        let ids: &[(u32, i32)] = match s.dims {
            1 => &[(0, s.w)],
            2 => &[(0, s.w), (1, s.h)],
            3 => &[(0, s.w), (1, s.h), (2, s.c)],
            _ => &[(0, s.w), (1, s.h), (11, s.d), (2, s.c)],
        };
        for &(id, v) in ids {
            params.set(id, ParamValue::Int(v));
        }
    }
    Layer { type_name: "Input".into(), name: layer_name, bottoms: vec![], tops: vec![blob], params, weights: vec![] }
}

/// Keeps the layers whose index in the input file (`original_index[i]` for layer i of `g`) lies
/// in `start..=end`. Returns the cut graph and a sentence for the report.
pub fn cut(g: &Graph, original_index: &[usize], start: Option<usize>, end: Option<usize>) -> Result<(Graph, String)> {
    let in_range = |i: usize| {
        let o = original_index[i];
        start.is_none_or(|s| o >= s) && end.is_none_or(|e| o <= e)
    };
    let mut keep: Vec<bool> = (0..g.layers.len()).map(in_range).collect();
    if !keep.contains(&true) {
        return Err(Error::input("the cut keeps no layer (every layer in range was fused away)"));
    }

    // Constant and input producers of blobs the kept part reads come along.
    let mut produced = vec![false; g.blobs.len()];
    for (i, layer) in g.layers.iter().enumerate() {
        if keep[i] {
            layer.tops.iter().for_each(|&t| produced[t] = true);
        }
    }
    let mut dangling = Vec::new();
    for (i, layer) in g.layers.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        for &b in &layer.bottoms {
            if produced[b] || dangling.contains(&b) {
                continue;
            }
            match g.blobs[b].producer {
                Some(p) if matches!(g.layers[p].type_name.as_str(), "Input" | "MemoryData") => {
                    keep[p] = true;
                    g.layers[p].tops.iter().for_each(|&t| produced[t] = true);
                }
                _ => dangling.push(b),
            }
        }
    }

    let taken: HashSet<String> = (0..g.layers.len()).filter(|&i| keep[i]).map(|i| g.layers[i].name.clone()).collect();
    let mut out = Graph { blobs: g.blobs.clone(), ..Graph::default() };
    out.layers.extend(dangling.iter().map(|&b| input_for(g, b, &taken)));
    out.layers.extend((0..g.layers.len()).filter(|&i| keep[i]).map(|i| g.layers[i].clone()));
    out.compact_blobs();
    out.relink().map_err(|e| Error::input(format!("the cut leaves an invalid graph: {e}")))?;

    let kept = out.layers.len() - dangling.len();
    let mut note = format!("cut: kept {kept} of {} layers", g.layers.len());
    if !dangling.is_empty() {
        let names: Vec<&str> = dangling.iter().map(|&b| g.blobs[b].name.as_str()).collect();
        note = format!("{note}; new Input layers for {}", names.join(", "));
    }
    Ok((out, note))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{graph, types};
    use super::*;

    const NET: &str =
        "7767517\n5 5\nInput in 0 1 x 0=4 1=4 2=2\nConvolution c1 1 1 x a -23330=5,3,4,4,1,3 0=3 1=1 6=6\n\
        ReLU r1 1 1 a b\nConvolution c2 1 1 b c 0=2 1=1 6=6\nReLU r2 1 1 c y\n";

    #[test]
    fn the_middle_gets_an_input_and_counts() {
        let mut g = graph(NET);
        g.relink().unwrap();
        let idx: Vec<usize> = (0..5).collect();
        let (out, note) = cut(&g, &idx, Some(2), Some(3)).unwrap();
        assert_eq!(types(&out), ["Input", "ReLU", "Convolution"]);
        assert_eq!(out.layers[0].name, "a");
        assert_eq!([0, 1, 2].map(|id| out.layers[0].params.int(id, 0)), [4, 4, 3], "shape from the hint");
        assert_eq!(out.referenced_blob_count(), 3);
        assert!(note.contains("new Input layers for a"), "{note}");
        let text = crate::model::param_text::write(&out).unwrap();
        assert!(text.starts_with("7767517\n3 3\n"), "{text}");
    }

    #[test]
    fn an_input_before_the_cut_comes_along() {
        let mut g = graph(NET);
        g.relink().unwrap();
        let (out, _) = cut(&g, &[0, 1, 2, 3, 4], Some(1), Some(2)).unwrap();
        assert_eq!(types(&out), ["Input", "Convolution", "ReLU"]);
        assert_eq!(out.layers[0].name, "in");
        let (out, _) = cut(&g, &[0, 1, 2, 3, 4], None, Some(0)).unwrap();
        assert_eq!(types(&out), ["Input"]);
    }
}
