"""``shift``: ReLU outputs use int8's negative half. ncnn's int8 is symmetric, so a blob of ReLU
outputs, all ≥ 0, is stored in 0..127: half of int8's levels are never used. Subtracting a
constant c = T/2 (T the blob's clipping threshold) centres the blob on zero and the same table
line then covers it with twice as many levels, which halves the rounding error of every value.

It is done in the fp32 model, exactly, with what ncnn layers already have:

- the producer's fused ReLU becomes a fused Clip(−c, +∞) after a bias lowered by c
  (max(z − c, −c) = relu(z) − c); a fused Clip(0, m) becomes Clip(−c, m − c);
- every reader adds c·Σ(weights) to its bias, so its outputs do not change; its input scale
  doubles (the threshold is now T/2 either side), so 0 maps to −127 exactly;
- in the int8 file the reader's bias compensates the shift with the int8 weights it really has
  (layerwise.LayerInputs.base_bias): its weights' rounding error is not multiplied by c.

LeakyReLU outputs (nanodet_m has them everywhere) waste levels the same way: with slope 0.1 a
blob reaching T above zero reaches a fraction of that below (its lower bound `low`, the lowest
value seen on the samples: about −0.05 to −0.6 on nanodet_m where T is 0.3 to 5), so
c = (T + low)/2 centres [low, T] and the threshold becomes (T − low)/2, not T/2. LeakyReLU(z) − c
is no fused activation ncnn has, so a BinaryOp after the producer subtracts c (in float: the
producer then writes float, not int8 requantized for its reader); the readers are compensated as
above. nanodet_m, `best+cle+shift+round+bc`, held out in real ncnn: 19.7 / 17.1 → 20.7 / 17.9 dB
(mean / worst output).

A blob is shifted only when that stays exact: its producers are Convolution, ConvolutionDepthWise
or InnerProduct layers with a fused ReLU (or Clip from 0, or LeakyReLU) and a bias, all of them
shifted alike; between them and their readers only Split, Concat (channels), max Pooling, global
average Pooling, ShuffleChannel and Slice, which commute with subtracting a constant; every reader
is a quantizable layer that has a bias. Blobs reaching a model output are never shifted.

Readers of one group may read with different scales: a ShuffleNet stage (nanodet_m's backbone)
is one group, every unit's Concat → ShuffleChannel → Slice passing half of its channels on to
the next unit, each unit's reader with its own threshold T_r. One c serves them all: the one
centring the narrowest reader's range, c = (min T_r + low)/2; every reader then reads with the
threshold T_r − c. nanodet_m, `best+cle+shift+round+bc`: 3 more groups (its three stages), 20.1 /
17.6 → 20.2 / 17.7 dB on the development split (125 even-indexed images given, the other 125
judged, both ways round, pooled), 20.7 / 17.9 → 20.9 / 18.2 dB held out in real ncnn;
squeezenet_v1.1 and mnet.25 unchanged (97.2 %, 28.8 dB; 31.9 / 18.2 dB).

A reader that pads (3x3 convolutions) would read 0 at the border where the shifted blob means −c,
and an int8 convolution pads its int8 input with zeros. So its padding moves into a Padding layer
in front of it, filling with −c in float (which the int8 layer then quantizes to −127 exactly):
still layers every ncnn runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .._native import Layer, Model, Net
from ..graph import PADS, QUANTIZABLE, consumers, explicit_padding, fp32_copy, producers, subtract_after
from ..table import Table, stored_scale
from .weights import int_param

FLT_MAX = 3.4028234663852886e38
PASS_THROUGH = ("Split", "Concat", "Pooling", "ShuffleChannel", "Slice")


@dataclass
class Group:
    """Producers shifted together and the layers reading their outputs."""

    producers: list[str]
    readers: list[str]
    shift: float = 0.0


@dataclass
class Report:
    groups: list[Group] = field(default_factory=list)

    @property
    def shifts(self) -> dict[str, float]:
        """Reader layer -> the constant subtracted from its input."""
        return {r: g.shift for g in self.groups for r in g.readers}


def _pads(layer: Layer) -> bool:
    if layer.type == "InnerProduct":
        return False
    return any(layer.param(i) not in (0, None) for i in PADS.values())


def _paddable(layer: Layer) -> bool:
    """Whether ``layer``'s zero padding can become a Padding layer of another value (explicit,
    non-negative pads, pad value 0)."""
    pads = [layer.param(i) for i in PADS.values()]
    return all(isinstance(p, int) and p >= 0 for p in pads) and layer.param(18) in (0, 0.0, None)


def _passes(layer: Layer) -> bool:
    """Whether ``layer`` commutes with subtracting one constant from every value."""
    if layer.type == "Split":
        return True
    if layer.type == "Concat":
        return layer.param(0) in (0, None)
    if layer.type == "Pooling":
        return layer.param(0) == 0 or layer.param(4) == 1  # max, or global average
    return layer.type in ("ShuffleChannel", "Slice")  # they move values, never change them


def _shiftable(layer: Layer, lows: Mapping[str, float]) -> bool:
    """A producer whose output can be shifted: a fused ReLU or Clip from 0 (``lows``: each LeakyReLU
    producer's measured lower bound, those producers too)."""
    if layer.type not in QUANTIZABLE or "bias" not in layer.weights or layer.param(8) not in (0, None):
        return False
    act = layer.param(9)
    if act == 1:
        return True
    if act == 2:
        return layer.name in lows
    if act == 3:
        lo = _activation_params(layer)
        return len(lo) == 2 and lo[0] == 0.0
    return False


def _activation_params(layer: Layer) -> list[float]:
    value = layer.param(10)
    return [float(v) for v in value] if isinstance(value, list) else []


class _Graph:
    def __init__(self, model: Model):
        self.model = model
        self.readers = consumers(model)
        self.producers = producers(model)
        self.outputs = set(model.outputs)

    def readers_of(self, layer: Layer) -> list[Layer] | None:
        """Quantizable layers reading ``layer``'s output through pass-through layers; None when
        something else reads it."""
        found: list[Layer] = []
        stack = list(layer.tops)
        while stack:
            blob = stack.pop()
            if blob in self.outputs or blob not in self.readers:
                return None
            for reader in self.readers[blob]:
                if reader.type in QUANTIZABLE:
                    found.append(reader)
                elif _passes(reader):
                    stack.extend(reader.tops)
                else:
                    return None
        return found

    def sources_of(self, blob: str) -> list[Layer] | None:
        """The producers whose outputs make ``blob`` through pass-through layers; None when
        another kind of layer contributes."""
        layer = self.producers.get(blob)
        if layer is None:
            return None
        if layer.type in QUANTIZABLE:
            return [layer]
        if not _passes(layer):
            return None
        found: list[Layer] = []
        for b in layer.bottoms:
            s = self.sources_of(b)
            if s is None:
                return None
            found += s
        return found


def plan(model: Model, table: Table, lows: Mapping[str, float] | None = None) -> list[Group]:
    """The groups of producers and readers that can be shifted exactly (see the module docs);
    ``lows``: the LeakyReLU producers that may be, with their outputs' lower bounds."""
    lows = lows or {}
    g = _Graph(model)
    taken: set[str] = set()
    groups = []
    for layer in model.layers:
        if layer.name in taken or not _shiftable(layer, lows):
            continue
        group_producers = {layer.name: layer}
        group_readers: dict[str, Layer] = {}
        pending = [layer]
        ok = True
        while pending and ok:
            p = pending.pop()
            readers = g.readers_of(p)
            if not readers:
                ok = False
                break
            for r in readers:
                if r.name in group_readers:
                    continue
                if (_pads(r) and not _paddable(r)) or "bias" not in r.weights or r.name not in table.activations:
                    ok = False
                    break
                group_readers[r.name] = r
                sources = g.sources_of(r.bottoms[0])
                if sources is None:
                    ok = False
                    break
                for s in sources:
                    if s.name not in group_producers:
                        if not _shiftable(s, lows) or s.name in taken:
                            ok = False
                            break
                        group_producers[s.name] = s
                        pending.append(s)
        if not ok:
            continue
        taken.update(group_producers)
        groups.append(Group(sorted(group_producers), sorted(group_readers)))
    return groups


def lower_bounds(model: Model, samples: Sequence[Mapping[str, np.ndarray]], threads: int) -> dict[str, float]:
    """Each LeakyReLU producer's (quantizable layer with a fused LeakyReLU) output lower bound: the
    lowest value it gives on ``samples``, at most 0. The search after the shift (eq, best) then
    chooses the threshold; a bound that clips the negative side (the mean over samples of each
    one's minimum, or half of it) did no better: nanodet_m, 125 even-indexed images judged by the
    other 125 both ways round, 20.0 / 17.5 dB with the mean against 20.1 / 17.6 with the lowest."""
    leaky = [layer for layer in model.layers if layer.type in QUANTIZABLE and layer.param(9) == 2 and layer.tops]
    if not leaky or not samples:
        return {}
    net = Net(model, threads=threads)
    lowest = dict.fromkeys((layer.name for layer in leaky), 0.0)
    for sample in samples:
        out = net.run(dict(sample), [layer.tops[0] for layer in leaky])
        for layer in leaky:
            lowest[layer.name] = min(lowest[layer.name], float(np.min(out[layer.tops[0]])))
    return lowest


def shift(model: Model, table: Table, lows: Mapping[str, float] | None = None) -> tuple[Model, Table, Report]:
    """A copy of ``model`` computing the same function with every shiftable blob centred, and
    the table for it (the readers' input scales as the table file holds them). ``lows``: the
    LeakyReLU producers to shift too, with their outputs' lower bounds (:func:`lower_bounds`)."""
    lows = lows or {}
    new = Table(dict(table.weights), dict(table.activations), [replace(r) for r in table.report])
    groups = plan(model, table, lows)
    scales: dict[str, float] = {}
    report = Report()
    for group in groups:
        # The blob's values lie in [low, T] (low = 0 after a ReLU): centred on zero by c = (T + low) / 2,
        # the threshold becomes (T - low) / 2, its lowest value mapping to -127 exactly. Readers with
        # wider thresholds T_r (see the module docs) read with T_r - c.
        thresholds = {r: 127.0 / table.activations[r] for r in group.readers}
        threshold = min(thresholds.values())
        low = min((lows[p] for p in group.producers if model.layer(p).param(9) == 2), default=0.0)
        if -low >= threshold:
            continue  # no narrower than before
        uniform = len(set(thresholds.values())) == 1
        scale = stored_scale(2.0 * table.activations[group.readers[0]] if low == 0.0 and uniform
                             else 254.0 / (threshold - low))
        c = 127.0 / scale + low
        # A LeakyReLU producer's c is subtracted by a BinaryOp, whose parameter ncnn reads as
        # written (six decimals, as a table's scales): c is that value, exactly as ncnn has it.
        group.shift = float(np.float32(stored_scale(c))) if low < 0.0 or not uniform else c
        if group.shift <= 0.0:
            continue
        for reader, t in thresholds.items():
            scales[reader] = scale if t == threshold else stored_scale(127.0 / (t - group.shift))
        report.groups.append(group)
    subtracted = {model.layer(p).tops[0]: stored_scale(g.shift) for g in report.groups for p in g.producers
                  if model.layer(p).param(9) == 2}
    # What ncnn reads as -c, for the padding too: c itself when it is the six-decimal value.
    written = {id(g): stored_scale(g.shift) if stored_scale(g.shift) == np.float32(g.shift) else g.shift
               for g in report.groups}
    padded = {r: -written[id(g)] for g in report.groups for r in g.readers if _pads(model.layer(r))}
    out = subtract_after(model, subtracted) if subtracted else model
    out = explicit_padding(out, padded) if padded else fp32_copy(out)
    for group in report.groups:
        c = group.shift
        for name in group.producers:
            layer = out.layer(name)
            if layer.param(9) == 2:
                continue  # a BinaryOp after it subtracts c: LeakyReLU(z) - c is no fused activation
            layer.set_weight("bias", np.asarray(layer.weights["bias"], dtype=np.float64) - c)
            high = FLT_MAX if layer.param(9) == 1 else _activation_params(layer)[1] - c
            layer.set_param(9, 3)
            layer.set_param(10, [-c, high])
        for name in group.readers:
            layer = out.layer(name)
            w = np.asarray(layer.weights["weight"], dtype=np.float64).reshape(int_param(layer, 0), -1)
            layer.set_weight("bias", np.asarray(layer.weights["bias"], dtype=np.float64) + c * w.sum(axis=1))
            new.activations[name] = scales[name]
    for r in new.report:
        if r.layer in report.shifts:
            r.scale = new.activations[r.layer]
            r.warnings = [*r.warnings, f"input shifted by {report.shifts[r.layer]:.4g}"]
    return out, new, report
