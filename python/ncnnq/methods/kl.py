"""ncnn2table's ``kl`` threshold: minimize KL(reference ‖ 128-level quantized) over thresholds
T = 128..2047 of a 2048-bin |activation| histogram (quantization.md §5.1), vectorized over T.

Each 128-bucket quantization is expressed through the cumulative distribution: a bucket's value is
its average density (mass over width), and expanding it back spreads that density linearly, so
both steps are interpolations of one cumulative sum. This is ncnn's fractional-bin arithmetic,
done in float64 instead of float32.
"""

from __future__ import annotations

import numpy as np

from .histogram import NCNN_BINS

TARGET_BINS = 128
EPS = 0.0001
_CHUNK = 128


def _kl_for_thresholds(p: np.ndarray, cumulative: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    t = thresholds.astype(np.float64)
    width = t / TARGET_BINS  # bucket width in bins
    # Cumulative mass at every bucket edge (t, 129); bucket mass = its difference.
    bucket_edges = np.arange(TARGET_BINS + 1) * width[:, None]
    c_edges = np.interp(bucket_edges, np.arange(NCNN_BINS + 1), cumulative)
    density = np.diff(c_edges, axis=1) / width[:, None]  # (t, 128)

    j = np.arange(NCNN_BINS + 1, dtype=np.float64)[None, :]  # bin edges 0..2048
    bucket = np.minimum(np.floor(j / width[:, None]).astype(np.int64), TARGET_BINS - 1)
    expanded_cum = np.take_along_axis(c_edges, bucket, axis=1) + (j - bucket * width[:, None]) * np.take_along_axis(
        density, bucket, axis=1
    )
    expanded = EPS + np.diff(expanded_cum, axis=1)  # (t, 2048)

    valid = np.arange(NCNN_BINS)[None, :] < thresholds[:, None]
    reference = EPS + np.where(valid, p[None, :], 0.0)
    tail = cumulative[-1] - cumulative[thresholds]
    reference[np.arange(len(thresholds)), thresholds - 1] += tail
    terms = np.where(valid, reference * np.log(reference / np.where(valid, expanded, 1.0)), 0.0)
    return terms.sum(axis=1)


def kl_threshold_bin(histogram: np.ndarray) -> int | None:
    """The T (128..2047) with the smallest divergence; the smallest T wins ties. None when the
    histogram is empty (all-zero input)."""
    h = np.asarray(histogram, dtype=np.float64)
    total = h.sum()
    if h.size != NCNN_BINS:
        raise ValueError(f"expected a {NCNN_BINS}-bin histogram, got {h.size}")
    if total <= 0:
        return None
    p = h / total
    cumulative = np.concatenate([[0.0], np.cumsum(p)])
    best_t, best_kl = TARGET_BINS, np.inf
    for start in range(TARGET_BINS, NCNN_BINS, _CHUNK):
        thresholds = np.arange(start, min(start + _CHUNK, NCNN_BINS))
        kl = _kl_for_thresholds(p, cumulative, thresholds)
        i = int(np.argmin(kl))
        if kl[i] < best_kl:
            best_t, best_kl = int(thresholds[i]), float(kl[i])
    return best_t


def kl_threshold(histogram: np.ndarray, absmax: float) -> float | None:
    """ncnn's threshold (T + 0.5)·absmax/2048, or None for an empty histogram."""
    t = kl_threshold_bin(histogram)
    return None if t is None else (t + 0.5) * absmax / NCNN_BINS
