//! The graph IR shared by the optimizer, the calibrator, the quantizer and the engine: layers in
//! topological (file) order, blobs with one producer each, typed params and weights.

use super::layer_spec::{self, LayerSpec};
use super::param_defaults;
use super::param_dict::ParamDict;
use super::weights::Weight;
use std::collections::HashMap;

/// A blob shape hint (`-23330`): ncnn dims 0..4 and w, h, d, c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobShape {
    pub dims: i32,
    pub w: i32,
    pub h: i32,
    pub d: i32,
    pub c: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub name: String,
    pub producer: Option<usize>,
    pub shape: Option<BlobShape>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub type_name: String,
    pub name: String,
    pub bottoms: Vec<usize>,
    pub tops: Vec<usize>,
    pub params: ParamDict,
    pub weights: Vec<Weight>,
}

impl Layer {
    pub fn spec(&self) -> Option<&'static LayerSpec> {
        layer_spec::lookup(&self.type_name)
    }

    pub fn weight(&self, name: &str) -> Option<&Weight> {
        self.weights.iter().find(|w| w.name == name)
    }

    pub fn weight_mut(&mut self, name: &str) -> Option<&mut Weight> {
        self.weights.iter_mut().find(|w| w.name == name)
    }

    /// Whether the layer's params mark it as int8-quantized (ncnn2int8's flags).
    pub fn is_int8(&self) -> bool {
        let p = &self.params;
        match self.type_name.as_str() {
            "Convolution" | "ConvolutionDepthWise" | "InnerProduct" | "RNN" | "LSTM" | "GRU" => p.int(8, 0) != 0,
            "Embed" | "Gemm" | "MultiHeadAttention" | "SDPA" => p.int(18, 0) != 0,
            _ => false,
        }
    }

    /// Total number of weight values (all arrays).
    pub fn weight_count(&self) -> usize {
        self.weights.iter().map(|w| w.data.len()).sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub layers: Vec<Layer>,
    pub blobs: Vec<Blob>,
    /// Things a user should know that do not stop loading (e.g. a too-large blob count).
    pub warnings: Vec<String>,
    /// Layer names the file used twice, with both lines (see [`Graph::check_unique_layer_names`]).
    pub duplicate_names: Vec<DuplicateName>,
}

/// A layer name given to a second layer in a `.param`: ncnn loads such a file (finding layers
/// by name takes the first), but calibration tables key layers by name, so two layers would share
/// one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateName {
    pub name: String,
    pub file: String,
    pub first_line: usize,
    pub line: usize,
}

/// Built-in ncnn layer types that read nothing from `.bin` but have no parameter table here.
const WEIGHTLESS_BUILTINS: &[&str] = &[
    "Proposal",
    "ROIPooling",
    "SPP",
    "PSROIPooling",
    "ROIAlign",
    "Packing",
    "DeepCopy",
    "StatisticsPooling",
    "Pooling3D",
    "MatMul",
    "Einsum",
    "Fold",
    "Unfold",
    "GridSample",
    "CumulativeSum",
    "CopyTo",
    "Diag",
    "Shrink",
    "SDPA",
    "RotaryEmbed",
];

impl Graph {
    pub fn blob_index(&self, name: &str) -> Option<usize> {
        self.blobs.iter().position(|b| b.name == name)
    }

    pub fn layer_index(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }

    /// Fails, naming every name two layers share (with the file's lines where the codec recorded
    /// them), when layer names are not unique: calibration tables key layers by name, so such a
    /// model cannot be calibrated or quantized without two layers sharing one entry.
    pub fn check_unique_layer_names(&self) -> Result<(), String> {
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut problems = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let Some(&j) = first.get(layer.name.as_str()) else {
                first.insert(&layer.name, i);
                continue;
            };
            let recorded = self.duplicate_names.iter().find(|d| d.name == layer.name);
            problems.push(match recorded {
                Some(d) => format!("{}: lines {} and {} both name a layer '{}'", d.file, d.first_line, d.line, d.name),
                None => format!("layers #{j} and #{i} are both named '{}'", layer.name),
            });
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{}; tables key layers by name, so rename one of each pair before calibrating or quantizing",
            problems.join("; ")
        ))
    }

    /// Layers that read each blob, in layer order.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut consumers = vec![Vec::new(); self.blobs.len()];
        for (i, layer) in self.layers.iter().enumerate() {
            for &b in &layer.bottoms {
                if !consumers[b].contains(&i) {
                    consumers[b].push(i);
                }
            }
        }
        consumers
    }

    /// Indices of the Input layers, in file order.
    pub fn inputs(&self) -> Vec<usize> {
        (0..self.layers.len()).filter(|&i| self.layers[i].type_name == "Input").collect()
    }

    /// Blobs produced but never consumed: the natural outputs of the network.
    pub fn outputs(&self) -> Vec<usize> {
        let consumers = self.consumers();
        (0..self.blobs.len()).filter(|&b| consumers[b].is_empty() && self.blobs[b].producer.is_some()).collect()
    }

    /// Blob names that the writer would emit (referenced by some layer), in first-use order.
    pub fn referenced_blob_count(&self) -> usize {
        let mut seen = vec![false; self.blobs.len()];
        for layer in &self.layers {
            for &b in layer.bottoms.iter().chain(&layer.tops) {
                seen[b] = true;
            }
        }
        seen.iter().filter(|&&s| s).count()
    }

    /// The weight arrays a layer reads from `.bin`, given its params. Errors for layer types
    /// whose weights are unknown (custom layers): their arrays cannot be located in the file.
    pub fn weight_slots(layer: &Layer) -> Result<Vec<layer_spec::WeightSlot>, String> {
        match layer.spec() {
            Some(spec) => spec.weight_slots(&layer.params),
            None if WEIGHTLESS_BUILTINS.contains(&layer.type_name.as_str()) => Ok(Vec::new()),
            None if layer_spec::is_builtin(&layer.type_name) => {
                Err(format!("ncnnq does not know which weights layer type {} reads", layer.type_name))
            }
            None => Err(format!(
                "unknown layer type {} (not an ncnn built-in): its weights cannot be located in the .bin",
                layer.type_name
            )),
        }
    }

    /// Rebuilds `blobs[*].producer` from the layers and checks the single-producer, topological
    /// invariants. Passes call this after rewiring.
    pub fn relink(&mut self) -> Result<(), String> {
        for b in &mut self.blobs {
            b.producer = None;
        }
        for (i, layer) in self.layers.iter().enumerate() {
            for &b in &layer.bottoms {
                if self.blobs[b].producer.is_none() {
                    return Err(format!(
                        "layer '{}' reads blob '{}' before any layer produces it",
                        layer.name, self.blobs[b].name
                    ));
                }
            }
            for &t in &layer.tops {
                if let Some(p) = self.blobs[t].producer {
                    return Err(format!(
                        "blob '{}' is produced by both '{}' and '{}'",
                        self.blobs[t].name, self.layers[p].name, layer.name
                    ));
                }
                self.blobs[t].producer = Some(i);
            }
        }
        Ok(())
    }

    /// Drops blobs no layer references and renumbers the rest (after passes removed layers).
    pub fn compact_blobs(&mut self) {
        let mut used = vec![false; self.blobs.len()];
        for layer in &self.layers {
            for &b in layer.bottoms.iter().chain(&layer.tops) {
                used[b] = true;
            }
        }
        let mut remap = vec![usize::MAX; self.blobs.len()];
        let mut kept = Vec::new();
        for (i, blob) in self.blobs.drain(..).enumerate() {
            if used[i] {
                remap[i] = kept.len();
                kept.push(blob);
            }
        }
        self.blobs = kept;
        for layer in &mut self.layers {
            for b in layer.bottoms.iter_mut().chain(layer.tops.iter_mut()) {
                *b = remap[*b];
            }
        }
    }

    /// Structural equality that ignores how params were spelled (explicit defaults) but not
    /// their values, and compares weights bit for bit.
    pub fn same_as(&self, other: &Graph) -> Result<(), String> {
        if self.layers.len() != other.layers.len() {
            return Err(format!("{} layers vs {}", self.layers.len(), other.layers.len()));
        }
        for (a, b) in self.layers.iter().zip(&other.layers) {
            let names = |g: &Graph, l: &Layer| -> (Vec<String>, Vec<String>) {
                (
                    l.bottoms.iter().map(|&i| g.blobs[i].name.clone()).collect(),
                    l.tops.iter().map(|&i| g.blobs[i].name.clone()).collect(),
                )
            };
            if a.type_name != b.type_name || a.name != b.name || names(self, a) != names(other, b) {
                return Err(format!("layer '{}' differs in type, name or blobs", a.name));
            }
            let pa = param_defaults::normalized(a.spec(), &a.params);
            let pb = param_defaults::normalized(b.spec(), &b.params);
            if !pa.same_bits(&pb) {
                return Err(format!("layer '{}': params differ: {:?} vs {:?}", a.name, pa, pb));
            }
            if a.weights != b.weights {
                return Err(format!("layer '{}': weights differ", a.name));
            }
            for (&ta, &tb) in a.tops.iter().zip(&b.tops) {
                if self.blobs[ta].shape != other.blobs[tb].shape {
                    return Err(format!("blob '{}': shape hints differ", self.blobs[ta].name));
                }
            }
        }
        Ok(())
    }
}

/// Assembles a graph layer by layer with ncnn's blob-naming rules, validating as it goes.
#[derive(Default)]
pub struct GraphBuilder {
    graph: Graph,
    by_name: HashMap<String, usize>,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer whose blobs are given by name. Errors name the offending blob.
    pub fn add_layer(
        &mut self,
        type_name: &str,
        name: &str,
        bottoms: &[String],
        tops: &[String],
        params: ParamDict,
    ) -> Result<usize, String> {
        super::expression::check_layer(type_name, &params, bottoms.len())?;
        let index = self.graph.layers.len();
        let mut bottom_ids = Vec::with_capacity(bottoms.len());
        for b in bottoms {
            match self.by_name.get(b) {
                Some(&id) => bottom_ids.push(id),
                None => {
                    return Err(format!(
                        "bottom blob '{b}' is not produced by any earlier layer (layers must be in topological order)"
                    ))
                }
            }
        }
        let mut top_ids = Vec::with_capacity(tops.len());
        for t in tops {
            if let Some(&id) = self.by_name.get(t) {
                // The producer may be this very layer (a top listed twice), which is not pushed yet.
                let producer = match self.graph.blobs[id].producer {
                    Some(p) if p < index => self.graph.layers[p].name.as_str(),
                    _ => name,
                };
                return Err(format!("top blob '{t}' is already produced by layer '{producer}'"));
            }
            let id = self.graph.blobs.len();
            self.graph.blobs.push(Blob { name: t.clone(), producer: Some(index), shape: None });
            self.by_name.insert(t.clone(), id);
            top_ids.push(id);
        }
        self.graph.layers.push(Layer {
            type_name: type_name.to_string(),
            name: name.to_string(),
            bottoms: bottom_ids,
            tops: top_ids,
            params,
            weights: Vec::new(),
        });
        Ok(index)
    }

    pub fn set_shape(&mut self, blob: usize, shape: BlobShape) {
        self.graph.blobs[blob].shape = Some(shape);
    }

    pub fn layer(&self, index: usize) -> &Layer {
        &self.graph.layers[index]
    }

    pub fn blob_count(&self) -> usize {
        self.graph.blobs.len()
    }

    pub fn warn(&mut self, message: String) {
        self.graph.warnings.push(message);
    }

    /// Records a layer name used again (with a warning): loading goes on, as in ncnn.
    pub fn duplicate_name(&mut self, duplicate: DuplicateName) {
        self.warn(format!(
            "{}:{}: layer name '{}' is already used on line {}; ncnn finds the first by name, and ncnnq will \
             not calibrate or quantize this model",
            duplicate.file, duplicate.line, duplicate.name, duplicate.first_line
        ));
        self.graph.duplicate_names.push(duplicate);
    }

    pub fn finish(self) -> Graph {
        self.graph
    }
}
