"""ncnn2table's ``aciq`` clip (quantization.md §5.2): a Gaussian-tail clip computed from absmax and
the number of values, with ncnn's constants."""

from __future__ import annotations

import math

import numpy as np

from .._native import BlobStats

# Optimal clipping (in standard deviations) for 1..8 bits, as float32 constants in ncnn.
_ALPHA = np.array(
    [0, 1.71063519, 2.15159277, 2.55913646, 2.93620062, 3.28691474, 3.6151146, 3.92403714], dtype=np.float32
)
_GAUSS = 0.175 * (1.0 + math.sqrt(math.pi * math.log(4.0)))


def aciq_clip(absmax: float, count: int, bits: int = 8) -> float:
    """The clip threshold for ``count`` values whose largest magnitude is ``absmax``. ncnn divides
    by zero for count == 1; ncnnq then keeps absmax."""
    if count <= 1:
        return float(absmax)
    std = (absmax * 2.0 * _GAUSS) / math.sqrt(2.0 * math.log(count))
    return float(np.float32(float(_ALPHA[bits - 1]) * std))


def threshold(stats: BlobStats) -> float | None:
    """aciq's threshold for one blob's collected statistics (None for an all-zero blob)."""
    absmax = float(stats.absmax)
    return aciq_clip(absmax, int(stats.elements), 8) if absmax > 0 else None
