//! The network probe: an fp32 model run with a chosen set of its quantizable layers int8, exactly
//! as the int8 file `ncnnq int8` writes for that set runs in ncnnq's engine (see the module docs
//! of [`crate::probe`]).

use super::op_cache::OpCache;
use crate::base::parallel::Pool;
use crate::engine::{thread_pool, Net};
use crate::error::{Error, Result};
use crate::model::weights::store_as;
use crate::model::{bin_file, Graph, Layer, Storage, Weight, WeightData};
use crate::quantize::{self, Report, ScaleTable, CALIBRATED};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// Which layers are int8, with which scales and overrides.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    pub table: &'a ScaleTable,
    /// The quantizable layers to make int8 (the others keep float, as if their table lines were
    /// commented out); `None`: every layer the table covers.
    pub int8: Option<&'a [String]>,
    /// int8 weights replacing what the table's scales give, per layer (e.g. learned rounding).
    pub weights: &'a BTreeMap<String, Vec<i8>>,
    /// Biases replacing the layer's fp32 bias, per layer (e.g. bias correction).
    pub biases: &'a BTreeMap<String, Vec<f32>>,
}

pub struct NetworkProbe {
    graph: Graph,
    storage: Storage,
    pool: Arc<Pool>,
    ops: Mutex<OpCache>,
}

fn table_layer(key: &str) -> &str {
    key.rsplit_once("_param_").map_or(key, |(layer, _)| layer)
}

impl NetworkProbe {
    /// `graph` is the fp32 model (with its weights); `storage` how the int8 file stores float
    /// arrays (`F16` as `ncnnq int8` does by default, `F32` with `--fp32`).
    pub fn new(graph: Graph, storage: Storage, threads: usize) -> Result<NetworkProbe> {
        bin_file::check_weights(&graph)?;
        if let Some(l) = graph.layers.iter().find(|l| CALIBRATED.contains(&l.type_name.as_str()) && l.is_int8()) {
            return Err(Error::layer(&l.name, &l.type_name, "is already int8: the network probe takes the fp32 model"));
        }
        let ops = Mutex::new(OpCache::new(graph.layers.len(), storage));
        Ok(NetworkProbe { graph, storage, pool: thread_pool(threads)?, ops })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The table restricted to the chosen layers: the other quantizable layers' entries dropped.
    fn restrict(&self, config: &Config) -> Result<ScaleTable> {
        let Some(chosen) = config.int8 else { return Ok(config.table.clone()) };
        let t = config.table;
        for name in chosen {
            let l = self.layer(name)?;
            if !CALIBRATED.contains(&l.type_name.as_str()) {
                return Err(Error::layer(
                    name,
                    &l.type_name,
                    "is not quantizable (only Convolution, ConvolutionDepthWise and InnerProduct are int8 in ncnn)",
                ));
            }
            let missing = match (t.weights.contains_key(&format!("{name}_param_0")), t.activations.contains_key(name)) {
                (true, true) => continue,
                (false, true) => "weight scales",
                (true, false) => "activation scale",
                (false, false) => "weight scales and activation scale",
            };
            return Err(Error::layer(name, &l.type_name, format!("cannot be int8: the table has no {missing} for it")));
        }
        let chosen: BTreeSet<&str> = chosen.iter().map(String::as_str).collect();
        let keep = |layer: &str| {
            chosen.contains(layer)
                || !self.graph.layers.iter().any(|l| l.name == layer && CALIBRATED.contains(&l.type_name.as_str()))
        };
        Ok(ScaleTable {
            weights: t
                .weights
                .iter()
                .filter(|(k, _)| keep(table_layer(k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            activations: t.activations.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), *v)).collect(),
        })
    }

    fn layer(&self, name: &str) -> Result<&Layer> {
        self.graph
            .layer_index(name)
            .map(|i| &self.graph.layers[i])
            .ok_or_else(|| Error::input(format!("the model has no layer named {name:?}")))
    }

    /// The int8 graph before its float arrays are stored as the file stores them.
    fn rewrite(&self, config: &Config) -> Result<(Graph, Report)> {
        let (mut g, report) = quantize::quantize(&self.graph, &self.restrict(config)?)?;
        let int8 = |g: &Graph, name: &str| -> Result<usize> {
            let i =
                g.layer_index(name).ok_or_else(|| Error::input(format!("the model has no layer named {name:?}")))?;
            let l = &g.layers[i];
            if !(CALIBRATED.contains(&l.type_name.as_str()) && l.is_int8()) {
                return Err(Error::layer(name, &l.type_name, "is not int8 in this configuration: nothing to override"));
            }
            Ok(i)
        };
        for (name, q) in config.weights {
            let i = int8(&g, name)?;
            let l = &mut g.layers[i];
            let (lname, ltype) = (l.name.clone(), l.type_name.clone());
            let w = l.weight_mut("weight").expect("int8 layers have weights");
            if q.len() != w.data.len() {
                return Err(Error::layer(
                    &lname,
                    &ltype,
                    format!("{} int8 weights given, it has {}", q.len(), w.data.len()),
                ));
            }
            w.data = WeightData::I8(q.clone());
        }
        for (name, b) in config.biases {
            let i = int8(&g, name)?;
            set_bias(&mut g.layers[i], b)?;
        }
        Ok((g, report))
    }

    /// The int8 graph of `config`, as the file `ncnnq int8` writes for it loads (float arrays in
    /// the probe's storage), and the quantizer's report.
    pub fn int8_graph(&self, config: &Config) -> Result<(Graph, Report)> {
        let (mut g, report) = self.rewrite(config)?;
        g.layers.iter_mut().flat_map(|l| l.weights.iter_mut()).for_each(|w| store_as(w, self.storage));
        Ok((g, report))
    }

    /// A net running `config`, built from cached ops where the layers did not change; it shares
    /// the probe's threads.
    pub fn net(&self, config: &Config) -> Result<(Net, Report)> {
        let (g, report) = self.rewrite(config)?;
        let mut cache = self.ops.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ops = g
            .layers
            .iter()
            .zip(&self.graph.layers)
            .enumerate()
            .map(|(i, (layer, original))| cache.op(i, layer, original))
            .collect::<Result<Vec<_>>>()?;
        Ok((Net::from_ops(&g, ops, self.pool.clone()), report))
    }

    /// Built ops the probe holds.
    pub fn cached_ops(&self) -> usize {
        self.ops.lock().unwrap_or_else(std::sync::PoisonError::into_inner).count()
    }

    pub fn storage(&self) -> Storage {
        self.storage
    }
}

/// Replaces (or adds) the fp32 bias of an int8 Convolution, ConvolutionDepthWise or InnerProduct.
fn set_bias(l: &mut Layer, b: &[f32]) -> Result<()> {
    let n = l.params.int(0, 0).max(0) as usize;
    if b.len() != n {
        return Err(Error::layer(&l.name, &l.type_name, format!("{} bias values given, it has {n} outputs", b.len())));
    }
    if let Some(w) = l.weight_mut("bias") {
        w.data = WeightData::F32(b.to_vec());
        return Ok(());
    }
    // The loader reads the bias right after the weights when bias_term is set.
    let term = if l.type_name == "InnerProduct" { 1 } else { 5 };
    l.params.set_int(term, 1);
    let at = l.weights.iter().position(|w| w.name == "weight").map_or(0, |i| i + 1);
    l.weights.insert(at, Weight { name: "bias", tagged: false, data: WeightData::F32(b.to_vec()) });
    Ok(())
}
