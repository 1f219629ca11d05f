//! Per-blob activation statistics over a calibration set, collected while the engine runs,
//! rayon-parallel across samples and merged deterministically (max and integer sums only).
//! Memory is bounded by the number of watched blobs, not the number of samples.

use super::histogram::{LinearHistogram, WideningHistogram};
use crate::engine::{Net, Observer, Tensor};
use crate::error::{Error, Result};
use crate::kernels::{dispatch, histogram};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// What to collect.
#[derive(Debug, Clone)]
pub enum StatsMode {
    /// absmax only (aciq; pass 1 of the two-pass kl).
    Absmax,
    /// absmax and a widening histogram in one pass (kl, aciq and eq from one run).
    Histogram,
    /// ncnn's pass 2: a 2048-bin histogram over [0, absmax) with the given absmax per blob.
    Linear(Vec<f32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlobStats {
    pub absmax: f32,
    /// Elements of the blob in one sample (the largest seen).
    pub elements: u64,
    /// NaN or infinite values seen: calibration of this blob is meaningless.
    pub non_finite: u64,
    pub histogram: Option<WideningHistogram>,
    pub linear: Option<LinearHistogram>,
}

impl BlobStats {
    fn new(mode: &StatsMode, slot: usize) -> Self {
        BlobStats {
            absmax: 0.0,
            elements: 0,
            non_finite: 0,
            histogram: matches!(mode, StatsMode::Histogram).then(WideningHistogram::new),
            linear: match mode {
                StatsMode::Linear(absmax) => Some(LinearHistogram::new(absmax[slot])),
                _ => None,
            },
        }
    }

    fn add(&mut self, t: &Tensor) {
        let values = t.f32();
        let (absmax, non_finite) = histogram::absmax(dispatch::F32.selected(), values);
        self.elements = self.elements.max(values.len() as u64);
        self.non_finite += non_finite;
        self.absmax = self.absmax.max(absmax);
        if non_finite > 0 {
            return;
        }
        if let Some(h) = &mut self.histogram {
            h.add(values, absmax);
        }
        if let Some(h) = &mut self.linear {
            h.add(values);
        }
    }

    fn merge(&mut self, other: &BlobStats) {
        self.absmax = self.absmax.max(other.absmax);
        self.elements = self.elements.max(other.elements);
        self.non_finite += other.non_finite;
        if let (Some(a), Some(b)) = (&mut self.histogram, &other.histogram) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (&mut self.linear, &other.linear) {
            a.merge(b);
        }
    }
}

/// Running statistics for a fixed set of blobs. Each rayon worker accumulates into its own slot
/// (locked only while one blob is added, never across a nested parallel call), and the slots are
/// merged when the result is read: no per-sample allocation, and a merge order that cannot change
/// the result.
pub struct Collector {
    blobs: Vec<usize>,
    /// blob index -> position in `blobs`
    slot_of: Vec<Option<usize>>,
    mode: StatsMode,
    workers: Vec<Mutex<Vec<BlobStats>>>,
    samples: AtomicU64,
}

struct WorkerObserver<'a> {
    collector: &'a Collector,
}

impl Observer for WorkerObserver<'_> {
    fn wants(&self, blob: usize) -> bool {
        self.collector.slot_of.get(blob).is_some_and(Option::is_some)
    }

    fn observe(&mut self, blob: usize, tensor: &Tensor) {
        let Some(slot) = self.collector.slot_of[blob] else { return };
        if tensor.is_i8() {
            return;
        }
        // The last slot serves calls from outside a rayon pool.
        let worker = rayon::current_thread_index().unwrap_or(usize::MAX).min(self.collector.workers.len() - 1);
        let mut stats = self.collector.workers[worker].lock().unwrap_or_else(PoisonError::into_inner);
        stats[slot].add(tensor);
    }
}

impl Collector {
    /// `threads`: the size of the rayon pool the samples will run on.
    pub fn new(net: &Net, blobs: Vec<usize>, mode: StatsMode, threads: usize) -> Result<Self> {
        if let StatsMode::Linear(absmax) = &mode {
            if absmax.len() != blobs.len() {
                return Err(Error::input("one absmax per watched blob is needed for the linear histogram"));
            }
        }
        let mut slot_of = vec![None; net.blob_count()];
        for (slot, &b) in blobs.iter().enumerate() {
            if b >= slot_of.len() {
                return Err(Error::input(format!("blob index {b} is out of range")));
            }
            slot_of[b] = Some(slot);
        }
        let fresh = || (0..blobs.len()).map(|s| BlobStats::new(&mode, s)).collect::<Vec<_>>();
        let workers = (0..=threads.max(1)).map(|_| Mutex::new(fresh())).collect();
        Ok(Collector { blobs, slot_of, mode, workers, samples: AtomicU64::new(0) })
    }

    /// Runs every sample (its fed blobs) through `net` in parallel on the current rayon pool.
    /// On failure, the error of the earliest failing sample is returned with its position in
    /// `samples`. Several calls may run at once (from threads that decode the next samples
    /// meanwhile).
    pub fn add_samples(
        &self,
        net: &Net,
        samples: Vec<Vec<(usize, Tensor)>>,
    ) -> std::result::Result<(), (usize, Error)> {
        let n = samples.len();
        let this: &Collector = self;
        let errors: Vec<(usize, Error)> = samples
            .into_par_iter()
            .enumerate()
            .filter_map(|(i, inputs)| {
                let mut observer = WorkerObserver { collector: this };
                net.run_here(inputs, &[], Some(&mut observer)).err().map(|e| (i, e))
            })
            .collect();
        if let Some(first) = errors.into_iter().min_by_key(|(i, _)| *i) {
            return Err(first);
        }
        self.samples.fetch_add(n as u64, Ordering::Relaxed);
        Ok(())
    }

    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    pub fn blobs(&self) -> &[usize] {
        &self.blobs
    }

    /// The merged statistics, one per watched blob.
    pub fn stats(&self) -> Vec<BlobStats> {
        let mut merged: Vec<BlobStats> = (0..self.blobs.len()).map(|s| BlobStats::new(&self.mode, s)).collect();
        for w in &self.workers {
            let w = w.lock().unwrap_or_else(PoisonError::into_inner);
            merged.iter_mut().zip(w.iter()).for_each(|(m, x)| m.merge(x));
        }
        merged
    }
}
