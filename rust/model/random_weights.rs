//! Seeded random weights for a `.param` without a `.bin` (ncnn's benchmark architectures), so
//! every architecture can be run and compared.
//!
//! Values are scaled so activations stay of order one through deep networks (fan-in scaled
//! weights, positive BatchNorm variances, small biases); otherwise fp32 comparisons drown in
//! overflow or vanish to zero.

use super::graph::{Graph, Layer};
use super::layer_spec::WeightSlot;
use super::weights::{Weight, WeightData};
use crate::base::alloc;
use crate::error::{Error, Result};

/// Larger arrays point at a broken param rather than a real network.
const MAX_RANDOM_VALUES: usize = 1 << 30;

/// splitmix64: small, fast, and good enough for test weights.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + unit * (hi - lo)
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Number of inputs feeding one output of a weight array, for fan-in scaling.
fn fan_in(layer: &Layer, slot: &WeightSlot) -> usize {
    let p = &layer.params;
    let per_output = |num_output: i32| (slot.count / num_output.max(1) as usize).max(1);
    match (layer.type_name.as_str(), slot.name) {
        (
            "Convolution"
            | "ConvolutionDepthWise"
            | "Convolution1D"
            | "Convolution3D"
            | "ConvolutionDepthWise1D"
            | "ConvolutionDepthWise3D"
            | "InnerProduct"
            | "DeformableConv2D",
            "weight",
        ) => per_output(p.int(0, 0)),
        ("Deconvolution" | "DeconvolutionDepthWise", "weight") => {
            // Each output pixel sums about num_input * k*k / stride^2 terms.
            let stride = (p.int(3, 1) * p.int(13, p.int(3, 1))).max(1) as usize;
            (per_output(p.int(0, 0)) / stride).max(1)
        }
        ("Gemm", "A" | "B") => p.int(9, 1).max(1) as usize,
        ("MultiHeadAttention", _) => p.int(0, 1).max(1) as usize,
        ("RNN" | "LSTM" | "GRU", _) => p.int(0, 1).max(1) as usize,
        ("Embed", _) => 1,
        _ => 1,
    }
}

fn float_values(layer: &Layer, slot: &WeightSlot, rng: &mut Rng) -> Result<Vec<f32>> {
    let n = slot.count;
    let mut fill = |lo: f32, hi: f32| alloc::collect((0..n).map(|_| rng.uniform(lo, hi)));
    match slot.name {
        "var" => fill(0.5, 1.5),
        "slope" if layer.type_name == "BatchNorm" => fill(0.5, 1.5),
        "slope" => fill(0.0, 0.3),
        "mean" => fill(-0.5, 0.5),
        "scale" | "gamma" => fill(0.5, 1.5),
        "bias" | "beta" | "q_bias" | "k_bias" | "v_bias" | "out_bias" | "bias_c" => fill(-0.1, 0.1),
        "pad_values" => fill(-1.0, 1.0),
        "data" | "C" => fill(-1.0, 1.0),
        "weight_int8_scales" | "weight_int8_scale" | "xc_scales" | "hc_scales" | "q_scales" | "k_scales"
        | "v_scales" | "A_int8_scales" => {
            // The matching int8 weights span ±127 for a float range of ±sqrt(3/fan_in).
            let fan = fan_in(layer, &WeightSlot { name: "weight", count: main_weight_len(layer), tagged: true });
            let a = (3.0 / fan as f32).sqrt();
            fill(127.0 / a * 0.9, 127.0 / a * 1.1)
        }
        "bottom_int8_scale" | "top_int8_scale" | "out_scale" | "B_int8_scale" => fill(20.0, 40.0),
        _ => {
            let a = (3.0 / fan_in(layer, slot) as f32).sqrt();
            fill(-a, a)
        }
    }
}

/// The size of the main weight array from params, before weights exist.
fn main_weight_len(layer: &Layer) -> usize {
    let p = &layer.params;
    let size = match layer.type_name.as_str() {
        "InnerProduct" => p.int(2, 0),
        "Embed" => p.int(3, 0),
        _ => p.int(6, p.int(1, 0)),
    };
    size.max(1) as usize
}

fn int8_slot(layer: &Layer, slot: &WeightSlot) -> bool {
    layer.is_int8()
        && slot.tagged
        && matches!(
            slot.name,
            "weight" | "weight_xc" | "weight_hc" | "q_weight" | "k_weight" | "v_weight" | "out_weight" | "A" | "B"
        )
}

/// Fills every layer's weights with seeded random values (replacing any present). The values
/// of a layer depend only on the seed and the layer's name, not on its position.
pub fn fill_random_weights(graph: &mut Graph, seed: u64) -> Result<()> {
    for layer in &mut graph.layers {
        let slots = Graph::weight_slots(layer).map_err(|m| Error::layer(&layer.name, &layer.type_name, m))?;
        let mut rng = Rng::new(seed ^ fnv1a(&layer.name));
        let mut weights = Vec::with_capacity(slots.len());
        for slot in &slots {
            if slot.count > MAX_RANDOM_VALUES {
                return Err(Error::layer(
                    &layer.name,
                    &layer.type_name,
                    format!("{} would hold {} values; refusing to generate that many", slot.name, slot.count),
                ));
            }
            let data = if int8_slot(layer, slot) {
                WeightData::I8(alloc::collect((0..slot.count).map(|_| rng.uniform(-127.0, 127.99).floor() as i8))?)
            } else {
                WeightData::F32(float_values(layer, slot, &mut rng)?)
            };
            weights.push(Weight { name: slot.name, tagged: slot.tagged, data });
        }
        layer.weights = weights;
    }
    Ok(())
}
