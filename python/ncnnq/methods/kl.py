"""ncnn2table's ``kl`` threshold: minimize KL(reference ‖ 128-level quantized) over thresholds
T = 128..2047 of a 2048-bin |activation| histogram (quantization.md §5.1), for all T at once.

ncnn builds, for each T, the quantized distribution bin by bin. Its 128 buckets have constant
density inside them, so a bin wholly inside bucket b contributes ``ref_j · ln(EPS + Q_b)`` and
those contributions sum by prefix sums of ``ref``; only the (at most 127) bins cut by a bucket edge
need their own mixed density. That makes each T cost O(128) instead of O(T). Same arithmetic as
ncnn's fractional-bin code, in float64 instead of float32.
"""

from __future__ import annotations

import numpy as np

from .histogram import NCNN_BINS

TARGET_BINS = 128
EPS = 0.0001
THRESHOLDS = np.arange(TARGET_BINS, NCNN_BINS)


def kl_divergences(p: np.ndarray) -> np.ndarray:
    """KL(T) for T = 128..2047, given the normalized histogram ``p`` (sums to 1)."""
    cum = np.concatenate([[0.0], np.cumsum(p)])
    ref = EPS + p
    ref_cum = np.concatenate([[0.0], np.cumsum(ref)])
    xlogx_cum = np.concatenate([[0.0], np.cumsum(ref * np.log(ref))])
    t = THRESHOLDS
    width = t / TARGET_BINS
    edges = np.arange(TARGET_BINS + 1)[None, :] * width[:, None]  # bucket edges, in bins
    c_edges = np.interp(edges, np.arange(NCNN_BINS + 1), cum)
    density = np.diff(c_edges, axis=1) / width[:, None]  # ncnn's Q: bucket mass / width
    log_q = np.log(EPS + density)

    lo = np.ceil(edges[:, :-1]).astype(np.int64)
    hi = np.floor(edges[:, 1:]).astype(np.int64)
    hi[:, -1] = t  # the last edge is T itself
    inside = np.where(hi > lo, ref_cum[np.maximum(hi, lo)] - ref_cum[lo], 0.0)
    cross = (log_q * inside).sum(axis=1)

    edge = edges[:, 1:-1]  # inner bucket edges; a non-integer one cuts bin floor(edge)
    cut_bin = np.floor(edge).astype(np.int64)
    frac = edge - cut_bin
    cut = frac > 0
    mixed = EPS + frac * density[:, :-1] + (1 - frac) * density[:, 1:]
    cross += np.where(cut, ref[np.minimum(cut_bin, NCNN_BINS - 1)] * np.log(np.where(cut, mixed, 1.0)), 0.0).sum(axis=1)

    # The reference folds the mass beyond T into bin T-1 (inside the last bucket).
    tail = cum[-1] - cum[t]
    cross += tail * log_q[:, -1]
    last = ref[t - 1] + tail
    return xlogx_cum[t - 1] + last * np.log(last) - cross


def kl_threshold_bin(histogram: np.ndarray) -> int | None:
    """The T (128..2047) with the smallest divergence; the smallest T wins ties. None when the
    histogram is empty (all-zero input)."""
    h = np.asarray(histogram, dtype=np.float64)
    if h.size != NCNN_BINS:
        raise ValueError(f"expected a {NCNN_BINS}-bin histogram, got {h.size}")
    total = h.sum()
    if total <= 0:
        return None
    return int(THRESHOLDS[int(np.argmin(kl_divergences(h / total)))])


def kl_threshold(histogram: np.ndarray, absmax: float) -> float | None:
    """ncnn's threshold (T + 0.5)·absmax/2048, or None for an empty histogram."""
    t = kl_threshold_bin(histogram)
    return None if t is None else (t + 0.5) * absmax / NCNN_BINS
