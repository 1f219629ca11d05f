"""ncnn2table's ``kl`` threshold: minimize KL(reference ‖ 128-level quantized) over thresholds
T = 128..2047 of a 2048-bin |activation| histogram (quantization.md §5.1), for all T at once.

ncnn builds, for each T, the quantized distribution bin by bin. Its 128 buckets have constant
density inside them, so a bin wholly inside bucket b contributes ``ref_j · ln(EPS + Q_b)`` and
those contributions sum by prefix sums of ``ref``; only the (at most 127) bins cut by a bucket edge
need their own mixed density. That makes each T cost O(128) instead of O(T). Same arithmetic as
ncnn's fractional-bin code, in float64 instead of float32.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt

from .._native import BlobStats
from .histogram import NCNN_BINS, ncnn_histogram

TARGET_BINS = 128
EPS = 0.0001
THRESHOLDS = np.arange(TARGET_BINS, NCNN_BINS)


CHUNK = 240
"""Thresholds evaluated together: their (CHUNK, 129) arrays stay in the L2 cache."""


@functools.cache
def _geometry() -> list[SimpleNamespace]:
    """Everything about the buckets of every T that does not depend on the histogram, in chunks
    of CHUNK thresholds."""
    return [_chunk_geometry(THRESHOLDS[a : a + CHUNK]) for a in range(0, len(THRESHOLDS), CHUNK)]


def _chunk_geometry(t: np.ndarray) -> SimpleNamespace:
    width = t / TARGET_BINS
    edges = np.arange(TARGET_BINS + 1)[None, :] * width[:, None]  # bucket edges, in bins
    # np.interp of the cumulative histogram at the edges, done by hand (same arithmetic: the
    # slope of unit-spaced points times the offset, plus the left value) without its searches.
    seg = np.minimum(np.floor(edges).astype(np.int64), NCNN_BINS - 1)
    lo = np.ceil(edges[:, :-1]).astype(np.int64)
    hi = np.floor(edges[:, 1:]).astype(np.int64)
    hi[:, -1] = t  # the last edge is T itself
    edge = edges[:, 1:-1]  # inner bucket edges; a non-integer one cuts bin floor(edge)
    cut_bin = np.floor(edge).astype(np.int64)
    frac = edge - cut_bin
    return SimpleNamespace(
        t=t,
        width=width[:, None],
        seg=seg,
        offset=edges - seg,
        has_inside=hi > lo,
        inside_hi=np.maximum(hi, lo),
        inside_lo=lo,
        uncut=frac <= 0,
        cut_bin=np.minimum(cut_bin, NCNN_BINS - 1),
        frac=frac,
        one_minus_frac=1 - frac,
    )


def kl_divergences(p: np.ndarray) -> np.ndarray:
    """KL(T) for T = 128..2047, given the normalized histogram ``p`` (sums to 1)."""
    cum = np.concatenate([[0.0], np.cumsum(p)])
    ref = EPS + p
    ref_cum = np.concatenate([[0.0], np.cumsum(ref)])
    xlogx_cum = np.concatenate([[0.0], np.cumsum(ref * np.log(ref))])
    slopes = np.diff(cum)
    return np.concatenate([_chunk_divergences(g, cum, ref, ref_cum, xlogx_cum, slopes) for g in _geometry()])


def _chunk_divergences(
    g: SimpleNamespace,
    cum: npt.NDArray[np.float64],
    ref: npt.NDArray[np.float64],
    ref_cum: npt.NDArray[np.float64],
    xlogx_cum: npt.NDArray[np.float64],
    slopes: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    # np.take rather than fancy indexing, and in-place arithmetic: the same operations in the same
    # order (so the same bits), in half the time.
    t = g.t
    c_edges = np.take(slopes, g.seg)
    c_edges *= g.offset
    c_edges += np.take(cum, g.seg)
    density = np.subtract(c_edges[:, 1:], c_edges[:, :-1])
    density /= g.width  # ncnn's Q: bucket mass / width
    log_q = density + EPS
    np.log(log_q, out=log_q)

    # A bucket with no whole bin inside has inside_hi == inside_lo: its difference is exactly 0.
    inside = np.take(ref_cum, g.inside_hi)
    inside -= np.take(ref_cum, g.inside_lo)
    inside *= log_q
    cross = inside.sum(axis=1)

    mixed = g.frac * density[:, :-1]
    mixed += EPS
    mixed += g.one_minus_frac * density[:, 1:]
    # An edge that cuts no bin gets log(1) = 0, so it adds exactly 0.
    np.copyto(mixed, 1.0, where=g.uncut)
    np.log(mixed, out=mixed)
    mixed *= np.take(ref, g.cut_bin)
    cross += mixed.sum(axis=1)

    # The reference folds the mass beyond T into bin T-1 (inside the last bucket).
    tail = cum[-1] - cum[t]
    cross += tail * log_q[:, -1]
    last = ref[t - 1] + tail
    divergences: npt.NDArray[np.float64] = xlogx_cum[t - 1] + last * np.log(last) - cross
    return divergences


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


def threshold(stats: BlobStats) -> float | None:
    """kl's threshold for one blob's collected statistics."""
    return kl_threshold(ncnn_histogram(stats), float(stats.absmax))
