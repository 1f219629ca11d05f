//! Per-blob activation statistics over a calibration set, collected while the engine runs,
//! parallel across samples (each sample runs whole on one thread, as ncnn2table does) and merged
//! deterministically (max and integer sums only). Memory is bounded by the number of watched
//! blobs, not the number of samples.

use super::histogram::{LinearHistogram, WideningHistogram};
use crate::base::parallel;
use crate::engine::{Net, Observer, Tensor};
use crate::error::{Error, Result};
use crate::kernels::{dispatch, histogram};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

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

/// Running statistics for a fixed set of blobs. At most `threads` samples run at once, each on
/// the thread that hands it in, single-threaded, into a slot of statistics it holds for the whole
/// run; the slots are merged when the result is read: no per-sample allocation, no lock taken
/// per blob, and a merge order that cannot change the result.
pub struct Collector {
    blobs: Vec<usize>,
    /// blob index -> position in `blobs`
    slot_of: Vec<Option<usize>>,
    mode: StatsMode,
    workers: Vec<Mutex<Vec<BlobStats>>>,
    /// Slots no sample holds.
    free: Mutex<Vec<usize>>,
    freed: Condvar,
    samples: AtomicU64,
}

struct WorkerObserver<'a> {
    slot_of: &'a [Option<usize>],
    stats: MutexGuard<'a, Vec<BlobStats>>,
}

impl Observer for WorkerObserver<'_> {
    fn wants(&self, blob: usize) -> bool {
        self.slot_of.get(blob).is_some_and(Option::is_some)
    }

    fn observe(&mut self, blob: usize, tensor: &Tensor) {
        let Some(slot) = self.slot_of[blob] else { return };
        if tensor.is_i8() {
            return;
        }
        self.stats[slot].add(tensor);
    }
}

/// A slot of statistics held by one running sample, returned on drop.
struct Held<'a> {
    collector: &'a Collector,
    slot: usize,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.collector.free.lock().unwrap_or_else(PoisonError::into_inner).push(self.slot);
        self.collector.freed.notify_one();
    }
}

impl Collector {
    /// `threads`: how many samples may run at once.
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
        let threads = threads.max(1);
        let fresh = || (0..blobs.len()).map(|s| BlobStats::new(&mode, s)).collect::<Vec<_>>();
        let workers = (0..threads).map(|_| Mutex::new(fresh())).collect();
        let free = Mutex::new((0..threads).rev().collect());
        Ok(Collector { blobs, slot_of, mode, workers, free, freed: Condvar::new(), samples: AtomicU64::new(0) })
    }

    fn hold(&self) -> Held<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(slot) = free.pop() {
                return Held { collector: self, slot };
            }
            free = self.freed.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Runs one sample whole on this thread, once a slot is free.
    fn run_one(&self, net: &Net, inputs: Vec<(usize, Tensor)>) -> Result<()> {
        let held = self.hold();
        let stats = self.workers[held.slot].lock().unwrap_or_else(PoisonError::into_inner);
        let mut observer = WorkerObserver { slot_of: &self.slot_of, stats };
        parallel::serial(|| net.run_here(inputs, &[], Some(&mut observer))).map(drop)
    }

    /// Runs every sample (its fed blobs) through `net`, up to `threads` at once (with several
    /// samples, on helper threads of this call). On failure, the error of the earliest failing
    /// sample is returned with its position in `samples`. Several threads may call this at once
    /// (e.g. each with the sample it just decoded): together they never run more than `threads`
    /// samples at a time.
    pub fn add_samples(
        &self,
        net: &Net,
        samples: Vec<Vec<(usize, Tensor)>>,
    ) -> std::result::Result<(), (usize, Error)> {
        let n = samples.len();
        let queue = Mutex::new(samples.into_iter().enumerate());
        let errors = Mutex::new(Vec::new());
        let drain = || loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((i, inputs)) = next else { return };
            if let Err(e) = self.run_one(net, inputs) {
                errors.lock().unwrap_or_else(PoisonError::into_inner).push((i, e));
            }
        };
        let helpers = n.min(self.workers.len()).saturating_sub(1);
        std::thread::scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(drain);
            }
            drain();
        });
        if let Some(first) =
            errors.into_inner().unwrap_or_else(PoisonError::into_inner).into_iter().min_by_key(|(i, _)| *i)
        {
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
        self.map_stats(|s| s)
    }

    /// `f` of each watched blob's merged statistics, the blobs shared out between the current
    /// pool's threads (`Net::install`): merging and converting the 65536-bin histograms of every
    /// blob took a tenth of a second on one thread.
    pub fn map_stats<T: Send>(&self, f: impl Fn(BlobStats) -> T + Sync) -> Vec<T> {
        let workers: Vec<_> = self.workers.iter().map(|w| w.lock().unwrap_or_else(PoisonError::into_inner)).collect();
        parallel::map(self.blobs.len(), |slot| {
            let mut merged = BlobStats::new(&self.mode, slot);
            for w in &workers {
                merged.merge(&w[slot]);
            }
            f(merged)
        })
    }
}
