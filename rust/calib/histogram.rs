//! Histograms of |activation| for calibration.
//!
//! ncnn's KL needs a 2048-bin histogram over [0, absmax), so it runs the data twice: once for
//! absmax, once to histogram. [`WideningHistogram`] needs one pass: it bins into many fine bins
//! over [0, 2^e) and, when a larger value arrives, doubles the range by merging bin pairs. Since
//! the range is always a power of two, merging gives exactly the counts a direct binning at the
//! wider range would give, so the result does not depend on the order samples arrive in (threads
//! give byte-identical tables). The fine histogram is re-binned to ncnn's 2048 bins afterwards.

/// Fine bins: with the range at most 2·absmax, every one of ncnn's 2048 bins spans >= 16 of them.
pub const FINE_BINS: usize = 1 << 16;
/// ncnn2table's histogram size.
pub const NCNN_BINS: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub struct WideningHistogram {
    /// The range is [0, 2^exponent); `None` until a non-zero value arrives.
    exponent: Option<i32>,
    counts: Vec<u64>,
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

impl WideningHistogram {
    pub fn new() -> Self {
        WideningHistogram { exponent: None, counts: vec![0; FINE_BINS] }
    }

    /// Upper end of the range (0 when empty).
    pub fn range(&self) -> f32 {
        self.exponent.map_or(0.0, |e| (e as f32).exp2())
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    fn widen_to(&mut self, exponent: i32) {
        match self.exponent {
            None => self.exponent = Some(exponent),
            Some(current) if exponent > current => {
                let shift = (exponent - current) as u32;
                let factor = 1usize << shift.min(usize::BITS - 1);
                let mut merged = vec![0u64; FINE_BINS];
                for (i, c) in self.counts.iter().enumerate() {
                    merged[i / factor] += c;
                }
                self.counts = merged;
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
        // Zeros (half of a ReLU output) are binned into bin 0 and taken out again afterwards:
        // a data-dependent branch per value costs more than the extra increments.
        let mut zeros = 0u64;
        for &v in values {
            let i = (v.abs() * to_bin) as usize;
            self.counts[i.min(FINE_BINS - 1)] += 1;
            zeros += u64::from(v == 0.0);
        }
        self.counts[0] -= zeros;
    }

    pub fn merge(&mut self, other: &WideningHistogram) {
        let Some(e) = other.exponent else { return };
        self.widen_to(e);
        let mut other = other.clone();
        other.widen_to(self.exponent.expect("set"));
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
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
        let batches: Vec<Vec<f32>> =
            (0..6).map(|k| (0..999).map(|_| xorshift(&mut seed) * (k as f32 + 1.0)).collect()).collect();
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
