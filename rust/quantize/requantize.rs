//! ncnn2int8's `fuse_requantize` (quantization.md §7.4): a Convolution/ConvolutionDepthWise whose
//! output feeds only int8 convolutions writes int8 directly (+100) with the consumer's scale.

use super::Report;
use crate::model::{Graph, Layer, Weight, WeightData};

fn is_int8_conv(layer: &Layer) -> bool {
    matches!(layer.type_name.as_str(), "Convolution" | "ConvolutionDepthWise") && layer.is_int8()
}

fn bottom_scale(layer: &Layer) -> Option<f32> {
    match &layer.weight("bottom_int8_scale")?.data {
        WeightData::F32(v) => v.first().copied(),
        _ => None,
    }
}

/// The first later layer that reads `blob` as its only bottom.
fn single_consumer(graph: &Graph, after: usize, blob: usize) -> Option<usize> {
    (after + 1..graph.layers.len()).find(|&j| graph.layers[j].bottoms == [blob])
}

fn set_requantized(layer: &mut Layer, scale: f32) {
    let flag = layer.params.int(8, 0);
    layer.params.set_int(8, flag + 100);
    layer.weights.push(Weight { name: "top_int8_scale", tagged: false, data: WeightData::F32(vec![scale]) });
}

pub fn fuse(graph: &mut Graph, report: &mut Report) {
    for i in 0..graph.layers.len() {
        let producer = &graph.layers[i];
        if !is_int8_conv(producer) || producer.params.int(8, 0) > 100 || producer.tops.len() != 1 {
            continue;
        }
        let top = producer.tops[0];
        let Some(j) = single_consumer(graph, i, top) else { continue };
        let consumer = &graph.layers[j];
        let scale = if is_int8_conv(consumer) {
            bottom_scale(consumer)
        } else if consumer.type_name == "Split" {
            // Every branch de-scales the int8 data with its own input scale, so all must equal
            // the scale the producer requantizes with.
            let branches: Option<Vec<f32>> = consumer
                .tops
                .iter()
                .map(|&t| {
                    single_consumer(graph, j, t)
                        .map(|k| &graph.layers[k])
                        .filter(|l| is_int8_conv(l))
                        .and_then(bottom_scale)
                })
                .collect();
            match branches {
                Some(s) if !s.is_empty() && s.iter().all(|v| v.to_bits() == s[0].to_bits()) => Some(s[0]),
                Some(s) if !s.is_empty() => {
                    report.warnings.push(format!(
                        "{}: not requantized: the branches after split {} use different input scales {:?}",
                        graph.layers[i].name, consumer.name, s
                    ));
                    None
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(s) = scale {
            set_requantized(&mut graph.layers[i], s);
            report.requantized.push(graph.layers[i].name.clone());
        }
    }
}
