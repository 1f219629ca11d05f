"""``eq``: ncnn2table's equalization search (quantization.md §5.3), made practical.

ncnn's EQ (which crashes as shipped: it indexes samples with the wrong loop variables) re-runs
the whole network for every candidate scale of every channel. ncnnq runs the fp32 network once
per sample (the first 50, as ncnn), keeps each calibrated layer's input patches and fp32 outputs
at sampled output positions, and then searches each layer on those cached values alone, with all
candidates of a channel evaluated in one vectorized product.

Search, per layer, as ncnn: first each weight scale (per output channel, or per group for
ConvolutionDepthWise), then the input scale; candidates 0.5·s … 1.985·s in 100 steps; the layer
is simulated in int8 (round half away from zero, clamp ±127, integer accumulation, de-scale,
bias, fused activation) and compared with the fp32 output by cosine similarity.
Deliberate differences: the current scale is a candidate too (ncnn may move to a worse one), the
cosine is pooled over all cached positions instead of summed per sample, and at most
``POSITIONS`` output positions per layer are used (sampled uniformly, deterministically).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import _native
from .._native import Layer, Model

CANDIDATES = 100
POSITIONS = 1024
MAX_SAMPLES = 50
_CHUNK_FLOATS = 1 << 24


def quantize(x: np.ndarray) -> np.ndarray:
    """float -> int8 values (as float32): round half away from zero, clamp to ±127."""
    return np.clip(np.trunc(x + np.copysign(np.float32(0.5), x)), -127, 127).astype(np.float32)


def activation(layer: Layer) -> Callable[[np.ndarray], np.ndarray]:
    kind = int(layer.param(9) or 0)
    params = list(layer.param(10) or [])

    def p(i: int, default: float) -> float:
        return float(params[i]) if i < len(params) else default

    if kind == 1:
        return lambda y: np.maximum(y, 0)
    if kind == 2:
        slope = p(0, 0.0)
        return lambda y: np.where(y > 0, y, y * slope)
    if kind == 3:
        lo, hi = p(0, -np.finfo(np.float32).max), p(1, np.finfo(np.float32).max)
        return lambda y: np.clip(y, lo, hi)
    if kind == 4:
        return lambda y: 1 / (1 + np.exp(-np.clip(y, -88.3762626647949, 88.3762626647949)))
    if kind == 5:
        return lambda y: y * np.tanh(np.logaddexp(0, y))
    if kind == 6:
        alpha, beta = p(0, 0.2), p(1, 0.5)
        lower = -beta / alpha
        upper = 1 / alpha + lower
        return lambda y: np.where(y < lower, 0, np.where(y > upper, y, y * (y * alpha + beta)))
    return lambda y: y


@dataclass
class LayerCache:
    """A layer's fp32 inputs and outputs at sampled positions, arranged by group:
    x (groups, k, positions), y (groups, outputs per group, positions)."""

    x: np.ndarray
    y: np.ndarray


def _grouping(layer: Layer) -> tuple[int, int]:
    """(groups, outputs per group)."""
    out = int(layer.param(0))
    groups = int(layer.param(7)) if layer.type == "ConvolutionDepthWise" else 1
    return groups, out // groups


def _columns(model: Model, layer: Layer, bottom: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(input columns (k, n), flat output indices (n,)) for one sample."""
    flat_input = layer.type == "InnerProduct" or (bottom.ndim == 1 and layer.param(1) == 1 and layer.param(11) == 1)
    if flat_input:
        num_input = int(layer.param(2 if layer.type == "InnerProduct" else 6)) // int(layer.param(0))
        if bottom.ndim == 2 and bottom.shape[1] == num_input:
            return np.ascontiguousarray(bottom.T), np.arange(bottom.shape[0])
        return bottom.reshape(-1, 1), np.zeros(1, dtype=np.int64)
    cols, positions = _native.conv_patches(model, layer.name, np.ascontiguousarray(bottom), count, seed)
    return cols, positions.astype(np.int64)


def collect(
    model: Model,
    layers: Sequence[Layer],
    samples: Sequence[dict[str, np.ndarray]],
    threads: int,
    advance: Callable[[int], None],
) -> dict[str, LayerCache]:
    """Runs the fp32 network once per sample and keeps each layer's sampled inputs/outputs."""
    net = _native.Net(model, threads=threads)
    blobs = list(dict.fromkeys(b for layer in layers for b in (layer.bottoms[0], layer.tops[0])))
    per_sample = max(1, -(-POSITIONS // max(1, len(samples))))
    xs: dict[str, list[np.ndarray]] = {layer.name: [] for layer in layers}
    ys: dict[str, list[np.ndarray]] = {layer.name: [] for layer in layers}
    for i, inputs in enumerate(samples):
        out = net.run(inputs, blobs)
        for j, layer in enumerate(layers):
            cols, positions = _columns(model, layer, out[layer.bottoms[0]], per_sample, seed=i * 7919 + j)
            top = out[layer.tops[0]]
            flat_top = top.reshape(-1, 1) if top.ndim == 1 else (top.T if top.ndim == 2 else top.reshape(top.shape[0], -1))
            xs[layer.name].append(cols)
            ys[layer.name].append(flat_top[:, positions])
        advance(1)
    caches = {}
    for layer in layers:
        groups, per_group = _grouping(layer)
        x = np.concatenate(xs[layer.name], axis=1).astype(np.float32)
        y = np.concatenate(ys[layer.name], axis=1).astype(np.float32)
        caches[layer.name] = LayerCache(x.reshape(groups, -1, x.shape[1]), y.reshape(groups, per_group, y.shape[1]))
    return caches


def _candidates(s: float | np.ndarray) -> np.ndarray:
    """ncnn's 100 candidates 0.5·s + k·1.5·s/100, plus s itself (last)."""
    k = np.arange(CANDIDATES, dtype=np.float32)
    s = np.asarray(s, dtype=np.float32)
    grid = 0.5 * s[..., None] + k * (1.5 * s[..., None] / CANDIDATES)
    return np.concatenate([grid, s[..., None]], axis=-1).astype(np.float32)


class _Layer:
    """One layer's int8 simulation on its cache."""

    def __init__(self, layer: Layer, cache: LayerCache, weight_scales: np.ndarray, input_scale: float):
        self.groups, self.per_group = _grouping(layer)
        self.x, self.ref = cache.x, cache.y
        self.w = np.asarray(layer.weights["weight"], dtype=np.float32).reshape(self.groups, self.per_group, -1)
        bias = layer.weights.get("bias")
        out = self.groups * self.per_group
        self.bias = (np.zeros(out, np.float32) if bias is None else np.asarray(bias, np.float32)).reshape(self.groups, self.per_group, 1)
        self.act = activation(layer)
        self.per_group_scales = layer.type == "ConvolutionDepthWise"
        self.ws = np.asarray(weight_scales, dtype=np.float32).reshape(self.groups, -1)  # (g, 1) or (1, o)
        self.s_in = np.float32(input_scale)
        self.bb = float((self.ref.astype(np.float64) ** 2).sum())

    def outputs(self, ws: np.ndarray, s_in: np.float32) -> np.ndarray:
        wq = quantize(self.w * ws[:, :, None] if ws.shape[1] == self.per_group else self.w * ws[:, :1, None])
        xq = quantize(self.x * s_in)
        acc = np.matmul(wq, xq)
        descale = np.where(ws == 0, 0, 1 / (s_in * ws)).astype(np.float32)
        descale = descale[:, :, None] if descale.shape[1] == self.per_group else descale[:, :1, None]
        return self.act(acc * descale + self.bias)

    def cosine_terms(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per output channel Σ y·ref and Σ y² (float64)."""
        y64 = y.astype(np.float64)
        return (y64 * self.ref).sum(axis=-1), (y64 * y64).sum(axis=-1)

    def search_weight_scales(self) -> None:
        ab, aa = self.cosine_terms(self.outputs(self.ws, self.s_in))
        xq = quantize(self.x * self.s_in)
        if self.per_group_scales:
            units = [(g, slice(None)) for g in range(self.groups)]
        else:
            units = [(0, slice(o, o + 1)) for o in range(self.per_group)]
        chunk = max(1, _CHUNK_FLOATS // ((CANDIDATES + 1) * self.x.shape[-1] * max(1, self.per_group if self.per_group_scales else 1)))
        for start in range(0, len(units), chunk):
            block = units[start : start + chunk]
            for g, outs in block:
                current = self.ws[g, 0] if self.per_group_scales else self.ws[0, outs][0]
                cand = _candidates(current)  # (c,)
                w = self.w[g, outs]  # (n_out, k)
                wq = quantize(w[None] * cand[:, None, None])  # (c, n_out, k)
                acc = np.matmul(wq, xq[g])  # (c, n_out, p)
                descale = (1 / (self.s_in * cand)).astype(np.float32)[:, None, None]
                y = self.act(acc * descale + self.bias[g, outs][None])
                y64 = y.astype(np.float64)
                ab_c = (y64 * self.ref[g, outs][None]).sum(axis=(1, 2))
                aa_c = (y64 * y64).sum(axis=(1, 2))
                ab_rest = ab.sum() - ab[g, outs].sum()
                aa_rest = aa.sum() - aa[g, outs].sum()
                total = (ab_rest + ab_c) / np.sqrt(np.maximum((aa_rest + aa_c) * self.bb, 1e-300))
                best = int(np.argmax(total))
                if self.per_group_scales:
                    self.ws[g, :] = cand[best]
                else:
                    self.ws[0, outs] = cand[best]
                per_out_y = y64[best]
                ab[g, outs] = (per_out_y * self.ref[g, outs]).sum(axis=-1)
                aa[g, outs] = (per_out_y * per_out_y).sum(axis=-1)

    def search_input_scale(self) -> None:
        best, best_cos = self.s_in, -np.inf
        for s in _candidates(self.s_in):
            ab, aa = self.cosine_terms(self.outputs(self.ws, np.float32(s)))
            cos = ab.sum() / np.sqrt(max(aa.sum() * self.bb, 1e-300))
            if cos > best_cos:
                best, best_cos = np.float32(s), cos
        self.s_in = best


def equalize_layer(layer: Layer, cache: LayerCache, weight_scales: np.ndarray, input_scale: float) -> tuple[np.ndarray, float]:
    """The searched (weight scales, input scale) for one layer."""
    sim = _Layer(layer, cache, weight_scales, input_scale)
    if sim.bb == 0:
        return np.asarray(weight_scales, np.float32), float(input_scale)
    sim.search_weight_scales()
    sim.search_input_scale()
    scales = sim.ws[:, 0] if sim.per_group_scales else sim.ws[0]
    return scales.astype(np.float32).copy(), float(sim.s_in)


def equalize(
    model: Model,
    layers: Sequence[Layer],
    table,
    samples: Sequence[dict[str, np.ndarray]],
    threads: int,
    progress,
) -> None:
    """Refines ``table`` (kl scales in) in place with the eq search over ``samples``."""
    samples = list(samples)[:MAX_SAMPLES]
    progress.start("eq: caching layer inputs", len(samples))
    caches = collect(model, layers, samples, threads, progress.advance)
    progress.finish()
    progress.start("eq: searching scales", len(layers))
    reports = {r.layer: r for r in table.report}
    for layer in layers:
        key = f"{layer.name}_param_0"
        ws, s_in = equalize_layer(layer, caches[layer.name], table.weights[key], table.activations[layer.name])
        table.weights[key] = ws
        table.activations[layer.name] = s_in
        if layer.name in reports and s_in > 0:
            reports[layer.name].scale = s_in
            reports[layer.name].threshold = 127.0 / s_in
        progress.advance(1)
    progress.finish()
