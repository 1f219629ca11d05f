//! The calibration table `ncnnq int8` applies.

use std::collections::BTreeMap;

/// A calibration table as ncnn2int8 reads it: `<layer>_param_<k>` weight entries and one
/// activation scale per layer.
#[derive(Debug, Clone, Default)]
pub struct ScaleTable {
    pub weights: BTreeMap<String, Vec<f32>>,
    pub activations: BTreeMap<String, f32>,
}
