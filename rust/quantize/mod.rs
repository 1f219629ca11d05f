//! `ncnnq int8`: ncnn2int8's rewrite of an fp32 graph into the int8 graph real ncnn runs
//! (quantization.md §7): int8 weights and scale arrays per layer, then requantize fusion.
//!
//! Deliberate differences from ncnn2int8, each a fix of a silent failure:
//! - the table is checked against the model first and every problem is reported at once;
//! - a layer is quantized when the table has both its weight and activation entries; a missing
//!   or commented entry keeps only that layer in float (ncnn2int8 stops quantizing every later
//!   layer of the type when a weight entry is missing);
//! - fusing a requantize through a Split requires every branch to de-scale with the scale the
//!   producer requantizes with (ncnn2int8 takes the first branch's and silently mis-scales the
//!   others when they differ);
//! - Gemm's constant B is scanned whole for its absmax (ncnn2int8 scans the first row only);
//! - a Convolution of a 1-D blob is written as the equivalent int8 InnerProduct, because real
//!   ncnn's int8 Convolution misreads 1-D input (`ncnn_workarounds.rs`, which also says why
//!   pnnx's batch-axis Reshapes survive here and not in ncnn2int8's files).

mod ncnn_workarounds;
mod report;
mod requantize;
mod rewrite;
mod table;

pub use report::Report;
pub use table::ScaleTable;

pub use rewrite::{finite_scales, float2int8, int8_weights, CALIBRATED};

use crate::error::{Error, Result};
use crate::model::Graph;

/// Every way `table` does not fit `graph`: unknown layers, wrong counts, non-finite or
/// non-positive scales. Empty when the table can be applied.
pub fn check_table(graph: &Graph, table: &ScaleTable) -> Vec<String> {
    let mut problems = Vec::new();
    let layer_of = |name: &str| graph.layers.iter().find(|l| l.name == name);
    let bad_values = |key: &str, values: &[f32], zero_rows: &[bool], problems: &mut Vec<String>| {
        // ncnn2table writes inf for an all-zero weight row; any scale quantizes it to zeros.
        let bad = values.iter().enumerate().find(|(i, v)| {
            let tolerated = v.is_infinite() && **v > 0.0 && zero_rows.get(*i).copied().unwrap_or(false);
            !tolerated && (!v.is_finite() || **v <= 0.0)
        });
        if let Some((i, v)) = bad {
            problems.push(format!("{key}: scale {v} (value {}) is not a positive finite number", i + 1));
        }
    };
    for (key, values) in &table.weights {
        let Some((name, k)) = key.rsplit_once("_param_") else {
            problems.push(format!("{key}: weight keys look like <layer>_param_<k>"));
            continue;
        };
        let Some(layer) = layer_of(name) else {
            bad_values(key, values, &[], &mut problems);
            problems.push(format!("{key}: the model has no layer named {name:?}"));
            continue;
        };
        bad_values(key, values, &rewrite::zero_rows(layer, k, values.len()), &mut problems);
        match rewrite::expected_weight_scales(layer, k) {
            Ok(Some(n)) if n != values.len() => problems.push(format!(
                "{key}: {} scales, but layer {name} ({}) needs {n}",
                values.len(),
                layer.type_name
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("{key}: {e}")),
        }
    }
    for (name, &v) in &table.activations {
        bad_values(name, &[v], &[], &mut problems);
        match layer_of(name) {
            None => problems.push(format!("{name}: the model has no layer named {name:?}")),
            Some(l) if !rewrite::CALIBRATED.contains(&l.type_name.as_str()) => {
                problems.push(format!("{name}: layer type {} takes no activation scale", l.type_name));
            }
            Some(_) => {}
        }
    }
    problems
}

/// Rewrites `graph` into its int8 form. Fails, listing every problem, when the table does not fit
/// or two layers share a name (they would share one table entry).
pub fn quantize(graph: &Graph, table: &ScaleTable) -> Result<(Graph, Report)> {
    graph.check_unique_layer_names().map_err(Error::input)?;
    let problems = check_table(graph, table);
    if !problems.is_empty() {
        return Err(Error::input(format!(
            "the table does not fit the model ({} problem{}):\n  {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  ")
        )));
    }
    crate::model::bin_file::check_weights(graph)?;
    let mut out = graph.clone();
    let mut report = Report::default();
    rewrite::quantize_layers(&mut out, table, &mut report)?;
    requantize::fuse(&mut out, &mut report);
    crate::model::bin_file::check_weights(&out)?;
    Ok((out, report))
}
