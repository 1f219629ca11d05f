"""``round``: learned rounding. ncnn2int8 rounds every weight to the nearest int8 step; rounding
some of them the other way can cancel errors in the layer's output. Per output channel, each
int8 weight may take the step below or above w·scale (AdaRound's choice, kept within ncnn's ±127
and, for 3x3 stride-1 convolutions, the ±31 of ncnn's 6-bit rule, or the wider range `best` proved
safe for int8 Winograd); the choice minimizes the squared error of the channel's output against
the fp32 layer, on the int8 inputs the layer really receives (layerwise.py), so it also absorbs
part of the error of the layers before it.

The search is a greedy coordinate descent on the quadratic form of that error (the inputs' Gram
matrix, so a sweep costs O(outputs · rows) whatever the number of positions), in numpy; the probe
then simulates both the nearest and the learned weights and each output channel keeps the one
whose int8 outputs are closer to the fp32 ones on samples the search did not see (positions of
the same image are alike: held-out positions of the fitted images would judge the fit by its
own noise).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .layerwise import LayerInputs

MAX_FLIPS_PER_WEIGHT = 2
MAX_ROUNDS = 32
"""Rounds of the search: each flips at most one weight per output channel; the first rounds take
the largest gains, so capping bounds the time of wide layers at little cost. On squeezenet_v1.1
(125 even-indexed shared images calibrate, the other 125 measure, both ways round) 32 rounds
and 64 gave the same outputs' SQNR (26.9 dB on average) and expected top-1 agreement (97.3 %)."""
HELD_OUT = 4
"""Every HELD_OUT-th sample (position, when they all come from one) is kept out of the search, to
judge it."""


def weight_limits(inputs: LayerInputs, nearest: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
    """Per output channel, the largest |int8 weight| allowed: 127, or for ncnn's 6-bit layers
    (3x3 stride-1 convolutions, which real ncnn may run with int8 Winograd) the largest value
    nearest rounding gives with the table's scales, which is ≤ 31 under ncnn's rule and what
    `best` proved safe when widened."""
    if not inputs.probe.six_bit:
        return np.full(nearest.shape[0], 127.0)
    return np.asarray(np.abs(nearest.astype(np.float64)).max(axis=1), dtype=np.float64)


def search(
    x: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    groups: npt.NDArray[np.int64],
    low: npt.NDArray[np.float64],
    start: npt.NDArray[np.float64],
    movable: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    """Integer weights q, each in {low, low + 1} where ``movable`` (else kept at ``start``),
    starting from ``start``, minimizing Σ_positions (q_o · x_g(o) - target_o)² for each output o:
    x (groups, rows, positions) the inputs, target (outputs, positions), groups[o] the group of
    output o. Steepest descent on the Gram matrix: each round, every output flips the one weight
    that lowers its error most, until none does (at most MAX_ROUNDS rounds).

    A flip moves a weight by d = ±1 (towards its other candidate), changing the error by
    d·(2·grad + d·diag) = 2·d·grad + diag, grad the error's gradient: one multiply-add per
    weight and round, in float32."""
    x32 = x.astype(np.float32)
    gram = np.matmul(x32, np.swapaxes(x32, 1, 2))  # (groups, rows, rows)
    cross = np.empty(start.shape, dtype=np.float32)
    for g in range(x.shape[0]):
        rows = groups == g
        cross[rows] = target[rows].astype(np.float32) @ x32[g].T
    q = start.copy()
    one_group = x.shape[0] == 1
    q32 = q.astype(np.float32)
    grad = (q32 @ gram[0] if one_group else np.einsum("or,ors->os", q32, gram[groups])) - cross
    diag = np.einsum("grr->gr", gram)[groups]
    d = (2.0 * low + 1.0 - 2.0 * q).astype(np.float32)  # +1 at the low candidate, -1 at the high one
    # Entries that may not move never gain; a flip must gain more than rounding noise.
    cost = np.where(movable, diag, np.inf).astype(np.float32) + np.float32(1e-6) * np.maximum(1.0, diag)
    # Outputs are independent: one without an improving flip is done for good. The arrays of the
    # outputs still searching are compacted when a quarter of them has finished.
    active = np.arange(q.shape[0])
    qa, da, ga, ca = q, d, grad, cost
    for _ in range(min(MAX_ROUNDS, q.shape[1] * MAX_FLIPS_PER_WEIGHT)):
        gain = 2.0 * da * ga + ca
        k = np.argmin(gain, axis=1)
        rows = np.arange(len(active))
        improving = gain[rows, k] < 0
        if not improving.any():
            break
        if improving.mean() < 0.75:
            q[active] = qa
            active, qa, da, ga, ca, k = (a[improving] for a in (active, qa, da, ga, ca, k))
            rows, improving = np.arange(len(active)), np.ones(len(active), dtype=bool)
        step = np.where(improving, da[rows, k], np.float32(0.0))
        qa[rows, k] += step
        da[rows, k] = np.where(improving, -da[rows, k], da[rows, k])
        ga += step[:, None] * (gram[0, k] if one_group else gram[groups[active], k])
    q[active] = qa
    return np.asarray(q, dtype=np.float64)


def learned_weights(inputs: LayerInputs, centered: bool = False) -> npt.NDArray[np.int8]:
    """The layer's int8 weights rounded to minimize its output error on the int8-path inputs
    (``centered``: the error left after removing each channel's mean, which bias correction
    removes). Entries outside the layer's limits stay at their nearest rounding."""
    nearest = inputs.nearest()
    limits = weight_limits(inputs, nearest)[:, None]
    scales = inputs.unit_scales[:, None]
    exact = inputs.weights * scales  # w·scale, in int8 steps
    low = np.floor(exact)
    fixed = (low < -limits) | (low + 1 > limits)  # either step would leave the range
    fit = ~held_out(inputs)
    # In accumulator units: q·(x_q + s·c) against s·ws·W·(x + c), c the input shift.
    s, c = inputs.input_scale, inputs.input_shift
    x = inputs.quantized_input[:, :, fit].astype(np.float64) + s * c
    target = (inputs.fp32_preactivation[:, fit] - inputs.bias[:, None] + inputs.weights.sum(axis=1)[:, None] * c)
    target = target * (s * scales)
    if centered:
        x = x - x.mean(axis=2, keepdims=True)
        target = target - target.mean(axis=1, keepdims=True)
    start = nearest.astype(np.float64)
    movable = ~fixed & ((start == low) | (start == low + 1))
    q = search(x, target, inputs.group_of_output, low, start, movable)
    return np.clip(q, -127, 127).astype(np.int8)


def held_out(inputs: LayerInputs) -> npt.NDArray[np.bool_]:
    """The positions the search does not see: those of every HELD_OUT-th sample, or every
    HELD_OUT-th position when there are too few samples."""
    samples = inputs.samples
    if len(np.unique(samples)) >= 2 * HELD_OUT:
        return np.asarray(samples % HELD_OUT == HELD_OUT - 1)
    return np.asarray(np.arange(inputs.int8.columns) % HELD_OUT == 0)
