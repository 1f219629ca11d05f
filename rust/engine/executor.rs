//! Runs a graph: only the layers the requested outputs depend on, in file order, each blob
//! freed after its last reader. A layer that is a blob's last reader receives it by value, so
//! element-wise layers work in place without copying.

use super::concat_in_place::{self, Role, RunState};
use super::int8_chain;
use crate::base::parallel::Pool;
use crate::base::Tensor;
use crate::error::{Error, Result};
use crate::layers::{self, Context, Op};
use crate::model::Graph;
use std::sync::Arc;

/// More worker threads than any machine ncnnq runs on has cores; a larger count is a mistake
/// (spawning 100000 threads takes minutes before failing).
pub const MAX_THREADS: usize = 1024;

/// A thread count from the caller, checked: 1 to [`MAX_THREADS`].
pub fn thread_count(threads: i64) -> Result<usize> {
    match usize::try_from(threads) {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(Error::input(format!("threads must be between 1 and {MAX_THREADS}, not {threads}"))),
    }
}

#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Threads for this net's kernels: the calling thread and `threads - 1` workers.
    pub threads: usize,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions { threads: 1 }
    }
}

struct Node {
    name: String,
    type_name: String,
    bottoms: Vec<usize>,
    tops: Vec<usize>,
    op: Arc<dyn Op>,
}

pub struct Net {
    nodes: Vec<Node>,
    blob_names: Vec<String>,
    producer: Vec<Option<usize>>,
    pool: Arc<Pool>,
    pub(super) concats: concat_in_place::Plan,
    pub(super) chains: int8_chain::Plan,
    /// Whether runs use [`Net::chains`] (tests compare with it off).
    chains_on: bool,
}

/// One pool per thread count for the whole process, made on first use: for the many small
/// objects (layer probes) that would otherwise each start their own threads.
pub fn shared_thread_pool(threads: usize) -> Result<Arc<Pool>> {
    use std::sync::Mutex;
    static POOLS: Mutex<Vec<(usize, Arc<Pool>)>> = Mutex::new(Vec::new());
    let threads = threads.max(1);
    let mut pools = POOLS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, p)) = pools.iter().find(|(t, _)| *t == threads) {
        return Ok(p.clone());
    }
    let pool = thread_pool(threads)?;
    pools.push((threads, pool.clone()));
    Ok(pool)
}

/// A thread pool of `threads` threads (at least one: the caller's, at most [`MAX_THREADS`]) for nets
/// and probes.
pub fn thread_pool(threads: usize) -> Result<Arc<Pool>> {
    thread_count(i64::try_from(threads.max(1)).unwrap_or(i64::MAX))?;
    Pool::new(threads).map(Arc::new).map_err(|e| Error::input(format!("cannot start {threads} threads: {e}")))
}

/// Sees every blob a run computes, as it is produced (calibration statistics, shape inference).
pub trait Observer {
    /// Whether `blob` should be shown to [`Observer::observe`].
    fn wants(&self, blob: usize) -> bool;
    fn observe(&mut self, blob: usize, tensor: &Tensor);
}

impl Net {
    /// Builds every layer's op. A layer type the engine lacks is reported here, naming the layer.
    pub fn new(graph: &Graph, options: &NetOptions) -> Result<Net> {
        let ops = graph.layers.iter().map(|l| layers::build(l).map(Arc::from)).collect::<Result<Vec<_>>>()?;
        Ok(Net::from_ops(graph, ops, thread_pool(options.threads)?))
    }

    /// A net running `ops`, one per layer of `graph` and built from it (ops can be shared between
    /// nets of graphs that differ in other layers, e.g. by the int8 network probe).
    pub fn from_ops(graph: &Graph, ops: Vec<Arc<dyn Op>>, pool: Arc<Pool>) -> Net {
        assert_eq!(ops.len(), graph.layers.len(), "one op per layer");
        let concats = concat_in_place::Plan::new(graph, &ops);
        let chains = int8_chain::Plan::new(graph, &ops);
        let nodes = graph
            .layers
            .iter()
            .zip(ops)
            .map(|(layer, op)| Node {
                name: layer.name.clone(),
                type_name: layer.type_name.clone(),
                bottoms: layer.bottoms.clone(),
                tops: layer.tops.clone(),
                op,
            })
            .collect();
        Net {
            nodes,
            blob_names: graph.blobs.iter().map(|b| b.name.clone()).collect(),
            producer: graph.blobs.iter().map(|b| b.producer).collect(),
            pool,
            concats,
            chains,
            chains_on: true,
        }
    }

    /// Whether runs keep the blobs of int8 chains int8 (`engine::int8_chain`; on by default). The
    /// outputs are the same either way.
    pub fn set_int8_chains(&mut self, on: bool) {
        self.chains_on = on;
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    pub fn blob_index(&self, name: &str) -> Result<usize> {
        self.blob_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::input(format!("the model has no blob named {name:?}")))
    }

    pub fn blob_name(&self, index: usize) -> &str {
        &self.blob_names[index]
    }

    pub fn blob_count(&self) -> usize {
        self.blob_names.len()
    }

    /// Runs `f` on the calling thread with this net's thread pool serving the kernels' parallel
    /// loops (its workers stay hot until `f` returns).
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        self.pool.install(f)
    }

    /// Runs on the calling thread, with this net's thread pool.
    pub fn run(&self, inputs: Vec<(usize, Tensor)>, outputs: &[usize]) -> Result<Vec<Tensor>> {
        self.pool.install(|| self.run_here(inputs, outputs, None))
    }

    /// Runs with the caller's thread pool, if any ([`Net::install`]; none: single-threaded, e.g.
    /// one sample of several that run side by side during calibration).
    pub fn run_here(
        &self,
        inputs: Vec<(usize, Tensor)>,
        outputs: &[usize],
        mut observer: Option<&mut dyn Observer>,
    ) -> Result<Vec<Tensor>> {
        let fed: Vec<usize> = inputs.iter().map(|(b, _)| *b).collect();
        let needed = self.needed_layers(&fed, outputs, observer.as_deref())?;

        let mut readers = vec![0usize; self.blob_names.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            if needed[i] {
                for &b in &node.bottoms {
                    readers[b] += 1;
                }
            }
        }
        for &b in outputs {
            readers[b] += 1;
        }

        let mut blobs: Vec<Option<Arc<Tensor>>> = vec![None; self.blob_names.len()];
        for (b, t) in inputs {
            if let Some(obs) = observer.as_deref_mut() {
                if obs.wants(b) {
                    obs.observe(b, &t);
                }
            }
            blobs[b] = Some(Arc::new(t));
        }

        let mut pending = self.concats.start();
        // With chains off every blob counts as shown, so no region is used.
        let wants =
            |b: usize| !self.chains_on || outputs.contains(&b) || observer.as_deref().is_some_and(|o| o.wants(b));
        let chains = self.chains.start(&fed, wants);
        let chained = |node: usize| self.chains.scale(node, &chains);
        for (i, node) in self.nodes.iter().enumerate() {
            if !needed[i] {
                continue;
            }
            let ctx = Context { layer: &node.name, layer_type: &node.type_name };
            let role = self.concats.role(i);
            let scale = chained(i);
            if let Role::Concat { group } = role {
                if let Some(done) = pending[group].take() {
                    // The parts were written into this output and never stored as blobs.
                    for &b in &node.bottoms {
                        readers[b] -= 1;
                    }
                    let top = done.finish(&ctx)?;
                    store(node.tops[0], Arc::new(top), &readers, &mut blobs, &mut observer);
                    continue;
                }
            }
            let mut bottoms = Vec::with_capacity(node.bottoms.len());
            for &b in &node.bottoms {
                readers[b] -= 1;
                let t = if readers[b] == 0 { blobs[b].take() } else { blobs[b].clone() };
                let t = t.ok_or_else(|| Error::input(format!("blob {:?} was consumed twice", self.blob_names[b])))?;
                if t.is_i8() && !node.op.accepts_int8() && scale.is_none() {
                    return Err(Error::layer(
                        &node.name,
                        &node.type_name,
                        format!(
                            "receives int8 data from blob {:?}, which only int8 convolutions can read",
                            self.blob_names[b]
                        ),
                    ));
                }
                bottoms.push(t);
            }
            let in_context = |e: Error| e.in_context(|| format!("layer '{}' ({}): ", node.name, node.type_name));
            if let Role::Part { group, index } = role {
                if pending[group].is_none() {
                    let wanted = |b: usize| observer.as_deref().is_some_and(|o| o.wants(b));
                    let run = RunState { needed: &needed, readers: &readers, wanted: &wanted };
                    // In an int8 chain the Concat's output is int8, at the scale its parts write.
                    let int8 = chained(self.concats.concat_of(group));
                    pending[group] = self.concats.decide(group, i, &*node.op, &bottoms, &ctx, &run, int8);
                }
                if let Some(p) = pending[group].as_mut() {
                    let concat = &self.nodes[self.concats.concat_of(group)];
                    let concat_ctx = Context { layer: &concat.name, layer_type: &concat.type_name };
                    p.write(index, &*node.op, bottoms, &ctx, &concat_ctx).map_err(in_context)?;
                    continue;
                }
            }
            let tops = match scale {
                Some(s) => {
                    #[cfg(test)]
                    int8_chain::CHAINED.with(|n| n.set(n.get() + 1));
                    node.op.forward_chained(bottoms, &ctx, s)
                }
                None => node.op.forward(bottoms, &ctx),
            }
            .map_err(in_context)?;
            if tops.len() != node.tops.len() {
                return Err(Error::layer(
                    &node.name,
                    &node.type_name,
                    format!("produced {} outputs, expected {}", tops.len(), node.tops.len()),
                ));
            }
            for (&b, t) in node.tops.iter().zip(tops) {
                store(b, t, &readers, &mut blobs, &mut observer);
            }
        }

        outputs
            .iter()
            .map(|&b| {
                let t = blobs[b]
                    .take()
                    .ok_or_else(|| Error::input(format!("blob {:?} was not computed", self.blob_names[b])))?;
                // An output listed twice is shared; the last taker gets the original.
                Ok(Arc::try_unwrap(t).unwrap_or_else(|shared| {
                    let copy = (*shared).clone();
                    blobs[b] = Some(shared);
                    copy
                }))
            })
            .collect()
    }

    /// Marks the layers that must run to produce `outputs` (and blobs the observer wants)
    /// from the fed blobs.
    fn needed_layers(&self, fed: &[usize], outputs: &[usize], observer: Option<&dyn Observer>) -> Result<Vec<bool>> {
        let mut needed = vec![false; self.nodes.len()];
        let mut is_fed = vec![false; self.blob_names.len()];
        for &b in fed {
            is_fed[b] = true;
        }
        let mut stack: Vec<usize> = outputs.to_vec();
        if let Some(obs) = observer {
            stack.extend((0..self.blob_names.len()).filter(|&b| obs.wants(b)));
        }
        while let Some(b) = stack.pop() {
            if is_fed[b] {
                continue;
            }
            let Some(p) = self.producer[b] else {
                return Err(Error::input(format!(
                    "blob {:?} has no producer and was not given as input",
                    self.blob_names[b]
                )));
            };
            if needed[p] {
                continue;
            }
            let node = &self.nodes[p];
            if node.type_name == "Input" {
                return Err(Error::input(format!("input {:?} was not given", self.blob_names[b])));
            }
            needed[p] = true;
            stack.extend(&node.bottoms);
        }
        Ok(needed)
    }
}

/// Shows a computed blob to the observer and keeps it while it has readers left.
fn store(
    b: usize,
    t: Arc<Tensor>,
    readers: &[usize],
    blobs: &mut [Option<Arc<Tensor>>],
    observer: &mut Option<&mut dyn Observer>,
) {
    if let Some(obs) = observer.as_deref_mut() {
        if obs.wants(b) {
            obs.observe(b, &t);
        }
    }
    if readers[b] > 0 {
        blobs[b] = Some(t);
    }
}
