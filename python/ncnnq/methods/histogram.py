"""Turning collected histograms into ncnn2table's 2048-bin histogram over [0, absmax)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._native import BlobStats

NCNN_BINS = 2048


def rebin(counts: npt.ArrayLike, hist_range: float, absmax: float, bins: int = NCNN_BINS) -> npt.NDArray[np.float64]:
    """Re-bins fine counts over [0, hist_range) into ``bins`` equal bins over [0, absmax),
    assuming a uniform density inside each fine bin. With hist_range <= 2·absmax and 65536 fine
    bins, every output bin spans at least 16 fine bins, so only the split edge bins are estimated."""
    counts = np.asarray(counts, dtype=np.float64)
    if absmax <= 0 or hist_range <= 0 or counts.sum() == 0:
        return np.zeros(bins)
    fine_edges = np.linspace(0.0, hist_range, counts.size + 1)
    cumulative = np.concatenate([[0.0], np.cumsum(counts)])
    edges = np.linspace(0.0, absmax, bins + 1)
    out: npt.NDArray[np.float64] = np.diff(np.interp(edges, fine_edges, cumulative))
    # ncnn clamps |v| == absmax into the last bin; the mass at or above absmax belongs there too.
    out[-1] += cumulative[-1] - np.interp(absmax, fine_edges, cumulative)
    return out


def ncnn_histogram(stats: BlobStats) -> npt.NDArray[np.float64]:
    """ncnn2table's 2048-bin |activation| histogram over [0, absmax): the one its second pass
    collected (``two_pass``), or the one-pass widening histogram re-binned."""
    if stats.linear is not None:
        return np.asarray(stats.linear, dtype=np.float64)
    if stats.histogram is None or stats.histogram_range is None:
        raise ValueError("these statistics hold no histogram (collected in absmax mode)")
    return rebin(stats.histogram, float(stats.histogram_range), float(stats.absmax), NCNN_BINS)
