//! Concat without copies: the producers of a channel Concat write their outputs straight into
//! the Concat's output, at their channel offsets, so the Concat itself moves no data (in
//! squeezenet every fire module's two expand convolutions feed one; the copies were ~3 % of an
//! fp32 run and 4–6 % of an int8 one by per-layer minimums, and the producers' own blobs went
//! through the cache a second time).
//!
//! A group is planned when the net is built: a Concat on the channel axis (`axis` 0 or -3) whose
//! bottoms come from distinct single-top layers that can write into a buffer
//! ([`Op::top_channels`]: the convolutions that write floats, fp32 ones and int8 ones that
//! de-scale, as ncnn2int8 leaves those before a Concat; a requantized int8 top is no Concat input,
//! and the executor's refusal of it stays). It is used in a run when, at its first producer
//! (file order), every part blob's only reader in this run is the Concat, no observer wants a
//! part, and that producer's output is 3-D ([`Op::top_shape`]); the Concat's output (that width
//! and height, the parts' channels summed) is allocated then. A later part whose output turns out
//! to differ runs normally: copied in when its shape fits, otherwise the Concat's error.

use crate::base::{alloc, Shape, Tensor, TensorData};
use crate::error::{Error, Result};
use crate::layers::{Context, Op};
use crate::model::Graph;
use std::sync::Arc;

#[cfg(test)]
mod tests;

#[cfg(test)]
thread_local! {
    /// Parts written in place on this thread (tests check the path ran).
    static IN_PLACE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One Concat whose producers write into its output.
struct Group {
    concat: usize,
    /// The part blobs, in the Concat's bottom order.
    blobs: Vec<usize>,
    /// Channels of each part.
    channels: Vec<usize>,
    /// The first producer in file order: where the group is decided for a run.
    first: usize,
}

/// What a layer is in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Other,
    /// Writes part `index` of group `group`.
    Part {
        group: usize,
        index: usize,
    },
    /// The Concat of group `group`.
    Concat {
        group: usize,
    },
}

/// The groups of one net.
pub(super) struct Plan {
    groups: Vec<Group>,
    roles: Vec<Role>,
}

impl Plan {
    pub fn new(graph: &Graph, ops: &[Arc<dyn Op>]) -> Plan {
        let mut roles = vec![Role::Other; graph.layers.len()];
        let mut groups = Vec::new();
        for (ci, layer) in graph.layers.iter().enumerate() {
            if layer.type_name != "Concat" || layer.tops.len() != 1 || layer.bottoms.len() < 2 {
                continue;
            }
            if !matches!(layer.params.int(0, 0), 0 | -3) {
                continue;
            }
            let parts: Option<Vec<(usize, usize)>> = layer
                .bottoms
                .iter()
                .map(|&b| {
                    let p = graph.blobs[b].producer?;
                    let single = graph.layers[p].tops.len() == 1 && p < ci && roles[p] == Role::Other;
                    single.then(|| ops[p].top_channels().map(|c| (p, c)))?
                })
                .collect();
            let Some(parts) = parts else { continue };
            let mut producers: Vec<usize> = parts.iter().map(|&(p, _)| p).collect();
            producers.sort_unstable();
            producers.dedup();
            if producers.len() != parts.len() {
                continue;
            }
            let group = groups.len();
            for (index, &(p, _)) in parts.iter().enumerate() {
                roles[p] = Role::Part { group, index };
            }
            roles[ci] = Role::Concat { group };
            groups.push(Group {
                concat: ci,
                blobs: layer.bottoms.clone(),
                channels: parts.iter().map(|&(_, c)| c).collect(),
                first: producers[0],
            });
        }
        Plan { groups, roles }
    }

    /// The Concat layer of `group`.
    pub fn concat_of(&self, group: usize) -> usize {
        self.groups[group].concat
    }

    pub fn role(&self, node: usize) -> Role {
        self.roles[node]
    }

    /// Empty run state: no group in use yet.
    pub fn start(&self) -> Vec<Option<Pending>> {
        self.groups.iter().map(|_| None).collect()
    }

    /// At part `node` of `group`: whether the group is used in this run, and if so its output
    /// buffer: int8 when the Concat is in an int8 chain, whose parts requantize with `int8`.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &self,
        group: usize,
        node: usize,
        op: &dyn Op,
        bottoms: &[Arc<Tensor>],
        ctx: &Context,
        run: &RunState,
        int8: Option<f32>,
    ) -> Option<Pending> {
        let g = &self.groups[group];
        if node != g.first || !run.needed[g.concat] || g.blobs.iter().any(|&b| run.readers[b] != 1 || (run.wanted)(b)) {
            return None;
        }
        let first = op.top_shape(bottoms, ctx).filter(|s| s.dims == 3)?;
        let (w, h) = (first.w, first.h);
        let mut offsets = Vec::with_capacity(g.channels.len());
        let mut total = 0usize;
        for &c in &g.channels {
            offsets.push(total);
            total = total.checked_add(c)?;
        }
        let len = alloc::count(&[total, w, h]).ok()?;
        // SAFETY: every part writes its channels before the Concat hands the buffer on, which it
        // checks ([`Pending::finish`]); a failed run drops the buffer unread.
        let buf = unsafe {
            match int8 {
                None => Buffer::F32(alloc::unwritten(len).ok()?),
                Some(s) => Buffer::I8(alloc::unwritten(len).ok()?, s),
            }
        };
        Some(Pending {
            buf,
            w,
            h,
            total,
            channels: g.channels.clone(),
            offsets,
            written: vec![false; g.channels.len()],
        })
    }
}

/// What [`Plan::decide`] needs of the run.
pub(super) struct RunState<'a> {
    /// The layers this run computes.
    pub needed: &'a [bool],
    /// Each blob's readers left in this run.
    pub readers: &'a [usize],
    /// Whether an observer wants a blob.
    pub wanted: &'a dyn Fn(usize) -> bool,
}

/// A group's output: floats, or int8 requantized with the scale beside it.
enum Buffer {
    F32(Vec<f32>),
    I8(Vec<i8>, f32),
}

/// A group's output while its parts are being written.
pub(super) struct Pending {
    buf: Buffer,
    w: usize,
    h: usize,
    total: usize,
    channels: Vec<usize>,
    offsets: Vec<usize>,
    written: Vec<bool>,
}

impl Pending {
    /// Runs part `index`'s layer into its channels. `concat` names the Concat for its error.
    pub fn write(
        &mut self,
        index: usize,
        op: &dyn Op,
        bottoms: Vec<Arc<Tensor>>,
        ctx: &Context,
        concat: &Context,
    ) -> Result<()> {
        let (w, h, c) = (self.w, self.h, self.channels[index]);
        let expect = Shape::d3(w, h, c);
        let at = self.offsets[index] * w * h..(self.offsets[index] + c) * w * h;
        if op.top_shape(&bottoms, ctx) == Some(expect) {
            match &mut self.buf {
                Buffer::F32(v) => op.forward_into(bottoms, ctx, &mut v[at])?,
                Buffer::I8(v, s) => op.forward_into_i8(bottoms, ctx, *s, &mut v[at])?,
            }
            #[cfg(test)]
            IN_PLACE.with(|n| n.set(n.get() + 1));
        } else {
            // Not a shape this op writes in place: run it as usual; its top joins by a copy if it
            // fits, as the Concat would have joined it.
            let tops = match &self.buf {
                Buffer::F32(_) => op.forward(bottoms, ctx)?,
                Buffer::I8(_, s) => op.forward_chained(bottoms, ctx, *s)?,
            };
            let [top] = tops.as_slice() else {
                return Err(Error::layer(
                    ctx.layer,
                    ctx.layer_type,
                    format!("produced {} outputs, expected 1", tops.len()),
                ));
            };
            let fits = top.shape == expect;
            match (&mut self.buf, &top.data) {
                (Buffer::F32(v), TensorData::F32(t)) if fits => v[at].copy_from_slice(t),
                (Buffer::I8(v, _), TensorData::I8(t)) if fits => v[at].copy_from_slice(t),
                _ => {
                    let first = Shape::d3(w, h, self.channels[0]);
                    return Err(concat.shape_error(format!("cannot concat {first} with {} on axis 0", top.shape)));
                }
            }
        }
        self.written[index] = true;
        Ok(())
    }

    /// The Concat's output, once every part is written.
    pub fn finish(self, concat: &Context) -> Result<Tensor> {
        if self.written.iter().any(|&w| !w) {
            return Err(Error::layer(concat.layer, concat.layer_type, "an input was not computed before the Concat"));
        }
        let shape = Shape::d3(self.w, self.h, self.total);
        Ok(match self.buf {
            Buffer::F32(v) => Tensor::new(shape, v),
            Buffer::I8(v, _) => Tensor::new_i8(shape, v),
        })
    }
}
