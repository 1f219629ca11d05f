//! Shape hints (`-23330`) for the blobs that lack one, found by running the engine on zeros
//! (optimize.md §4).
//!
//! As in ncnn, every Input is fed its declared shape and every blob that already has a hint is
//! fed zeros of that shape, so existing hints are sticky and only the missing ones are computed.
//! Only the layers those need are run. When ncnn could not infer (a model with layers it cannot
//! run, an Input without a shape) it changes nothing; so does this, and says why — here "layers
//! it cannot run" are the types the engine does not implement yet.

use crate::engine::{Net, NetOptions, Observer, Shape, Tensor};
use crate::layers;
use crate::model::{BlobShape, Graph, Layer};
use std::collections::BTreeSet;

/// What shape inference did, for the optimize report.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeInference {
    /// Ran; this many blobs got a hint they did not have.
    Inferred { new_hints: usize },
    /// Did not run (or failed); existing hints are kept and none added.
    Skipped { reason: String },
}

fn from_hint(s: &BlobShape) -> Option<Shape> {
    let ext = |v: i32| usize::try_from(v).ok().filter(|&n| n > 0);
    Some(match s.dims {
        1 => Shape::d1(ext(s.w)?),
        2 => Shape::d2(ext(s.w)?, ext(s.h)?),
        3 => Shape::d3(ext(s.w)?, ext(s.h)?, ext(s.c)?),
        4 => Shape::d4(ext(s.w)?, ext(s.h)?, ext(s.d)?, ext(s.c)?),
        _ => return None,
    })
}

fn to_hint(s: &Shape) -> Option<BlobShape> {
    if s.is_empty() {
        // ncnn's extract of an empty Mat gives dims 0: no hint.
        return None;
    }
    let v = |n: usize| i32::try_from(n).ok();
    Some(BlobShape { dims: v(s.dims)?, w: v(s.w)?, h: v(s.h)?, d: v(s.d)?, c: v(s.c)? })
}

/// The shape an Input declares: rank from which of w, h, d, c are set.
fn declared_input(layer: &Layer) -> Option<Shape> {
    let p = &layer.params;
    let [w, h, d, c] = [0, 1, 11, 2].map(|id| usize::try_from(p.int(id, 0)).unwrap_or(0));
    match (w, h, d, c) {
        (w, 0, 0, 0) if w > 0 => Some(Shape::d1(w)),
        (w, h, 0, 0) if w > 0 && h > 0 => Some(Shape::d2(w, h)),
        (w, h, 0, c) if w > 0 && h > 0 && c > 0 => Some(Shape::d3(w, h, c)),
        (w, h, d, c) if w > 0 && h > 0 && d > 0 && c > 0 => Some(Shape::d4(w, h, d, c)),
        _ => None,
    }
}

struct Recorder {
    wanted: Vec<bool>,
    shapes: Vec<Option<Shape>>,
}

impl Observer for Recorder {
    fn wants(&self, blob: usize) -> bool {
        self.wanted[blob]
    }

    fn observe(&mut self, blob: usize, tensor: &Tensor) {
        self.shapes[blob] = Some(tensor.shape);
    }
}

fn skipped(reason: &str) -> ShapeInference {
    ShapeInference::Skipped { reason: format!("{reason}; existing hints are kept, none added") }
}

/// Adds hints to the blobs that have none. The graph must be linked (no removed layers).
pub fn infer(g: &mut Graph) -> ShapeInference {
    let missing: BTreeSet<&str> =
        g.layers.iter().map(|l| l.type_name.as_str()).filter(|t| !layers::is_supported(t)).collect();
    if !missing.is_empty() {
        let list: Vec<&str> = missing.into_iter().collect();
        return skipped(&format!("the engine does not implement {}", list.join(", ")));
    }

    let n = g.blobs.len();
    let mut fed: Vec<Option<Shape>> = vec![None; n];
    for (b, blob) in g.blobs.iter().enumerate() {
        if let Some(hint) = blob.shape.filter(|s| s.dims != 0) {
            match from_hint(&hint) {
                Some(s) => fed[b] = Some(s),
                None => return skipped(&format!("blob {:?} has an unusable shape hint {hint:?}", blob.name)),
            }
        }
    }
    for layer in g.layers.iter().filter(|l| l.type_name == "Input") {
        let Some(&top) = layer.tops.first() else { continue };
        if fed[top].is_none() {
            match declared_input(layer) {
                Some(s) => fed[top] = Some(s),
                None => return skipped(&format!("Input layer {:?} declares no shape", layer.name)),
            }
        }
    }

    let mut wanted = vec![false; n];
    for layer in &g.layers {
        for &t in &layer.tops {
            wanted[t] = g.blobs[t].shape.is_none_or(|s| s.dims == 0);
        }
    }
    if !wanted.contains(&true) {
        return ShapeInference::Inferred { new_hints: 0 };
    }

    // Feed only the blobs the wanted ones depend on: zeros of every hinted blob would be large.
    let mut feed = vec![false; n];
    let mut visited = vec![false; g.layers.len()];
    let mut stack: Vec<usize> = (0..n).filter(|&b| wanted[b]).collect();
    while let Some(b) = stack.pop() {
        if fed[b].is_some() {
            feed[b] = true;
            continue;
        }
        match g.blobs[b].producer {
            Some(p) if !visited[p] => {
                visited[p] = true;
                stack.extend(&g.layers[p].bottoms);
            }
            Some(_) => {}
            None => return skipped(&format!("blob {:?} has no producer", g.blobs[b].name)),
        }
    }

    let net = match Net::new(g, &NetOptions { threads: 1 }) {
        Ok(net) => net,
        Err(e) => return skipped(&format!("the engine cannot build the model ({e})")),
    };
    let inputs: crate::error::Result<Vec<(usize, Tensor)>> =
        (0..n).filter(|&b| feed[b]).filter_map(|b| fed[b].map(|s| Tensor::zeros(s).map(|t| (b, t)))).collect();
    let inputs = match inputs {
        Ok(inputs) => inputs,
        Err(e) => return skipped(&format!("cannot make the zero inputs ({e})")),
    };
    let mut recorder = Recorder { wanted: wanted.clone(), shapes: vec![None; n] };
    // A layer the engine implements only in part must not take the optimizer down with it.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        net.run_here(inputs, &[], Some(&mut recorder as &mut dyn Observer))
    }));
    match run {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return skipped(&format!("the engine failed on zeros ({e})")),
        Err(_) => return skipped("the engine panicked on zeros"),
    }
    let mut new_hints = 0;
    for b in (0..n).filter(|&b| wanted[b]) {
        if let Some(hint) = recorder.shapes[b].as_ref().and_then(to_hint) {
            g.blobs[b].shape = Some(hint);
            new_hints += 1;
        }
    }
    ShapeInference::Inferred { new_hints }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::graph;
    use super::*;

    fn hint(g: &Graph, name: &str) -> Option<BlobShape> {
        g.blobs[g.blob_index(name).unwrap()].shape
    }

    #[test]
    fn hints_come_from_the_engine_and_existing_ones_stick() {
        // The pooling's existing (wrong) hint is fed as is, so the ReLU after it follows it.
        let src = "7767517\n4 4\nInput in 0 1 x 0=8 1=6 2=3\nConvolution conv 1 1 x c 0=4 1=3 6=108\n\
            Pooling pool 1 1 c p -23330=5,3,2,2,1,4 1=2 2=2\nReLU r 1 1 p y\n";
        let mut g = graph(src);
        g.relink().unwrap();
        assert_eq!(infer(&mut g), ShapeInference::Inferred { new_hints: 3 });
        assert_eq!(hint(&g, "x"), Some(BlobShape { dims: 3, w: 8, h: 6, d: 1, c: 3 }));
        assert_eq!(hint(&g, "c"), Some(BlobShape { dims: 3, w: 6, h: 4, d: 1, c: 4 }));
        assert_eq!(hint(&g, "p"), Some(BlobShape { dims: 3, w: 2, h: 2, d: 1, c: 4 }));
        assert_eq!(hint(&g, "y"), hint(&g, "p"));
        assert_eq!(infer(&mut g), ShapeInference::Inferred { new_hints: 0 });
    }

    #[test]
    fn shape_expressions_are_evaluated_on_the_inferred_shapes() {
        let src = "7767517\n3 3\nInput in 0 1 x 0=7 1=3 2=5\nReshape r 1 1 x y 6=\"0w,-1\"\n\
            Reshape b 1 1 y z 12=0 13=0 6=\"1,1,-1,0n\"\n";
        let mut g = graph(src);
        g.relink().unwrap();
        assert_eq!(infer(&mut g), ShapeInference::Inferred { new_hints: 3 });
        assert_eq!(hint(&g, "y"), Some(BlobShape { dims: 2, w: 7, h: 15, d: 1, c: 1 }));
        assert_eq!(hint(&g, "z"), Some(BlobShape { dims: 3, w: 1, h: 1, d: 1, c: 105 }));
    }

    #[test]
    fn skips_like_ncnn_when_it_cannot_run() {
        let no_shape = "7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x y\n";
        let mut g = graph(no_shape);
        let out = infer(&mut g);
        assert!(matches!(&out, ShapeInference::Skipped { reason } if reason.contains("declares no shape")), "{out:?}");
        assert!(g.blobs.iter().all(|b| b.shape.is_none()));

        let custom = "7767517\n2 2\nInput in 0 1 x 0=4\nMyLayer m 1 1 x y -23330=5,1,4,1,1,1\n";
        let mut g = graph(&custom.replace("MyLayer", "ReLU"));
        let before = g.blobs[1].shape;
        g.layers[1].type_name = "MyLayer".into();
        let out = infer(&mut g);
        assert!(matches!(&out, ShapeInference::Skipped { reason } if reason.contains("MyLayer")), "{out:?}");
        assert_eq!(g.blobs[0].shape, None, "no new hint");
        assert_eq!(g.blobs[1].shape, before, "existing hint kept");
    }
}
