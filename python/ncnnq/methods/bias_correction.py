"""``bc``: empirical bias correction. Quantization errors do not average out: rounded weights and
clipped, rounded inputs shift each output channel's mean, and the shift grows layer after layer.
ncnn keeps an int8 layer's bias in fp32, so the shift can be taken back exactly where it arises:
per output channel, the mean of (fp32 − int8) pre-activation outputs, measured on the int8 inputs
the layer really receives (layerwise.py: every earlier layer already int8 and corrected), is added
to the bias.

The mean is taken before the fused activation (the probe simulates the layer without it), where
the error is additive. Past a ReLU, part of that error never shows (outputs clipped to zero
either way), so each channel then keeps the fraction of the correction (0, ½ or all of it) whose
int8 outputs, with the activation, are closest to the fp32 outputs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .layerwise import LayerInputs

FRACTIONS = (0.0, 0.5, 1.0)


def mean_error(inputs: LayerInputs, q: npt.NDArray[np.int8], bias: npt.NDArray[np.float64],
               positions: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.float64]:
    """Per output channel, the mean of fp32 minus int8 pre-activation outputs of the layer with
    int8 weights ``q`` and ``bias`` (over ``positions``, or all)."""
    y = inputs.outputs(q, bias, activation=False)
    d = inputs.fp32_preactivation - y
    if positions is not None:
        d = d[:, positions]
    return np.asarray(d.mean(axis=1))


def corrected_bias(inputs: LayerInputs, q: npt.NDArray[np.int8], bias: npt.NDArray[np.float64]) -> (
    npt.NDArray[np.float64]
):
    """``bias`` with the layer's mean output error moved into it (see the module docs)."""
    shift = mean_error(inputs, q, bias)
    best = bias
    best_error = None
    for fraction in FRACTIONS:
        candidate = bias + fraction * shift
        error = inputs.errors(q, candidate)
        if best_error is None:
            best, best_error = candidate, error
            continue
        better = error < best_error
        best = np.where(better, candidate, best)
        best_error = np.where(better, error, best_error)
    return np.asarray(best)
