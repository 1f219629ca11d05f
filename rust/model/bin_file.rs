//! The `.bin` weight file as a whole: every layer's arrays, in layer order, with no header.

use super::graph::Graph;
use super::weights::{write_weight, BinReader, Storage, Weight};
use crate::error::{Error, Result};

/// Reads every layer's weights from `data` into the graph. The file must hold exactly the
/// arrays the params describe: a short file or trailing bytes are errors naming the layer and
/// byte offset.
pub fn read_weights(graph: &mut Graph, data: &[u8], file: &str) -> Result<()> {
    let mut reader = BinReader::new(data);
    for layer in &mut graph.layers {
        let err = |offset: usize, message: String| Error::Weights {
            file: file.to_string(),
            layer: layer.name.clone(),
            layer_type: layer.type_name.clone(),
            offset: offset as u64,
            message,
        };
        let slots = Graph::weight_slots(layer).map_err(|m| err(reader.offset, m))?;
        let mut weights = Vec::with_capacity(slots.len());
        for slot in slots {
            let start = reader.offset;
            let w = reader
                .read(slot.name, slot.count, slot.tagged)
                .map_err(|m| err(start, format!("{}: {m}", slot.name)))?;
            weights.push(w);
        }
        layer.weights = weights;
    }
    if reader.remaining() != 0 {
        return Err(Error::Weights {
            file: file.to_string(),
            layer: graph.layers.last().map(|l| l.name.clone()).unwrap_or_default(),
            layer_type: graph.layers.last().map(|l| l.type_name.clone()).unwrap_or_default(),
            offset: reader.offset as u64,
            message: format!(
                "{} trailing bytes after the last array: the .bin does not belong to this .param",
                reader.remaining()
            ),
        });
    }
    Ok(())
}

/// Checks that every layer carries exactly the arrays its params say it reads.
pub fn check_weights(graph: &Graph) -> Result<()> {
    for layer in &graph.layers {
        let slots = Graph::weight_slots(layer).map_err(|m| Error::layer(&layer.name, &layer.type_name, m))?;
        let ok = slots.len() == layer.weights.len()
            && slots.iter().zip(&layer.weights).all(|(s, w)| s.count == w.data.len() && s.tagged == w.tagged);
        if !ok {
            let want: Vec<String> = slots.iter().map(|s| format!("{}[{}]", s.name, s.count)).collect();
            let have: Vec<String> = layer.weights.iter().map(|w| format!("{}[{}]", w.name, w.data.len())).collect();
            return Err(Error::layer(
                &layer.name,
                &layer.type_name,
                format!(
                    "weights do not match params: params need {} but the layer holds {}",
                    want.join(", "),
                    have.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Serializes every layer's weights.
pub fn write_weights(graph: &Graph, storage: Storage) -> Result<Vec<u8>> {
    check_weights(graph)?;
    let mut out = Vec::new();
    for layer in &graph.layers {
        for w in &layer.weights {
            write_weight(&mut out, w, storage);
        }
    }
    Ok(out)
}

/// A weight array with its values converted for a layer that computes in float.
pub fn weight_f32(w: &Weight) -> std::borrow::Cow<'_, [f32]> {
    w.data.as_f32()
}
