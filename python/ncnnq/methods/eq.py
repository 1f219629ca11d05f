"""``eq``: ncnn2table's equalization search (quantization.md §5.3), made practical.

ncnn's EQ (which crashes as shipped: it indexes samples with the wrong loop variables) re-runs
the whole network for every candidate scale of every channel. ncnnq runs the fp32 network once
per sample (the first 50, as ncnn), keeps each calibrated layer's input patches and fp32 outputs
at sampled output positions (``LayerProbe.sample``), and searches each layer on those cached
values alone, the candidates of many channels in one int8 GEMM.

As ncnn: first each weight scale (per output channel, or per group for ConvolutionDepthWise),
then the input scale; candidates 0.5·s … 1.985·s in 100 steps; the layer is simulated in int8 by
the native probe, bit for bit as ncnnq's int8 engine runs it (its quantizer, int8 kernels,
de-scale, bias and fused activation), and compared with its fp32 output by cosine similarity.

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

import numpy as np

from .. import _native
from .._native import Layer, LayerProbe, Model, Patches
from ..graph import split_sources
from ..progress import Progress
from ..table import Table

CANDIDATES = 100
POSITIONS = 1024
MAX_SAMPLES = 50
EXACT = False
"""Score with the probe's portable epilogue (the same on every CPU), not this CPU's exact one: the
tables then do not depend on the machine that computed them. The two differ by an ulp in a few
outputs (x86's ``rcpps`` de-scale of depthwise layers with 8k channels, FMA in convolutions),
which is enough to flip near-ties between candidates."""


def collect(
    model: Model,
    layers: Sequence[Layer],
    samples: Sequence[dict[str, np.ndarray]],
    threads: int,
    advance: Callable[[int], None],
) -> dict[str, tuple[LayerProbe, Patches]]:
    """Runs the fp32 network once per sample and keeps each layer's probe with its inputs and fp32
    outputs at sampled positions. ``threads`` samples run at once (the net releases the GIL)."""
    net = _native.Net(model, threads=threads)
    probes = [LayerProbe(model, layer.name, threads) for layer in layers]
    blobs = list(dict.fromkeys(b for layer in layers for b in (layer.bottoms[0], layer.tops[0])))
    per_sample = max(1, -(-POSITIONS // max(1, len(samples))))

    def one(i: int) -> list[Patches]:
        out = net.run(samples[i], blobs)
        return [
            probe.sample(out[layer.bottoms[0]], out[layer.tops[0]], per_sample, seed=i * 7919 + j)
            for j, (layer, probe) in enumerate(zip(layers, probes))
        ]

    parts: list[list[Patches]] = [[] for _ in layers]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for kept in pool.map(one, range(len(samples))):  # in sample order
            for j, patches in enumerate(kept):
                parts[j].append(patches)
            advance(1)
    return {layer.name: (probe, Patches.concat(p)) for layer, probe, p in zip(layers, probes, parts)}


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


def _cosines(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Cosine of each candidate's outputs y (c, o, p) with the fp32 outputs r (o, p)."""
    ab = np.einsum("cop,cop->c", y, np.broadcast_to(r, y.shape), dtype=np.float64)
    aa = np.einsum("cop,cop->c", y, y, dtype=np.float64)
    bb = float(np.vdot(r, r))
    cosines: np.ndarray = ab / np.sqrt(np.maximum(aa * bb, 1e-300))
    return cosines


class _Layer:
    """One layer's scales under search, simulated in int8 by its probe on its cached patches."""

    def __init__(self, probe: LayerProbe, patches: Patches, weight_scales: np.ndarray, input_scale: float):
        self.name = probe.name
        self.probe = probe
        self.patches = patches
        if patches.reference is None:
            raise ValueError(f"{probe.name}: the patches hold no fp32 outputs to compare with")
        self.ref = patches.reference  # (groups, outputs per group, positions)
        self.per_group_scales = probe.type == "ConvolutionDepthWise"
        # ncnn's int8 Winograd needs these weights within ±31: never scale them up.
        self.six_bit = probe.six_bit
        # A copy: the search changes it in place, and the caller's table may share its arrays.
        self.ws = np.array(weight_scales, dtype=np.float32).reshape(probe.groups, -1)  # (g, 1) or (1, o)
        self.s_in = np.float32(input_scale)
        self.bb = float((self.ref.astype(np.float64) ** 2).sum())

    def weight_scales(self) -> np.ndarray:
        """One per scale unit (output channel, or group), as the table holds them."""
        return (self.ws[:, 0] if self.per_group_scales else self.ws[0]).astype(np.float32)

    def cosine(self, s_in: np.float32) -> float:
        """Cosine of the int8 layer's outputs (current weight scales, input scale s_in) with the
        fp32 ones."""
        y = self.probe.simulate(self.patches, self.weight_scales(), float(s_in), exact=EXACT)
        ab = float(np.vdot(y, self.ref))
        aa = float(np.vdot(y, y))
        return float(ab / np.sqrt(max(aa * self.bb, 1e-300)))

    def search_weight_scales(self) -> None:
        """Per channel (or group), the candidate whose int8 outputs best match the fp32 ones."""
        p = self.patches.columns
        cols = np.linspace(0, p - 1, min(p, WEIGHT_POSITIONS)).astype(np.int64)
        subset = self.patches.select(cols.tolist())
        xq = self.probe.quantize_input(subset, float(self.s_in))
        ref = self.ref[:, :, cols]
        if self.per_group_scales:
            self._search_groups(xq, ref)
        else:
            self._search_channels(xq, ref[0])

    def _search_groups(self, xq: np.ndarray, ref: np.ndarray) -> None:
        """Every group's candidates in one call (one int8 GEMM per group); each group scored on
        its own outputs, the only ones its scale moves."""
        cands = [_candidates(self.ws[g, 0]) for g in range(self.ws.shape[0])]
        units = [g for g, c in enumerate(cands) for _ in c]
        y = self.probe.evaluate_weight_scales(xq, float(self.s_in), units, np.concatenate(cands), exact=EXACT)
        per = self.probe.outputs_per_scale
        y = y.reshape(len(units), per, -1)
        row = 0
        for g, cand in enumerate(cands):
            score = _cosines(y[row : row + len(cand)], ref[g])
            self.ws[g, :] = cand[int(np.argmax(score))]
            row += len(cand)

    def _channel_candidates(self, o: int) -> np.ndarray:
        current = self.ws[0, o]
        cand = _candidates(current)
        return cand[cand <= current] if self.six_bit else cand

    def _search_channels(self, xq: np.ndarray, ref: np.ndarray) -> None:
        """Per-channel scales: the candidates of WEIGHT_CHANNELS channels at a time in one int8
        GEMM, each channel then scored on its own outputs, the only ones its scale moves."""
        per_group = self.ws.shape[1]
        for start in range(0, per_group, WEIGHT_CHANNELS):
            chans = range(start, min(per_group, start + WEIGHT_CHANNELS))
            cands = [self._channel_candidates(o) for o in chans]
            units = [o for o, c in zip(chans, cands) for _ in c]
            y = self.probe.evaluate_weight_scales(xq, float(self.s_in), units, np.concatenate(cands), exact=EXACT)
            sizes = [len(c) for c in cands]
            r = np.repeat(ref[list(chans)], sizes, axis=0)
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
    scores: dict[int, float] = {}

    def score(i: int) -> float:
        if i not in scores:
            scores[i] = sum(sim.cosine(np.float32(cand[i])) for sim in layers)
        return scores[i]

    coarse = [*range(0, CANDIDATES, COARSE_STEP), CANDIDATES]
    best = max(coarse, key=score)
    if best != CANDIDATES:
        for i in range(max(0, best - COARSE_STEP + 1), min(CANDIDATES, best + COARSE_STEP)):
            score(i)
    best = max(scores, key=lambda i: (scores[i], i == CANDIDATES))
    chosen: np.float32 = np.float32(float(cand[best]))
    return chosen


def equalize(
    model: Model,
    layers: Sequence[Layer],
    table: Table,
    samples: Sequence[dict[str, np.ndarray]],
    threads: int,
    progress: Progress,
) -> None:
    """Refines ``table`` (kl scales in) in place with the eq search over ``samples``."""
    samples = list(samples)[:MAX_SAMPLES]
    progress.start("eq: caching layer inputs", len(samples))
    caches = collect(model, layers, samples, threads, progress.advance)
    progress.finish()
    progress.start("eq: searching scales", len(layers))
    sims = {}
    for layer in layers:
        probe, patches = caches[layer.name]
        sim = _Layer(probe, patches, table.weights[f"{layer.name}_param_0"], table.activations[layer.name])
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
        table.weights[f"{layer.name}_param_0"] = sim.weight_scales().copy()
        table.activations[layer.name] = float(sim.s_in)
        if layer.name in reports:
            reports[layer.name].scale = float(sim.s_in)
            reports[layer.name].threshold = 127.0 / float(sim.s_in)
