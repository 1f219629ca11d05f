"""Weight scales as ncnn2table computes them (quantization.md §4): per output channel for
Convolution and InnerProduct, per group for ConvolutionDepthWise, 31/absmax ("6-bit") for
3x3 stride-1 dilation-1 convolutions; with aciq, absmax replaced by the ACIQ clip.

Where ncnn divides by a zero absmax (an all-zero channel) and writes ``inf`` — which ncnn2int8 then
quantizes to NaN·0 = -127 on x86 — ncnnq writes 1.0: the channel's int8 weights are zero and it
produces its bias, as intended.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._native import Layer
from .aciq import aciq_clip

ZERO_CHANNEL_SCALE = np.float32(1.0)


def int_param(layer: Layer, id: int) -> int:
    """An integer parameter of ``layer`` (its value as written, or ncnn's default)."""
    value = layer.param(id)
    if not isinstance(value, int):
        raise TypeError(f"{layer.name}: param {id} is {value!r}, not an integer")
    return value


def is_winograd_6bit(layer: Layer) -> bool:
    """ncnn quantizes 3x3 stride-1 dilation-1 Convolution weights to ±31 for int8 Winograd."""
    if layer.type != "Convolution":
        return False
    return all(layer.param(i) == v for i, v in [(1, 3), (11, 3), (2, 1), (12, 1), (3, 1), (13, 1)])


def _slices(layer: Layer, weights: np.ndarray) -> np.ndarray:
    rows = int_param(layer, 7 if layer.type == "ConvolutionDepthWise" else 0)  # group, num_output
    return weights.reshape(rows, -1)


def weight_scales(layer: Layer, method: str = "kl") -> npt.NDArray[np.float32]:
    """float32 scales, one per output channel (Convolution, InnerProduct) or group (ConvolutionDepthWise)."""
    w = np.asarray(layer.weights["weight"], dtype=np.float32)
    rows = _slices(layer, w)
    six_bit = is_winograd_6bit(layer)
    qmax = np.float32(31.0 if six_bit else 127.0)
    absmax = np.abs(rows).max(axis=1).astype(np.float32)
    if method == "aciq":
        n = rows.shape[1]
        bits = 6 if six_bit else 8
        absmax = np.array([aciq_clip(float(a), n, bits) for a in absmax], dtype=np.float32)
    with np.errstate(divide="ignore"):
        scales = qmax / absmax
    return np.asarray(np.where(absmax > 0, scales, ZERO_CHANNEL_SCALE), dtype=np.float32)


def _row_scales(rows: np.ndarray) -> npt.NDArray[np.float32]:
    """127/absmax per row, 1 for an all-zero row (ncnn's zero guard for static scales)."""
    absmax = np.abs(rows).max(axis=1).astype(np.float32)
    with np.errstate(divide="ignore"):
        return np.asarray(np.where(absmax > 0, np.float32(127.0) / absmax, np.float32(1.0)), dtype=np.float32)


def _static_entries(layer: Layer) -> list[tuple[str, np.ndarray]]:
    w = {k: np.asarray(v, dtype=np.float32) for k, v in layer.weights.items()}
    name = layer.name
    if layer.type == "Embed":
        return [(f"{name}_param_0", _row_scales(w["weight"].reshape(1, -1)))]
    if layer.type == "MultiHeadAttention":
        embed_dim = int_param(layer, 0)
        return [
            (f"{name}_param_0", _row_scales(w["q_weight"].reshape(embed_dim, -1))),
            (f"{name}_param_1", _row_scales(w["k_weight"].reshape(embed_dim, -1))),
            (f"{name}_param_2", _row_scales(w["v_weight"].reshape(embed_dim, -1))),
            (f"{name}_param_3", _row_scales(w["out_weight"].reshape(1, -1))),
        ]
    directions = 2 if layer.param(2) == 2 else 1
    if layer.type == "LSTM":
        rows = 4 * int_param(layer, 3) * directions
    elif layer.type == "GRU":
        rows = 3 * int_param(layer, 0) * directions
    else:
        rows = int_param(layer, 0) * directions
    return [
        (f"{name}_param_0", _row_scales(w["weight_xc"].reshape(rows, -1))),
        (f"{name}_param_1", _row_scales(w["weight_hc"].reshape(rows, -1))),
    ]


STATIC_TYPES = ("Embed", "MultiHeadAttention", "RNN", "LSTM", "GRU")


def static_scales(layers: list[Layer]) -> dict[str, np.ndarray]:
    """Weight-only scales that need no data (quantization.md §4.5), in ncnn2table's order: all
    Embed lines, then MultiHeadAttention, RNN, LSTM, GRU, each in layer order."""
    out: dict[str, np.ndarray] = {}
    for kind in STATIC_TYPES:
        for layer in layers:
            if layer.type == kind:
                out.update(_static_entries(layer))
    return out


# ncnn's int8 Winograd F(4,3) kernel transform (integer G) and the largest gain of its input
# transform (row sums of |Bᵀ| are at most 10, so |V| <= 10·10·127).
_WINOGRAD43_KTM = np.array([[6, 0, 0], [-4, -4, -4], [-4, 4, -4], [1, 2, 4], [1, -2, 4], [0, 0, 6]], dtype=np.int64)
_MAX_TRANSFORMED_INPUT = 100 * 127
_INT32_MAX = 2**31 - 1
_INT16_MAX = 2**15 - 1
WINOGRAD_QMAX_CANDIDATES = (127, 111, 95, 79, 63, 47, 31)


def winograd_fits(q: np.ndarray) -> npt.NDArray[np.bool_]:
    """For int8 3x3 weights q (out, in, 3, 3): whether each output channel's Winograd F(4,3)
    products can never overflow ncnn's int16 kernel storage or int32 accumulation, for any input."""
    # G·q·Gᵀ as two stacked integer products, not one einsum: the same exact integers, 5× faster
    # (a 256×64 layer: 5.4 against 25 ms; `best` checks every 3x3 stride-1 layer 7 times).
    u = np.abs(_WINOGRAD43_KTM @ q.astype(np.int64) @ _WINOGRAD43_KTM.T)
    worst_sum = u.sum(axis=1).reshape(q.shape[0], -1).max(axis=1)
    kernel_fits: npt.NDArray[np.bool_] = u.reshape(q.shape[0], -1).max(axis=1) <= _INT16_MAX
    sums_fit: npt.NDArray[np.bool_] = worst_sum * _MAX_TRANSFORMED_INPUT <= _INT32_MAX
    return kernel_fits & sums_fit


def winograd_safe_scales(layer: Layer) -> npt.NDArray[np.float32]:
    """Per output channel, the widest weight range (127, 111, … 31 levels) whose Winograd F(4,3)
    products provably fit ncnn's int16/int32 arithmetic; 31/absmax (ncnn's 6-bit rule) when none
    wider does. For a 3x3 stride-1 Convolution; float32 scales like ``weight_scales``."""
    w = np.asarray(layer.weights["weight"], dtype=np.float32)
    out = int_param(layer, 0)
    rows = w.reshape(out, -1)
    absmax = np.abs(rows).max(axis=1).astype(np.float32)
    chosen = np.full(out, np.float32(31.0))
    undecided = np.ones(out, dtype=bool)
    for qmax in WINOGRAD_QMAX_CANDIDATES:
        with np.errstate(divide="ignore", invalid="ignore"):
            scales = np.where(absmax > 0, np.float32(qmax) / absmax, ZERO_CHANNEL_SCALE).astype(np.float32)
        q = np.clip(np.trunc(rows * scales[:, None] + np.copysign(np.float32(0.5), rows)), -127, 127)
        fits = winograd_fits(q.reshape(out, -1, 3, 3)) & undecided
        chosen[fits] = qmax
        undecided &= ~fits
    with np.errstate(divide="ignore"):
        return np.asarray(np.where(absmax > 0, chosen / absmax, ZERO_CHANNEL_SCALE), dtype=np.float32)
