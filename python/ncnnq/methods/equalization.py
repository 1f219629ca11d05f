"""``cle``: cross-layer equalization. ncnn quantizes each activation blob with one scale, so a few
channels with a wide range leave the others only a few int8 levels (nanodet_m's first blob has a
channel living in [-0.07, -0.01] next to channels reaching 4). The per-channel weight scales make
the cure free on one side: multiply output channel c of the layer producing the blob by f_c > 0
and divide the inputs of channel c of every layer reading it by f_c. The fp32 model computes the
same function, and the blob's channels get similar ranges.

Exact only where the scaling passes through, so the producer and everything between it and its
readers are checked:

- producers: Convolution, ConvolutionDepthWise and InnerProduct whose fused activation is
  positively homogeneous (none, ReLU, LeakyReLU: act(f·x) = f·act(x) for f > 0). A fused Clip
  (ReLU6) or any other activation is not: its channels keep f = 1 (Clip has one bound for all
  channels; scaling one channel would move its bound);
- on the way (the channels are followed through them): Split, Concat and Slice along channels,
  ShuffleChannel, ReLU, PReLU (per-channel slopes are unchanged by a positive scale), Pooling,
  Interp, Dropout, Noop;
- readers that absorb 1/f_c: Convolution, ConvolutionDepthWise (grouped or depthwise) with a
  zero pad value and static weights, InnerProduct on a 1-D or 3-D blob;
- anything else reading a channel (Eltwise, BinaryOp, Softmax, a Clip or Sigmoid layer,
  Reshape, a model output, ...) pins it: its source channel keeps f = 1.

The factors: f_c = (r_median / r_c)^ALPHA, r_c the channel's range (its per-sample absolute
maximum, averaged over the samples), r_median the median over the producer's channels, so wide
channels shrink and narrow ones grow; ALPHA < 1 leaves part of the imbalance because the readers'
weights pay for it (a column divided by a large f_c loses precision in per-output-channel weight
scales), except for depthwise readers whose per-channel weight scales absorb any factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._native import Layer, Model, Net
from ..graph import QUANTIZABLE, consumers, fp32_copy
from .weights import int_param

ALPHA = 0.5
MAX_SAMPLES = 32
"""Samples the channel ranges are averaged over."""
MAX_FACTOR = 256.0
HOMOGENEOUS = (0, 1, 2)
"""Fused activation types with act(f·x) = f·act(x) for f > 0: none, ReLU, LeakyReLU."""
IDENTITY = ("Split", "ReLU", "PReLU", "Pooling", "Interp", "Dropout", "Noop")
"""Layers whose output channel c is a positively homogeneous function of input channel c alone."""

Source = tuple[str, int]
"""An output channel of a producer: (layer name, channel)."""


@dataclass
class Plan:
    """Where each blob's channels come from, and which producer channels may be scaled."""

    channels: dict[str, list[Source | None]]
    """Blob -> the source of each of its channels (None: not a scalable producer's output)."""
    pinned: set[Source] = field(default_factory=set)
    """Source channels something reads that would not absorb a scale."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Layer -> why its channels are pinned (for the report)."""

    def free(self, layer: str, count: int) -> np.ndarray:
        return np.array([(layer, c) not in self.pinned for c in range(count)])


def _channels(shape: tuple[int, ...]) -> int | None:
    """The channel count of a 3-D (c, h, w) or 1-D (w,) blob; None for other ranks."""
    return shape[0] if len(shape) in (1, 3) else None


def _producer_ok(layer: Layer) -> str | None:
    """Why ``layer``'s output channels cannot be scaled, or None."""
    if layer.param(8) not in (0, None):
        return "already int8"
    if layer.type != "InnerProduct" and layer.param(19) not in (0, None):
        return "dynamic weights"
    if layer.param(9) not in HOMOGENEOUS:
        return f"fused activation {layer.param(9)} is not positively homogeneous"
    return None


def _absorbs(layer: Layer, shape: tuple[int, ...]) -> bool:
    """Whether ``layer`` can divide the inputs of each channel of its input blob by a factor."""
    if layer.type not in QUANTIZABLE or layer.param(8) not in (0, None):
        return False
    if layer.type == "InnerProduct":
        return len(shape) in (1, 3)
    pad_value = layer.param(18)
    return len(shape) == 3 and layer.param(19) in (0, None) and pad_value in (0, 0.0, None)


def _route(layer: Layer, inputs: list[list[Source | None]], shapes: dict[str, tuple[int, ...]]) -> (
    list[list[Source | None]] | None
):
    """The channel sources of ``layer``'s outputs given its inputs', or None when the layer does
    not pass a per-channel scale through."""
    kind = layer.type
    if kind in IDENTITY:
        return [list(inputs[0]) for _ in layer.tops] if len(inputs) == 1 else None
    if kind == "Concat" and layer.param(0) in (0, None):
        return [[c for part in inputs for c in part]]
    if kind == "Slice" and layer.param(1) in (0, None) and len(inputs) == 1:
        parts, start = [], 0
        for top in layer.tops:
            n = _channels(shapes[top])
            if n is None:
                return None
            parts.append(inputs[0][start : start + n])
            start += n
        return parts if start == len(inputs[0]) else None
    if kind == "ShuffleChannel" and len(inputs) == 1:
        src = inputs[0]
        group = int_param(layer, 0) or 1
        groups = len(src) // group if layer.param(1) not in (0, None) else group
        if groups <= 0 or len(src) % groups:
            return None
        per_group = len(src) // groups
        out: list[Source | None] = [None] * len(src)
        for i in range(groups):
            for j in range(per_group):
                out[groups * j + i] = src[per_group * i + j]
        return [out]
    return None


def plan(model: Model, shapes: dict[str, tuple[int, ...]]) -> Plan:
    """Follows every blob's channels from their producers to their readers (file order is
    topological) and pins the channels that reach something that would not absorb a scale."""
    result = Plan({})
    readers = consumers(model)

    def pin(blob: str, why: str) -> None:
        for src in result.channels.get(blob, []):
            if src is not None and src not in result.pinned:
                result.pinned.add(src)
                result.reasons.setdefault(src[0], why)

    def sources(blob: str) -> list[Source | None] | None:
        if blob in result.channels:
            return result.channels[blob]
        n = _channels(shapes.get(blob, ()))
        return None if n is None else [None] * n

    for layer in model.layers:
        inputs = [sources(b) for b in layer.bottoms]
        if layer.type in QUANTIZABLE:
            if layer.bottoms and not _absorbs(layer, shapes.get(layer.bottoms[0], ())):
                pin(layer.bottoms[0], f"read by {layer.name}, which cannot absorb a scale")
            n = _channels(shapes.get(layer.tops[0], ())) if layer.tops else None
            if n is not None:
                why = _producer_ok(layer)
                result.channels[layer.tops[0]] = [None if why else (layer.name, c) for c in range(n)]
                if why:
                    result.reasons[layer.name] = why
            continue
        routed = None
        if all(i is not None for i in inputs) and layer.bottoms:
            routed = _route(layer, [i for i in inputs if i is not None], shapes)
        if routed is None:
            for b in layer.bottoms:
                pin(b, f"read by {layer.type} {layer.name}")
            continue
        for top, channels in zip(layer.tops, routed):
            result.channels[top] = channels
    for blob in model.outputs:
        pin(blob, f"reaches the model output {blob}")
    for blob in result.channels:
        if blob not in readers and blob not in model.outputs:
            pin(blob, "unread blob")
    return result


def channel_ranges(model: Model, layers: Sequence[Layer], samples: Sequence[dict[str, np.ndarray]],
                   threads: int) -> dict[str, np.ndarray]:
    """Per output channel of each layer: the mean over samples of its per-sample |max|."""
    net = Net(model, threads=threads)
    tops = [layer.tops[0] for layer in layers]
    total: dict[str, np.ndarray] = {}
    for sample in samples:
        out = net.run(sample, tops)
        for top in tops:
            a = out[top]
            m = np.abs(a.reshape(a.shape[0], -1)).max(axis=1).astype(np.float64)
            total[top] = total.get(top, 0.0) + m
    return {layer.name: total[layer.tops[0]] / max(1, len(samples)) for layer in layers}


def factors(ranges: np.ndarray, free: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """f_c = (r_median / r_c)^alpha over the free, live channels; 1 elsewhere."""
    live = free & (ranges > 0)
    f = np.ones(len(ranges))
    if not live.any():
        return f
    median = float(np.median(ranges[live]))
    f[live] = np.clip((median / ranges[live]) ** alpha, 1.0 / MAX_FACTOR, MAX_FACTOR)
    return f


def scale_outputs(layer: Layer, f: np.ndarray) -> None:
    """Multiplies output channel c of ``layer`` (its weight row and bias) by f[c]."""
    w = np.asarray(layer.weights["weight"], dtype=np.float64)
    layer.set_weight("weight", (w.reshape(len(f), -1) * f[:, None]).ravel())
    if "bias" in layer.weights:
        layer.set_weight("bias", np.asarray(layer.weights["bias"], dtype=np.float64) * f)


def scale_inputs(layer: Layer, f: np.ndarray) -> None:
    """Divides the weights ``layer`` applies to input channel c by f[c] (Convolution,
    ConvolutionDepthWise with any grouping, InnerProduct on a flattened (c, h, w) or (c,) blob)."""
    w = np.asarray(layer.weights["weight"], dtype=np.float64)
    outputs = int_param(layer, 0)
    channels = len(f)
    groups = (int_param(layer, 7) or 1) if layer.type == "ConvolutionDepthWise" else 1
    per_in, per_out = channels // groups, outputs // groups
    w = w.reshape(groups, per_out, per_in, -1) / f.reshape(groups, 1, per_in, 1)
    layer.set_weight("weight", w.ravel())


@dataclass
class Report:
    """What equalization did: scaled producers with their largest and smallest factor, and the
    producers left alone with why."""

    scaled: dict[str, tuple[float, float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def equalize(
    model: Model, samples: Sequence[dict[str, np.ndarray]], threads: int, alpha: float = ALPHA
) -> tuple[Model, Report]:
    """A copy of ``model`` (fp32) computing the same function, with the channels of every blob
    whose producers and readers allow it scaled to similar ranges (measured on ``samples``)."""
    out = fp32_copy(model)
    first = Net(out, threads=threads).run(samples[0], out.blobs)
    shapes = {blob: tuple(a.shape) for blob, a in first.items()}
    p = plan(out, shapes)
    producers = [layer for layer in out.layers if layer.type in QUANTIZABLE and layer.tops
                 and p.channels.get(layer.tops[0]) and p.channels[layer.tops[0]][0] is not None]
    ranges = channel_ranges(out, producers, samples, threads)
    report = Report()
    f_of: dict[str, np.ndarray] = {}
    for layer in producers:
        f = factors(ranges[layer.name], p.free(layer.name, len(ranges[layer.name])), alpha)
        if np.all(f == 1.0):
            report.skipped[layer.name] = p.reasons.get(layer.name, "nothing to even out")
            continue
        f_of[layer.name] = f
        report.scaled[layer.name] = (float(f.min()), float(f.max()))
    for layer in out.layers:
        if layer.name in p.reasons and layer.name not in f_of and layer.type in QUANTIZABLE:
            report.skipped.setdefault(layer.name, p.reasons[layer.name])
    for layer in out.layers:
        if layer.name in f_of:
            scale_outputs(layer, f_of[layer.name])
        if layer.type in QUANTIZABLE and layer.bottoms and layer.bottoms[0] in p.channels:
            g = np.array([f_of[s[0]][s[1]] if s is not None and s[0] in f_of else 1.0
                          for s in p.channels[layer.bottoms[0]]])
            if not np.all(g == 1.0):
                scale_inputs(layer, g)
    return out, report
