//! Which of a layer's params differ from ncnn's defaults: what the writers emit (ncnn's writer
//! omits defaults too) and what two layers must share to behave the same.

use super::layer_spec::{self, LayerSpec, ParamDefault, ParamKind};
use super::param_dict::{ParamDict, ParamValue};

/// Whether `value` equals the parameter's default as the layer reads it.
fn is_default(spec: &LayerSpec, params: &ParamDict, id: u32, value: &ParamValue) -> bool {
    let Some(p) = spec.param(id) else { return false };
    match p.default {
        ParamDefault::Int(d) if p.kind == ParamKind::Int => value.as_int() == Some(d),
        ParamDefault::Float(d) => value.as_float().map(f32::to_bits) == Some(d.to_bits()),
        ParamDefault::SameAs(other) => {
            let reference = layer_spec::effective(spec, params, other).and_then(|v| v.as_int());
            value.as_int().is_some() && value.as_int() == reference
        }
        ParamDefault::Empty => match value {
            ParamValue::IntArray(v) => v.is_empty(),
            ParamValue::FloatArray(v) => v.is_empty(),
            ParamValue::Str(s) => s.is_empty(),
            _ => false,
        },
        _ => false,
    }
}

/// The params a writer emits, in emission order: the layer type's params in its spec's order
/// (`spec` is None for a type ncnnq does not know), then ids the spec does not list.
pub fn emitted<'a>(spec: Option<&LayerSpec>, params: &'a ParamDict) -> Vec<(u32, &'a ParamValue)> {
    let mut out = Vec::new();
    if let Some(spec) = spec {
        for p in spec.params {
            if let Some(v) = params.get(p.id) {
                if !is_default(spec, params, p.id, v) {
                    out.push((p.id, v));
                }
            }
        }
    }
    for (id, v) in params.iter() {
        if spec.is_none_or(|s| s.param(id).is_none()) {
            out.push((id, v));
        }
    }
    out
}

/// The params with defaults dropped: two layers of a type with equal normalized params behave the
/// same in ncnn.
pub fn normalized(spec: Option<&LayerSpec>, params: &ParamDict) -> ParamDict {
    let mut d = ParamDict::new();
    for (id, v) in emitted(spec, params) {
        d.set(id, v.clone());
    }
    d
}
