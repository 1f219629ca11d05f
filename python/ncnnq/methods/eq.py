"""``eq``: ncnn2table's equalization search (quantization.md §5.3), made practical.

ncnn's EQ (which crashes as shipped: it indexes samples with the wrong loop variables) re-runs
the whole network for every candidate scale of every channel. ncnnq runs the fp32 network once
per sample (the first 50, as ncnn), keeps each calibrated layer's input patches and fp32 outputs
at sampled output positions, and searches each layer on those cached values alone, all
candidates of a channel in one vectorized product.

As ncnn: first each weight scale (per output channel, or per group for ConvolutionDepthWise),
then the input scale; candidates 0.5·s … 1.985·s in 100 steps; the layer is simulated in int8
(round half away from zero, clamp ±127, integer accumulation, de-scale, bias, fused activation)
and compared with its fp32 output by cosine similarity.

Deliberate differences:
- the current scale is a candidate too (ncnn may move to a worse one);
- a weight scale is chosen by the cosine of its own channel's outputs (the only ones it moves),
  on ``WEIGHT_POSITIONS`` positions; the input scale by the cosine of all outputs;
- layers reading the same data (the branches after a Split) get one shared input scale,
  maximizing the sum of their cosines, so requantize fusion through the Split stays exact;
- the input scale is searched coarse to fine (every 4th candidate, then the neighbours of the best);
- 3x3 stride-1 Convolution weights keep ncnn's ±31 range (candidates above the 6-bit scale are
  skipped): real ncnn's int8 Winograd relies on it;
- at most ``POSITIONS`` output positions per layer (sampled uniformly, deterministically), and the
  cosine is pooled over them rather than summed per sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import _native
from .._native import Layer, Model
from ..graph import split_sources
from .weights import is_winograd_6bit

CANDIDATES = 100
POSITIONS = 1024
MAX_SAMPLES = 50


def quantize(x: np.ndarray) -> np.ndarray:
    """float -> int8 values (as float32): round half away from zero, clamp to ±127."""
    return np.clip(np.trunc(x + np.copysign(np.float32(0.5), x)), -127, 127).astype(np.float32)


def _int8(q: np.ndarray) -> np.ndarray:
    """Quantized values (float32) as a C-ordered int8 matrix for the int8 kernels."""
    return np.ascontiguousarray(q, dtype=np.int8)


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
    """Runs the fp32 network once per sample and keeps each layer's sampled inputs/outputs.
    ``threads`` samples run at once (the net releases the GIL)."""
    net = _native.Net(model, threads=threads)
    blobs = list(dict.fromkeys(b for layer in layers for b in (layer.bottoms[0], layer.tops[0])))
    per_sample = max(1, -(-POSITIONS // max(1, len(samples))))

    def one(i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        out = net.run(samples[i], blobs)
        kept = []
        for j, layer in enumerate(layers):
            cols, positions = _columns(model, layer, out[layer.bottoms[0]], per_sample, seed=i * 7919 + j)
            top = out[layer.tops[0]]
            flat_top = top.reshape(-1, 1) if top.ndim == 1 else (top.T if top.ndim == 2 else top.reshape(top.shape[0], -1))
            kept.append((cols, flat_top[:, positions]))
        return kept

    xs: dict[str, list[np.ndarray]] = {layer.name: [] for layer in layers}
    ys: dict[str, list[np.ndarray]] = {layer.name: [] for layer in layers}
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for kept in pool.map(one, range(len(samples))):  # in sample order
            for layer, (x, y) in zip(layers, kept):
                xs[layer.name].append(x)
                ys[layer.name].append(y)
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


WEIGHT_POSITIONS = 256
"""Positions used to choose one channel's weight scale (only that channel's outputs move)."""
COARSE_STEP = 4
WEIGHT_CHANNELS = 32
"""Channels whose weight candidates share one int8 GEMM in the weight-scale search."""


class _Layer:
    """One layer's int8 simulation on its cache."""

    def __init__(
        self, layer: Layer, cache: LayerCache, weight_scales: np.ndarray, input_scale: float, threads: int = 1
    ):
        self.name = layer.name
        self.threads = threads
        self.groups, self.per_group = _grouping(layer)
        self.x, self.ref = cache.x, cache.y
        self.w = np.asarray(layer.weights["weight"], dtype=np.float32).reshape(self.groups, self.per_group, -1)
        bias = layer.weights.get("bias")
        out = self.groups * self.per_group
        bias = np.zeros(out, np.float32) if bias is None else np.asarray(bias, np.float32)
        self.bias = bias.reshape(self.groups, self.per_group, 1)
        self.act = activation(layer)
        self.per_group_scales = layer.type == "ConvolutionDepthWise"
        # ncnn's int8 Winograd needs these weights within ±31: never scale them up.
        self.six_bit = is_winograd_6bit(layer)
        self.ws = np.asarray(weight_scales, dtype=np.float32).reshape(self.groups, -1)  # (g, 1) or (1, o)
        self.s_in = np.float32(input_scale)
        self.bb = float((self.ref.astype(np.float64) ** 2).sum())

    def _descale_shape(self, a: np.ndarray) -> np.ndarray:
        return a[:, :, None] if a.shape[1] == self.per_group else a[:, :1, None]

    def quantized_weights(self) -> np.ndarray:
        return quantize(self.w * self._descale_shape(self.ws))

    def cosine(self, wq: np.ndarray, s_in: np.float32) -> float:
        """Cosine of the int8 layer's outputs (weights wq, input scale s_in) with the fp32 ones."""
        descale = self._descale_shape(np.where(self.ws == 0, 0, 1 / (s_in * self.ws)).astype(np.float32))
        xq = quantize(self.x * s_in)
        if self.groups == 1:
            # The int8 kernels: exact integer sums, and the same float32 de-scale and bias.
            rows = np.ascontiguousarray(np.broadcast_to(descale[0, :, 0], (self.per_group,)))
            pre = _native.int8_gemm(_int8(wq[0]), _int8(xq[0]), rows, self.bias[0, :, 0].copy(), self.threads)
            y = self.act(pre[None])
        else:
            y = self.act(np.matmul(wq, xq) * descale + self.bias)
        ab = float(np.vdot(y, self.ref))
        aa = float(np.vdot(y, y))
        return ab / np.sqrt(max(aa * self.bb, 1e-300))

    def search_weight_scales(self) -> None:
        """Per channel (or group), the candidate whose int8 outputs best match the fp32 ones."""
        p = self.x.shape[-1]
        cols = np.linspace(0, p - 1, min(p, WEIGHT_POSITIONS)).astype(np.int64)
        xq = quantize(self.x[:, :, cols] * self.s_in)
        ref = self.ref[:, :, cols]
        if self.groups == 1 and not self.per_group_scales:
            self._search_channels_int8(_int8(xq[0]), ref[0])
            return
        units = [(g, slice(None)) for g in range(self.groups)] if self.per_group_scales else [
            (0, slice(o, o + 1)) for o in range(self.per_group)
        ]
        for g, outs in units:
            current = self.ws[g, 0] if self.per_group_scales else self.ws[0, outs][0]
            cand = _candidates(current)
            if self.six_bit:
                cand = cand[cand <= current]
            wq = quantize(self.w[g, outs][None] * cand[:, None, None])  # (c, n_out, k)
            acc = np.matmul(wq, xq[g])  # (c, n_out, p)
            y = self.act(acc * (1 / (self.s_in * cand)).astype(np.float32)[:, None, None] + self.bias[g, outs][None])
            r = ref[g, outs][None]
            # Only these outputs change: maximize their own cosine with the fp32 outputs.
            ab = np.einsum("cop,cop->c", y, np.broadcast_to(r, y.shape), dtype=np.float64)
            aa = np.einsum("cop,cop->c", y, y, dtype=np.float64)
            bb = float(np.vdot(r, r))
            score = ab / np.sqrt(np.maximum(aa * bb, 1e-300))
            best = cand[int(np.argmax(score))]
            if self.per_group_scales:
                self.ws[g, :] = best
            else:
                self.ws[0, outs] = best


    def _channel_candidates(self, o: int) -> np.ndarray:
        current = self.ws[0, o]
        cand = _candidates(current)
        return cand[cand <= current] if self.six_bit else cand

    def _search_channels_int8(self, xq: np.ndarray, ref: np.ndarray) -> None:
        """search_weight_scales for one group of per-channel scales: the candidates of
        WEIGHT_CHANNELS channels at a time as the rows of one int8 GEMM, each channel then scored
        on its rows exactly as the numpy path does."""
        for start in range(0, self.per_group, WEIGHT_CHANNELS):
            chans = range(start, min(self.per_group, start + WEIGHT_CHANNELS))
            cands = [self._channel_candidates(o) for o in chans]
            wq = np.concatenate([quantize(self.w[0, o][None] * c[:, None]) for o, c in zip(chans, cands)])
            scale = np.concatenate([(1 / (self.s_in * c)).astype(np.float32) for c in cands])
            bias = np.concatenate([np.full(len(c), self.bias[0, o, 0], np.float32) for o, c in zip(chans, cands)])
            y = self.act(_native.int8_gemm(_int8(wq), xq, scale, bias, self.threads))
            sizes = [len(c) for c in cands]
            r = np.repeat(ref[list(chans)], sizes, axis=0)
            # Only a channel's own outputs change: maximize their cosine with the fp32 outputs.
            ab = np.einsum("cp,cp->c", y, r, dtype=np.float64)
            aa = np.einsum("cp,cp->c", y, y, dtype=np.float64)
            row = 0
            for o, cand, size in zip(chans, cands, sizes):
                bb = float(np.vdot(ref[o], ref[o]))
                score = ab[row : row + size] / np.sqrt(np.maximum(aa[row : row + size] * bb, 1e-300))
                self.ws[0, o] = cand[int(np.argmax(score))]
                row += size


def search_input_scale(layers: Sequence[_Layer]) -> np.float32:
    """One input scale for layers reading the same data (the branches after a Split must share it
    for requantize fusion): the candidate maximizing the sum of their cosines, found coarse to
    fine over ncnn's candidate grid."""
    current = layers[0].s_in
    cand = _candidates(current)
    weights = [sim.quantized_weights() for sim in layers]
    scores: dict[int, float] = {}

    def score(i: int) -> float:
        if i not in scores:
            scores[i] = sum(sim.cosine(wq, np.float32(cand[i])) for sim, wq in zip(layers, weights))
        return scores[i]

    coarse = list(range(0, CANDIDATES, COARSE_STEP)) + [CANDIDATES]
    best = max(coarse, key=score)
    if best != CANDIDATES:
        for i in range(max(0, best - COARSE_STEP + 1), min(CANDIDATES, best + COARSE_STEP)):
            score(i)
    best = max(scores, key=lambda i: (scores[i], i == CANDIDATES))
    return np.float32(cand[best])


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
    sims = {}
    for layer in layers:
        sim = _Layer(
            layer, caches[layer.name], table.weights[f"{layer.name}_param_0"], table.activations[layer.name], threads
        )
        if sim.bb > 0:
            sim.search_weight_scales()
        sims[layer.name] = sim
        progress.advance(1)
    progress.finish()
    groups: dict[str, list[_Layer]] = {}
    sources = split_sources(model)
    for layer in layers:
        groups.setdefault(sources.get(layer.bottoms[0], layer.bottoms[0]), []).append(sims[layer.name])
    progress.start("eq: searching input scales", len(groups))
    for members in groups.values():
        live = [m for m in members if m.bb > 0]
        if live and len({m.s_in for m in members}) == 1:
            s_in = search_input_scale(live)
            for m in members:
                m.s_in = s_in
        progress.advance(1)
    progress.finish()
    reports = {r.layer: r for r in table.report}
    for layer in layers:
        sim = sims[layer.name]
        table.weights[f"{layer.name}_param_0"] = (sim.ws[:, 0] if sim.per_group_scales else sim.ws[0]).astype(np.float32).copy()
        table.activations[layer.name] = float(sim.s_in)
        if layer.name in reports:
            reports[layer.name].scale = float(sim.s_in)
            reports[layer.name].threshold = 127.0 / float(sim.s_in)
