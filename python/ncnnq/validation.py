"""Candidate int8 configurations judged on validation samples, exactly as their files would run.

A :class:`Config` says which quantizable layers are int8 and with which scales (and, optionally,
int8 weights and biases). :class:`Validation` runs configurations on the validation samples with
the native network probe, whose nets compute bit for bit what ``ncnnq int8`` writes for them
(requantize fusion and the quantize/dequantize boundaries a float layer adds included), and
compares their outputs with the fp32 model's.

Running from cached activations: every layer before a configuration's first int8 layer is the
float file's, so its run starts there, fed with the blobs that cross that point as the all-float
file computes them (one pass per sample, shared by every configuration measured with it). A
configuration whose first int8 layer sits late in the network costs only the layers after it.
Samples are processed one after another (``threads`` at a time), so memory holds one sample's
blobs per thread, never the whole set's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from ._native import Model, Net, NetworkProbe
from .errors import InputError
from .evaluate import Outputs, Quality, SampleComparison, compare_sample, pool
from .samples import Tensors

Metric = Callable[[Sequence[Outputs], Sequence[Outputs]], float]
"""A task metric: (fp32 outputs, int8 outputs), one dict per validation sample -> a figure where
higher is better (e.g. mAP, OCR box agreement, PSNR)."""

QUANTIZABLE_TYPES = ("Convolution", "ConvolutionDepthWise", "InnerProduct")


@dataclass(frozen=True)
class Config:
    """Which quantizable layers are int8 and how: the table's scales (``weights``:
    ``<layer>_param_0`` -> per-channel scales, ``activations``: layer -> input scale), the layers
    made int8, and per-layer int8 weights or fp32 biases replacing what the scales give."""

    weights: Mapping[str, npt.NDArray[np.float32]]
    activations: Mapping[str, float]
    int8: frozenset[str]
    int8_weights: Mapping[str, npt.NDArray[np.int8]] = field(default_factory=dict)
    biases: Mapping[str, npt.NDArray[np.float32]] = field(default_factory=dict)

    def with_int8(self, layers: Collection[str]) -> Config:
        """The same choices with exactly ``layers`` int8 (overrides of the others dropped)."""
        chosen = frozenset(layers)
        return replace(
            self,
            int8=chosen,
            int8_weights={k: v for k, v in self.int8_weights.items() if k in chosen},
            biases={k: v for k, v in self.biases.items() if k in chosen},
        )


@dataclass(frozen=True)
class _Graph:
    """The file order of layers and blobs, for finding what crosses a point of the network."""

    layers: tuple[str, ...]
    producer: dict[str, int]
    last_reader: dict[str, int]
    inputs: tuple[str, ...]

    @staticmethod
    def of(model: Model) -> _Graph:
        producer: dict[str, int] = {}
        last_reader: dict[str, int] = {}
        for i, layer in enumerate(model.layers):
            for b in layer.bottoms:
                last_reader[b] = i
            for t in layer.tops:
                producer[t] = i
        return _Graph(tuple(layer.name for layer in model.layers), producer, last_reader, tuple(model.inputs))

    def crossing(self, point: int) -> list[str]:
        """Blobs made before layer ``point`` and read at or after it: what a run starting there is fed."""
        return [b for b, p in self.producer.items() if p < point and self.last_reader.get(b, -1) >= point]


class Validation:
    """The validation samples, the fp32 model's outputs on them, and the probe that runs candidate
    configurations (see the module docs). ``outputs``: the blobs compared (default: the model's);
    ``reference``: their fp32 values on ``samples`` when already known (from a model computing the
    same function, e.g. before equalization)."""

    def __init__(
        self,
        model: Model,
        samples: Sequence[Tensors],
        threads: int = 1,
        *,
        fp32_storage: bool = False,
        outputs: Sequence[str] | None = None,
        reference: Sequence[Outputs] | None = None,
    ) -> None:
        if not samples:
            raise InputError("no validation samples: the accuracy of an int8 configuration cannot be judged")
        self.model = model
        self.samples = list(samples)
        self.threads = max(1, threads)
        self.outputs = list(outputs or model.outputs)
        self.probe = NetworkProbe(model, threads=self.threads, fp32=fp32_storage)
        self._graph = _Graph.of(model)
        self._index = {name: i for i, name in enumerate(self._graph.layers)}
        self._float_net = self.probe.net({}, {}, int8=[])
        if reference is not None:
            self.reference: list[Outputs] = list(reference)
            return
        fp32 = Net(model, threads=self.threads)
        self.reference = self._map(lambda i: fp32.run(self.samples[i], self.outputs))

    def subset(self, count: int, weights: Sequence[float] | None = None) -> Validation:
        """``count`` of the samples sharing this one's probe and fp32 outputs: spread evenly, or,
        with ``weights`` (one per sample), the half that weigh most and an even spread of the rest."""
        n = len(self.samples)
        if count >= n:
            return self
        chosen: list[int] = []
        if weights is not None:
            chosen = sorted(range(n), key=lambda i: -weights[i])[: count // 2]
        rest = [i for i in range(n) if i not in set(chosen)]
        need = count - len(chosen)
        chosen += [rest[int(k * len(rest) / need)] for k in range(need)]
        keep = sorted(chosen)
        other = copy.copy(self)
        other.samples = [self.samples[i] for i in keep]
        other.reference = [self.reference[i] for i in keep]
        return other

    def weights(self, metric: str) -> list[float]:
        """How much each sample weighs in a figure: its share of the outputs' energy for ``sqnr`` and ``sqnr_mean``
        (which pooling is dominated by), the smallness of its top-1 margin for ``top1``; equal
        otherwise."""
        n = len(self.reference)
        if metric in ("sqnr", "sqnr_mean"):
            energy = np.array([[float(np.vdot(r[o], r[o])) for o in self.outputs] for r in self.reference])
            share = energy / np.maximum(energy.sum(axis=0, keepdims=True), 1e-300)
            return [float(v) for v in share.sum(axis=1)]
        if metric == "top1":
            first = self.outputs[0]
            margins = []
            for r in self.reference:
                top = np.sort(np.asarray(r[first], dtype=np.float64).ravel())[::-1]
                margins.append(-float(top[0] - top[1]) if top.size > 1 else 0.0)
            return margins
        return [1.0] * n

    def _map(self, work: Callable[[int], object]) -> list:  # type: ignore[type-arg]  # the callers' own types
        """``work(i)`` for every sample index, ``threads`` samples at a time, results in order."""
        with ThreadPoolExecutor(max_workers=self.threads) as pool_:
            return list(pool_.map(work, range(len(self.samples))))

    def start(self, config: Config) -> int:
        """Where a run of ``config`` starts: the file index of its first int8 layer."""
        return min((self._index[name] for name in config.int8), default=len(self._graph.layers))

    def _run(self, i: int, net: Net, start: int, fed: Mapping[str, np.ndarray]) -> Outputs:
        """Sample ``i``'s outputs from ``net``, started at layer ``start`` with the blobs crossing it;
        outputs made before ``start`` come from the all-float run."""
        later = [o for o in self.outputs if self._graph.producer.get(o, -1) >= start]
        got = dict(net.run({b: fed[b] for b in self._graph.crossing(start)}, later)) if later else {}
        return {o: got[o] if o in got else fed[o] for o in self.outputs}

    def _float_blobs(self, i: int, starts: Collection[int], also: Collection[str] = ()) -> dict[str, np.ndarray]:
        """The all-float file's blobs of sample ``i`` that runs starting at ``starts`` are fed, the
        outputs made before them, and ``also``."""
        wanted = {b for s in starts for b in self._graph.crossing(s)}
        wanted |= {o for o in self.outputs for s in starts if self._graph.producer.get(o, -1) < s}
        wanted |= set(also)
        given = {b: v for b, v in self.samples[i].items()}
        todo = sorted(wanted - set(given))
        return {**given, **(dict(self._float_net.run(given, todo)) if todo else {})}

    def measure(
        self,
        configs: Sequence[Config],
        *,
        inspect: Sequence[str] = (),
        observe: Callable[[int, Mapping[str, np.ndarray]], None] | None = None,
        advance: Callable[[int], None] | None = None,
    ) -> list[Quality]:
        """Each configuration's :class:`Quality` on the validation samples. ``observe(i, blobs)``, if
        given, sees sample ``i``'s all-float blobs (those runs are fed, and ``inspect``);
        ``advance(1)`` is called as each sample is done."""
        nets = [self.net(c) for c in configs]
        starts = [self.start(c) for c in configs]

        def one(i: int) -> list[SampleComparison]:
            blobs = self._float_blobs(i, set(starts), inspect)
            if observe is not None:
                observe(i, blobs)
            row = [
                compare_sample(self.reference[i], self._run(i, net, s, blobs), self.outputs)
                for net, s in zip(nets, starts)
            ]
            if advance is not None:
                advance(1)
            return row

        per_sample: list[list[SampleComparison]] = self._map(one)
        return [pool([row[k] for row in per_sample], self.outputs) for k in range(len(configs))]

    def run_outputs(self, config: Config) -> list[Outputs]:
        """``config``'s outputs on every validation sample (for a task metric)."""
        net, start = self.net(config), self.start(config)
        outputs: list[Outputs] = self._map(lambda i: self._run(i, net, start, self._float_blobs(i, [start])))
        return outputs

    def score(self, config: Config, metric: Metric) -> float:
        """A task metric of ``config`` on the validation samples."""
        return float(metric(self.reference, self.run_outputs(config)))

    def net(self, config: Config) -> Net:
        return self.probe.net(
            dict(config.weights),
            dict(config.activations),
            int8=sorted(config.int8),
            int8_weights=dict(config.int8_weights),
            biases=dict(config.biases),
        )

    def model_for(self, config: Config) -> Model:
        """The int8 model ``config`` makes (what ``ncnnq int8`` writes for it)."""
        model, _ = self.probe.model(
            dict(config.weights),
            dict(config.activations),
            int8=sorted(config.int8),
            int8_weights=dict(config.int8_weights),
            biases=dict(config.biases),
        )
        return model


def quantizable_layers(model: Model) -> list[str]:
    """The Convolution, ConvolutionDepthWise and InnerProduct layers, in file order."""
    return [layer.name for layer in model.layers if layer.type in QUANTIZABLE_TYPES and layer.bottoms]


def layer_macs(model: Model, sample: Tensors, layers: Sequence[str]) -> dict[str, int]:
    """Multiply-accumulates of each layer on one sample: weights × output positions (rows of a 2-D
    InnerProduct input)."""
    tops = {name: model.layer(name).tops[0] for name in layers}
    shapes = {name: v.shape for name, v in Net(model).run(sample, sorted(set(tops.values()))).items()}
    macs = {}
    for name in layers:
        layer = model.layer(name)
        weights = int(np.asarray(layer.weights["weight"]).size)
        shape = shapes[tops[name]]
        if layer.type == "InnerProduct":
            positions = shape[0] if len(shape) == 2 else 1
        else:
            positions = int(np.prod(shape[1:])) if len(shape) >= 2 else 1
        macs[name] = weights * positions
    return macs
