"""fp16 weight arrays whose small values a converter flushed to zero.

pnnx writes ncnn weights as fp16 by default (``fp16=1``) and its fp32 → fp16 conversion turns
every value below fp16's smallest normal number (2^-14) into zero. A layer whose weights are
that small (a convolution with a BatchNorm of huge variance folded in: PP-OCRv4's detector head,
95 % of its weights) loses most of them, and real ncnn runs the damaged file without complaint.
The damage leaves a signature no trained array has by itself: many exact zeros, no value below
2^-14 (fp16 would have kept subnormals), and the smallest non-zero magnitude right at 2^-14."""

from __future__ import annotations

import numpy as np

from ._native import Model

FP16_SMALLEST_NORMAL = 2.0**-14
MIN_ZERO_SHARE = 0.05
"""Below this share of exact zeros an array is not reported (pruned or dead weights are rarer)."""
MIN_VALUES = 64


def flushed_fp16_weights(model: Model) -> list[str]:
    """One warning per fp16 weight array of ``model`` that carries the flush signature."""
    warnings = []
    for layer in model.layers:
        storage = dict(layer.weight_storage)
        for name, array in layer.weights.items():
            if storage.get(name) != "fp16" or array.size < MIN_VALUES:
                continue
            magnitudes = np.abs(np.asarray(array, dtype=np.float64)).ravel()
            zeros = float(np.count_nonzero(magnitudes == 0)) / magnitudes.size
            nonzero = magnitudes[magnitudes > 0]
            if zeros < MIN_ZERO_SHARE or nonzero.size == 0:
                continue
            if FP16_SMALLEST_NORMAL <= float(nonzero.min()) < 2 * FP16_SMALLEST_NORMAL:
                warnings.append(
                    f"layer {layer.name!r}: {zeros:.1%} of its fp16 {name} values are zero and none is below fp16's "
                    f"smallest normal ({FP16_SMALLEST_NORMAL:.3g}): the converter flushed its small weights to zero "
                    "(pnnx: convert again with fp16=0)"
                )
    return warnings
