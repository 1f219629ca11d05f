"""``mse``: the clipping threshold that minimizes the expected squared error of quantizing the
activations to 127 symmetric levels, computed from the 2048-bin |activation| histogram.

For a threshold t the error has two parts: values below t are rounded to a grid of step t/127
(uniform noise, step²/12 each), values above t are clipped to t ((|v| - t)² each). Both are
evaluated for every bin edge at once."""

from __future__ import annotations

import numpy as np

from .._native import BlobStats
from .histogram import NCNN_BINS, ncnn_histogram

LEVELS = 127


def mse_threshold(histogram: np.ndarray, absmax: float, min_bin: int = 16) -> float | None:
    h = np.asarray(histogram, dtype=np.float64)
    if h.sum() <= 0 or absmax <= 0:
        return None
    width = absmax / NCNN_BINS
    centers = (np.arange(NCNN_BINS) + 0.5) * width
    t = np.arange(min_bin, NCNN_BINS + 1) * width  # candidate thresholds at bin edges
    below = np.cumsum(h)  # count of bins < k
    # Σ_{bins ≥ k} h (c - t)² = S2 - 2t S1 + t² S0 over the tail
    s0 = h[::-1].cumsum()[::-1]
    s1 = (h * centers)[::-1].cumsum()[::-1]
    s2 = (h * centers**2)[::-1].cumsum()[::-1]
    k = np.arange(min_bin, NCNN_BINS + 1)
    tail0 = np.where(k < NCNN_BINS, s0[np.minimum(k, NCNN_BINS - 1)], 0.0)
    tail1 = np.where(k < NCNN_BINS, s1[np.minimum(k, NCNN_BINS - 1)], 0.0)
    tail2 = np.where(k < NCNN_BINS, s2[np.minimum(k, NCNN_BINS - 1)], 0.0)
    clip = tail2 - 2 * t * tail1 + t**2 * tail0
    inside = below[k - 1] * (t / LEVELS) ** 2 / 12
    return float(t[int(np.argmin(clip + inside))])


def threshold(stats: BlobStats) -> float | None:
    """mse's threshold for one blob's collected statistics."""
    return mse_threshold(ncnn_histogram(stats), float(stats.absmax))
