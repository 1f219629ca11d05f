//! The binary `.param.bin` format (formats.md §2): no names, layer types by enum index, params as
//! raw 32-bit words. Scalars and arrays are typed on load from the layer's parameter table.

use super::graph::{BlobShape, Graph, GraphBuilder};
use super::layer_spec::{self, ParamKind, TYPE_INDEX};
use super::param_defaults;
use super::param_dict::{ParamDict, ParamValue, MAX_PARAM_ID, SHAPE_HINT_ID};
use super::param_text::{decode_shape_hints, MAGIC};
use crate::error::{Error, Result};

const END_OF_PARAMS: i32 = -233;

struct Words<'a> {
    data: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl Words<'_> {
    fn err(&self, layer: Option<&str>, message: impl Into<String>) -> Error {
        Error::Param {
            file: self.file.to_string(),
            line: self.pos,
            layer: layer.map(str::to_string),
            message: message.into(),
        }
    }

    fn i32(&mut self, what: &str, layer: Option<&str>) -> Result<i32> {
        let b = self
            .data
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err(layer, format!("file ends while reading {what}")))?;
        self.pos += 4;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn count(&mut self, what: &str, layer: Option<&str>, limit: usize) -> Result<usize> {
        let v = self.i32(what, layer)?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= limit)
            .ok_or_else(|| self.err(layer, format!("{what} {v} is out of range")))
    }
}

pub fn is_binary_param(data: &[u8]) -> bool {
    data.len() >= 4 && i32::from_le_bytes([data[0], data[1], data[2], data[3]]) == MAGIC
}

fn typed_scalar(kind: Option<ParamKind>, bits: i32) -> ParamValue {
    match kind {
        Some(ParamKind::Float) => ParamValue::Float(f32::from_bits(bits as u32)),
        _ => ParamValue::Int(bits),
    }
}

fn typed_array(kind: Option<ParamKind>, words: Vec<i32>) -> ParamValue {
    match kind {
        Some(ParamKind::FloatArray | ParamKind::Float) => {
            ParamValue::FloatArray(words.into_iter().map(|w| f32::from_bits(w as u32)).collect())
        }
        _ => ParamValue::IntArray(words),
    }
}

/// Parses a `.param.bin`. Layers are named `<type>_<index>` and blobs `blob<index>` since the
/// format stores no names.
pub fn parse(data: &[u8], file: &str) -> Result<Graph> {
    let mut r = Words { data, pos: 0, file };
    let magic = r.i32("magic", None)?;
    if magic != MAGIC {
        return Err(r.err(None, format!("bad magic {magic}: not an ncnn .param.bin (expected 7767517)")));
    }
    let layer_count = r.i32("layer count", None)?;
    let blob_count = r.i32("blob count", None)?;
    if layer_count <= 0 || blob_count <= 0 {
        return Err(r.err(None, format!("counts {layer_count} {blob_count}: both must be positive")));
    }
    let blob_count = blob_count as usize;
    if blob_count > data.len() / 4 || layer_count as usize > data.len() / 4 {
        return Err(r.err(None, format!("counts {layer_count} {blob_count} are larger than the file can hold")));
    }
    let mut builder = GraphBuilder::new();
    let mut blob_names: Vec<Option<String>> = vec![None; blob_count];
    let mut custom_types: Vec<String> = Vec::new();
    for index in 0..layer_count as usize {
        let type_index = r.i32("layer type", None)?;
        let type_name = if type_index & 256 != 0 {
            let k = (type_index & 255) as usize;
            while custom_types.len() <= k {
                custom_types.push(format!("Custom{}", custom_types.len()));
            }
            custom_types[k].clone()
        } else {
            TYPE_INDEX
                .get(type_index as usize)
                .ok_or_else(|| r.err(None, format!("layer {index}: unknown layer type index {type_index}")))?
                .to_string()
        };
        let name = format!("{type_name}_{index}");
        let ln = Some(name.as_str());
        let nb = r.count("bottom count", ln, blob_count)?;
        let nt = r.count("top count", ln, blob_count)?;
        let mut bottoms = Vec::with_capacity(nb);
        for _ in 0..nb {
            let b = r.count("bottom blob index", ln, blob_count - 1)?;
            let blob = blob_names[b]
                .clone()
                .ok_or_else(|| r.err(ln, format!("bottom blob {b} is not produced by any earlier layer")))?;
            bottoms.push(blob);
        }
        let mut tops = Vec::with_capacity(nt);
        for _ in 0..nt {
            let t = r.count("top blob index", ln, blob_count - 1)?;
            if blob_names[t].is_some() {
                return Err(r.err(ln, format!("top blob {t} is already produced by an earlier layer")));
            }
            let blob = format!("blob{t}");
            blob_names[t] = Some(blob.clone());
            tops.push(blob);
        }
        let spec = layer_spec::lookup(&type_name);
        let kind_of = |id: u32| spec.and_then(|s| s.param(id)).map(|p| p.kind);
        let mut params = ParamDict::new();
        let mut hints = None;
        loop {
            let key = r.i32("parameter id", ln)?;
            if key == END_OF_PARAMS {
                break;
            }
            let (id, value) = if key <= -23400 {
                let id = -(key + 23400);
                let len = r.count("string length", ln, 255)?;
                let padded = len.div_ceil(4) * 4;
                let bytes = r
                    .data
                    .get(r.pos..r.pos + padded)
                    .ok_or_else(|| r.err(ln, "file ends inside a string parameter"))?;
                let s = String::from_utf8_lossy(&bytes[..len]).trim_end_matches('\0').to_string();
                r.pos += padded;
                (id, ParamValue::Str(s))
            } else if key <= -23300 {
                let id = -(key + 23300);
                let n = r.count("array length", ln, data.len() / 4)?;
                let mut words = Vec::with_capacity(n);
                for _ in 0..n {
                    words.push(r.i32("array element", ln)?);
                }
                (id, typed_array(if id >= 0 { kind_of(id as u32) } else { None }, words))
            } else {
                let bits = r.i32("parameter value", ln)?;
                (key, typed_scalar(if key >= 0 { kind_of(key as u32) } else { None }, bits))
            };
            if !(0..=MAX_PARAM_ID as i32).contains(&id) {
                return Err(r.err(ln, format!("parameter id {id} is out of range 0..31")));
            }
            if id as u32 == SHAPE_HINT_ID {
                if let ParamValue::IntArray(v) = value {
                    hints = Some(v);
                }
                continue;
            }
            params.set(id as u32, value);
        }
        let li = builder.add_layer(&type_name, &name, &bottoms, &tops, params).map_err(|m| r.err(ln, m))?;
        if let Some(h) = hints {
            let tops = builder.layer(li).tops.clone();
            for (blob, shape) in tops.iter().zip(decode_shape_hints(&h, tops.len())) {
                if let Some(s) = shape {
                    builder.set_shape(*blob, s);
                }
            }
        }
    }
    if r.pos != data.len() {
        return Err(r.err(None, format!("{} trailing bytes after the last layer", data.len() - r.pos)));
    }
    let mut graph = builder.finish();
    if graph.blobs.len() != blob_count {
        graph.warnings.push(format!("{file}: header says {blob_count} blobs but the layers use {}", graph.blobs.len()));
    }
    Ok(graph)
}

fn push(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn value_bits(v: &ParamValue) -> Option<i32> {
    match v {
        ParamValue::Int(i) => Some(*i),
        ParamValue::Float(f) => Some(f.to_bits() as i32),
        _ => None,
    }
}

/// Serializes a graph as `.param.bin`. Blob indices follow first appearance as a top, which is
/// what ncnn2mem assigns.
pub fn write(graph: &Graph) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut index_of = vec![usize::MAX; graph.blobs.len()];
    let mut next = 0;
    for layer in &graph.layers {
        for &t in &layer.tops {
            index_of[t] = next;
            next += 1;
        }
    }
    push(&mut out, MAGIC);
    push(&mut out, graph.layers.len() as i32);
    push(&mut out, next as i32);
    for layer in &graph.layers {
        let type_index = layer_spec::type_index(&layer.type_name).ok_or_else(|| {
            Error::layer(&layer.name, &layer.type_name, "custom layer types cannot be written to a binary param")
        })?;
        push(&mut out, type_index as i32);
        push(&mut out, layer.bottoms.len() as i32);
        push(&mut out, layer.tops.len() as i32);
        for &b in layer.bottoms.iter().chain(&layer.tops) {
            push(&mut out, index_of[b] as i32);
        }
        let shapes: Option<Vec<BlobShape>> =
            layer.tops.iter().map(|&t| graph.blobs[t].shape.filter(|s| s.dims != 0)).collect();
        if let Some(shapes) = shapes.filter(|s| !s.is_empty()) {
            push(&mut out, -23300 - SHAPE_HINT_ID as i32);
            push(&mut out, 5 * shapes.len() as i32);
            for s in shapes {
                for v in [s.dims, s.w, s.h, s.d, s.c] {
                    push(&mut out, v);
                }
            }
        }
        for (id, value) in param_defaults::normalized(layer.spec(), &layer.params).iter() {
            let id = id as i32;
            match value {
                ParamValue::IntArray(v) => {
                    push(&mut out, -23300 - id);
                    push(&mut out, v.len() as i32);
                    for &x in v {
                        push(&mut out, x);
                    }
                }
                ParamValue::FloatArray(v) => {
                    push(&mut out, -23300 - id);
                    push(&mut out, v.len() as i32);
                    for &x in v {
                        push(&mut out, x.to_bits() as i32);
                    }
                }
                ParamValue::Str(s) => {
                    push(&mut out, -23400 - id);
                    push(&mut out, s.len() as i32);
                    out.extend_from_slice(s.as_bytes());
                    while out.len() % 4 != 0 {
                        out.push(0);
                    }
                }
                scalar => {
                    push(&mut out, id);
                    push(&mut out, value_bits(scalar).expect("scalar"));
                }
            }
        }
        push(&mut out, END_OF_PARAMS);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_round_trip_keeps_structure_and_values() {
        let text = "7767517\n3 3\nInput data 0 1 data 0=4 1=4 2=3\n\
            Convolution conv 1 1 data c -23330=4,3,4,4,8 0=8 1=3 4=1 5=1 6=216 9=2 -23310=1,1.000000e-01\n\
            Reshape r 1 1 c out 0=-1 6=\"*(0w,0h),-1\"\n";
        let g = super::super::param_text::parse(text, "t.param").unwrap();
        let bin = write(&g).unwrap();
        assert!(is_binary_param(&bin));
        let back = parse(&bin, "t.param.bin").unwrap();
        assert_eq!(back.layers[1].type_name, "Convolution");
        assert_eq!(back.layers[1].params.float_array(10), vec![0.1]);
        assert_eq!(back.layers[2].params.string(6), "*(0w,0h),-1");
        assert_eq!(back.blobs[1].shape, g.blobs[1].shape);
        assert_eq!(write(&back).unwrap(), bin);
        let mut truncated = bin.clone();
        truncated.truncate(bin.len() - 6);
        assert!(parse(&truncated, "t.param.bin").unwrap_err().to_string().contains("file ends"));
    }
}
