//! Histograms of |activation| for calibration.
//!
//! ncnn's KL needs a 2048-bin histogram over [0, absmax), so it runs the data twice: once for
//! absmax, once to histogram. [`WideningHistogram`] needs one pass: it bins into many fine bins
//! over [0, 2^e) and, when a larger value arrives, doubles the range by merging bin pairs. Since
//! the range is always a power of two, merging gives exactly the counts a direct binning at the
//! wider range would give, so the result does not depend on the order samples arrive in (threads
//! give byte-identical tables). The fine histogram is re-binned to ncnn's 2048 bins afterwards.

use crate::kernels::dispatch;
use crate::kernels::histogram::{self, split_count, MAX_COUNT, SPARE};

/// Fine bins: with the range at most 2·absmax, every one of ncnn's 2048 bins spans >= 16 of them.
pub const FINE_BINS: usize = 1 << 16;
/// ncnn2table's histogram size.
pub const NCNN_BINS: usize = 2048;

#[derive(Debug, Clone)]
pub struct WideningHistogram {
    /// The range is [0, 2^exponent); `None` until a non-zero value arrives.
    exponent: Option<i32>,
    /// Counts since the last spill, bin i being `high[i]·256 + low[i]` (`FINE_BINS`, then the
    /// kernel's scratch bins): the scattered increments touch a byte each, so the bins a tensor
    /// hits stay in the L1 cache (see `kernels::histogram`).
    low: Vec<u8>,
    high: Vec<u16>,
    /// Counts spilled from `low`/`high` before a bin could overflow (empty until then).
    spilled: Vec<u64>,
    /// Values binned into `low`/`high` since the last spill: a bound on every count there.
    pending: u64,
    /// Spill before `pending` would exceed this (`MAX_COUNT`; smaller in tests).
    spill_at: u64,
}

impl PartialEq for WideningHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.exponent == other.exponent && self.counts() == other.counts()
    }
}

impl Default for WideningHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Smallest e with |x| < 2^e.
fn exponent_above(x: f32) -> i32 {
    let mut e = x.log2().floor() as i32 + 1;
    while (e as f32).exp2() <= x {
        e += 1;
    }
    while e > -126 && ((e - 1) as f32).exp2() > x {
        e -= 1;
    }
    e
}

/// Sums groups of `factor` consecutive bins into the first `FINE_BINS` / factor bins.
fn merge_bins(counts: &mut [u64], factor: usize) {
    for i in 0..FINE_BINS {
        let c = std::mem::take(&mut counts[i]);
        counts[i / factor] += c;
    }
}

/// [`merge_bins`] on split counts `high[i]·256 + low[i]` whose sum stays below `MAX_COUNT`.
fn merge_split_bins(low: &mut [u8], high: &mut [u16], factor: usize) {
    for i in 0..FINE_BINS {
        let c = split_count(low, high, i);
        (low[i], high[i]) = (0, 0);
        let to = i / factor;
        let sum = split_count(low, high, to) + c;
        (low[to], high[to]) = (sum as u8, (sum >> 8) as u16);
    }
}

impl WideningHistogram {
    pub fn new() -> Self {
        WideningHistogram {
            exponent: None,
            low: vec![0; FINE_BINS + SPARE],
            high: vec![0; FINE_BINS + SPARE],
            spilled: Vec::new(),
            pending: 0,
            spill_at: MAX_COUNT,
        }
    }

    /// Upper end of the range (0 when empty).
    pub fn range(&self) -> f32 {
        self.exponent.map_or(0.0, |e| (e as f32).exp2())
    }

    /// The `FINE_BINS` counts.
    pub fn counts(&self) -> Vec<u64> {
        let recent = (0..FINE_BINS).map(|i| u64::from(split_count(&self.low, &self.high, i)));
        if self.spilled.is_empty() {
            recent.collect()
        } else {
            recent.zip(&self.spilled).map(|(a, b)| a + b).collect()
        }
    }

    fn spill(&mut self) {
        if self.pending == 0 {
            return;
        }
        if self.spilled.is_empty() {
            self.spilled = vec![0; FINE_BINS];
        }
        for (i, s) in self.spilled.iter_mut().enumerate() {
            *s += u64::from(split_count(&self.low, &self.high, i));
        }
        self.low.fill(0);
        self.high.fill(0);
        self.pending = 0;
    }

    fn widen_to(&mut self, exponent: i32) {
        match self.exponent {
            None => self.exponent = Some(exponent),
            Some(current) if exponent > current => {
                let shift = (exponent - current) as u32;
                let factor = 1usize << shift.min(FINE_BINS.trailing_zeros());
                // Bins merge into lower ones: the sum stays below `pending`, so the split counts hold it.
                merge_split_bins(&mut self.low, &mut self.high, factor);
                if !self.spilled.is_empty() {
                    merge_bins(&mut self.spilled, factor);
                }
                self.exponent = Some(exponent);
            }
            _ => {}
        }
    }

    /// Adds the non-zero |v| of `values`, whose largest magnitude is `absmax` (finite).
    pub fn add(&mut self, values: &[f32], absmax: f32) {
        if absmax == 0.0 {
            return;
        }
        self.widen_to(exponent_above(absmax));
        let e = self.exponent.expect("set by widen_to");
        // A power-of-two scale makes the bin index exact.
        let to_bin = ((FINE_BINS.trailing_zeros() as i32 - e) as f32).exp2();
        for part in values.chunks(self.spill_at as usize) {
            if self.pending + part.len() as u64 > self.spill_at {
                self.spill();
            }
            histogram::bin_nonzero(dispatch::F32.selected(), part, to_bin, &mut self.low, &mut self.high);
            self.pending += part.len() as u64;
        }
    }

    pub fn merge(&mut self, other: &WideningHistogram) {
        let Some(e) = other.exponent else { return };
        if self.exponent.is_none() {
            // Nothing here yet (the first of the merged workers): a copy.
            self.clone_from(other);
            return;
        }
        self.widen_to(e);
        let mut other = other.clone();
        other.widen_to(self.exponent.expect("set"));
        self.spill();
        if self.spilled.is_empty() {
            self.spilled = vec![0; FINE_BINS];
        }
        for (a, b) in self.spilled.iter_mut().zip(other.counts()) {
            *a += b;
        }
    }
}

/// ncnn2table's pass-2 histogram: 2048 bins over [0, absmax), index computed in float32 as
/// ncnn does (`int(|v| / absmax · 2048)`, clamped to 2047).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearHistogram {
    pub absmax: f32,
    pub counts: Vec<u64>,
}

impl LinearHistogram {
    pub fn new(absmax: f32) -> Self {
        LinearHistogram { absmax, counts: vec![0; NCNN_BINS] }
    }

    pub fn add(&mut self, values: &[f32]) {
        if self.absmax == 0.0 {
            return;
        }
        for &v in values {
            if v != 0.0 {
                let i = (v.abs() / self.absmax * NCNN_BINS as f32) as usize;
                self.counts[i.min(NCNN_BINS - 1)] += 1;
            }
        }
    }

    pub fn merge(&mut self, other: &LinearHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(seed: &mut u32) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        (*seed as f32 / u32::MAX as f32 - 0.5) * 7.0
    }

    #[test]
    fn exponent_is_smallest_power_above() {
        assert_eq!(exponent_above(1.0), 1);
        assert_eq!(exponent_above(0.999), 0);
        assert_eq!(exponent_above(3.0), 2);
        assert_eq!(exponent_above(4.0), 3);
        assert_eq!(exponent_above(1e-3), -9);
    }

    #[test]
    fn widening_equals_direct_binning_in_any_order() {
        let mut seed = 7;
        // A third of the values are zeros, as after a ReLU.
        let batches: Vec<Vec<f32>> = (0..6)
            .map(|k| (0..999).map(|i| if i % 3 == 0 { 0.0 } else { xorshift(&mut seed) * (k as f32 + 1.0) }).collect())
            .collect();
        let absmax = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let mut forward = WideningHistogram::new();
        for b in &batches {
            forward.add(b, absmax(b));
        }
        let mut backward = WideningHistogram::new();
        for b in batches.iter().rev() {
            let mut part = WideningHistogram::new();
            part.add(b, absmax(b));
            backward.merge(&part);
        }
        let all: Vec<f32> = batches.concat();
        let mut direct = WideningHistogram::new();
        direct.add(&all, absmax(&all));
        assert_eq!(forward, direct);
        assert_eq!(backward, direct);
        assert_eq!(direct.counts().iter().sum::<u64>(), all.iter().filter(|v| **v != 0.0).count() as u64);
        // Spilling the split counts to u64 (every 250 values here) changes nothing.
        let mut spilling = WideningHistogram { spill_at: 250, ..WideningHistogram::new() };
        for b in &batches {
            spilling.add(b, absmax(b));
        }
        assert!(!spilling.spilled.is_empty());
        assert_eq!(spilling, direct);
        assert_eq!(spilling.counts(), direct.counts());
    }

    #[test]
    fn widening_merges_counts_past_a_byte() {
        // Bins holding more than 256 counts (carried into the high plane) merged by widening:
        // 0.3 and 0.30001 fall in neighbouring bins over [0, 0.5) and in one over [0, 4).
        let narrow: Vec<f32> = [0.3f32; 1000].into_iter().chain([0.300_01; 700]).chain([-0.45; 300]).collect();
        let wide = [3.0f32, 0.3];
        let mut widened = WideningHistogram::new();
        widened.add(&narrow, 0.45);
        widened.add(&wide, 3.0);
        let mut direct = WideningHistogram::new();
        direct.add(&[narrow.as_slice(), &wide].concat(), 3.0);
        assert_eq!(widened.range(), 4.0);
        assert_eq!(widened.counts(), direct.counts());
        assert_eq!(widened.counts().iter().max(), Some(&1701));
    }

    #[test]
    fn linear_histogram_matches_ncnn_indexing() {
        let mut h = LinearHistogram::new(2.0);
        h.add(&[0.0, 2.0, -2.0, 1.0, 0.000_5, -1.999]);
        assert_eq!(h.counts[2047], 2, "absmax itself clamps into the last bin");
        assert_eq!(h.counts[2046], 1);
        assert_eq!(h.counts[1024], 1);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts.iter().sum::<u64>(), 5, "zeros are skipped");
    }
}
