"""The layer-by-layer pass that learned rounding and bias correction share: every quantizable
layer, in network order, sees its inputs twice at the same sampled positions: as the fp32 model
computes them, and as the int8 model, with every earlier layer already int8 as it will be
written (its rounding and bias decided), computes them. So each layer corrects the error it
really receives.

Both paths advance from cut to cut (the blobs crossing the cut before each layer, file order
being topological), so the whole pass costs about one fp32 and one int8 forward pass per sample;
the int8 one is a network probe's net, bit for bit the written file. Memory: two sets of cut
blobs per sample, for at most ``MAX_SAMPLES`` samples, and one layer's patches at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from .. import _native
from .._native import Layer, LayerProbe, Model, Net, Patches
from ..graph import QUANTIZABLE, fp32_copy, live_blobs
from ..progress import Progress
from ..table import Table

MAX_SAMPLES = 32
POSITIONS = 4096
"""Output positions per layer, spread over the samples."""
EXACT = False
"""Simulate with the probe's portable epilogue, as eq does: decisions do not depend on the CPU."""


@dataclass
class LayerInputs:
    """One quantizable layer during the pass: its probes, its inputs on both paths at the same
    positions, its scales and the shift of its input (see shift.py)."""

    probe: LayerProbe
    linear: LayerProbe
    """The same layer without its fused activation: pre-activation outputs."""
    fp32: Patches
    """fp32-path inputs, with the fp32 outputs there (``reference``)."""
    int8: Patches
    """int8-path inputs at the same positions: what the int8 layer receives."""
    weight_scales: npt.NDArray[np.float32]
    input_scale: float
    input_shift: float = 0.0
    """The constant c subtracted from every input value (0: none)."""
    sample_of: npt.NDArray[np.int64] | None = None
    """The sample each position (column) comes from (None: all from one)."""
    threads: int = 1
    """Threads the pass may use: a visit may work on independent candidates concurrently."""

    @property
    def samples(self) -> npt.NDArray[np.int64]:
        """The sample of each position: positions of one sample are alike (the same image), so
        what is fitted on some samples is judged on others."""
        if self.sample_of is None:
            return np.zeros(self.int8.columns, dtype=np.int64)
        return self.sample_of

    @property
    def name(self) -> str:
        return self.probe.name

    @cached_property
    def weights(self) -> npt.NDArray[np.float64]:
        """fp32 weights, (num_output, rows)."""
        return self.probe.weights.reshape(self.probe.num_output, -1).astype(np.float64)

    @cached_property
    def bias(self) -> npt.NDArray[np.float64]:
        b = self.probe.bias
        return np.zeros(self.probe.num_output) if b is None else b.astype(np.float64)

    @property
    def group_of_output(self) -> npt.NDArray[np.int64]:
        p = self.probe
        return np.arange(p.num_output) // (p.num_output // p.groups)

    @property
    def unit_scales(self) -> npt.NDArray[np.float64]:
        """The weight scale of each output channel."""
        return np.repeat(self.weight_scales.astype(np.float64), self.probe.outputs_per_scale)

    @cached_property
    def quantized_input(self) -> npt.NDArray[np.int8]:
        """The int8 input the layer multiplies: (groups, rows, positions)."""
        return self.probe.quantize_input(self.int8, self.input_scale)

    @cached_property
    def fp32_preactivation(self) -> npt.NDArray[np.float64]:
        """W·x + b on the fp32 path: (num_output, positions)."""
        x = self.fp32.x
        w = self.weights.astype(np.float32)
        groups = self.group_of_output
        y = np.empty((self.probe.num_output, x.shape[2]), dtype=np.float64)
        for g in range(x.shape[0]):
            rows = groups == g
            y[rows] = w[rows] @ x[g]
        return y + self.bias[:, None]

    @cached_property
    def reference(self) -> npt.NDArray[np.float64]:
        """The fp32 layer's outputs (after its activation): (num_output, positions)."""
        ref = self.fp32.reference
        assert ref is not None
        return ref.reshape(self.probe.num_output, -1).astype(np.float64)

    def nearest(self) -> npt.NDArray[np.int8]:
        """The int8 weights ncnn2int8 writes for the scales: (num_output, rows)."""
        return self.probe.quantize_weights(self.weight_scales)

    def base_bias(self, q: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
        """The int8 layer's bias for weights ``q``: the fp32 bias, plus, for a shifted input,
        the exact compensation of the shift with the weights the int8 layer really has."""
        if self.input_shift == 0.0:
            return self.bias
        dequantized = q.astype(np.float64) / self.unit_scales[:, None]
        return np.asarray(self.bias + self.input_shift * (dequantized - self.weights).sum(axis=1))

    def outputs(self, q: npt.NDArray[np.int8], bias: npt.NDArray[np.float64], activation: bool = True) -> (
        npt.NDArray[np.float64]
    ):
        """The int8 layer's float outputs on the int8-path inputs, by the probe: (num_output, positions)."""
        probe = self.probe if activation else self.linear
        y = probe.simulate(self.quantized_input, self.weight_scales, self.input_scale, weights=q,
                           bias=bias.astype(np.float32), exact=EXACT)
        return np.asarray(y, dtype=np.float64).reshape(self.probe.num_output, -1)

    def errors(self, q: npt.NDArray[np.int8], bias: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Per output channel, the mean squared error of the int8 outputs against the fp32 ones."""
        d = self.outputs(q, bias) - self.reference
        return np.asarray((d * d).mean(axis=1))


@dataclass
class Decision:
    """What a visit decided for one layer: int8 weights and bias to write (None: the defaults)."""

    weights: npt.NDArray[np.int8] | None = None
    bias: npt.NDArray[np.float32] | None = None


@dataclass
class Overrides:
    """int8 weights and biases replacing the defaults, per layer: what the int8 file holds."""

    weights: dict[str, npt.NDArray[np.int8]] = field(default_factory=dict)
    biases: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)


def linear_copy(model: Model) -> Model:
    """A copy of ``model`` whose quantizable layers have no fused activation."""
    out = fp32_copy(model)
    for layer in out.layers:
        if layer.type in QUANTIZABLE:
            layer.set_param(9, 0)
    return out


def _advance(
    pool: ThreadPoolExecutor,
    nets: tuple[Net, Net],
    probe: LayerProbe,
    layer: Layer,
    cut: list[str],
    cuts: tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]],
    per_sample: int,
    seed: int,
) -> tuple[Patches, Patches, npt.NDArray[np.int64]]:
    """Every sample advanced on both paths (``nets``, ``cuts``: fp32 then int8) from its blobs
    at the previous cut to those at ``cut``, in place; returns the layer's fp32 and int8 input
    patches (with the fp32 outputs) at the same positions, and the sample of each position.
    Samples run on the pool's threads (the nets release the GIL), each independent of the others."""
    fp32_net, int8_net = nets
    fp32_cut, int8_cut = cuts

    def one(i: int) -> tuple[Patches, Patches]:
        f = fp32_net.run(fp32_cut[i], [*cut, layer.tops[0]])
        q = int8_net.run(int8_cut[i], cut)
        fp32_cut[i] = {b: f[b] for b in cut}
        int8_cut[i] = {b: q[b] for b in cut}
        return (probe.sample(f[layer.bottoms[0]], f[layer.tops[0]], per_sample, seed=i * 7919 + seed),
                probe.sample(q[layer.bottoms[0]], None, per_sample, seed=i * 7919 + seed))

    parts = list(pool.map(one, range(len(fp32_cut))))  # in sample order
    sample_of = np.repeat(np.arange(len(parts)), [q.columns for _, q in parts])
    return Patches.concat([f for f, _ in parts]), Patches.concat([q for _, q in parts]), sample_of


def layerwise(
    model: Model,
    table: Table,
    samples: Sequence[dict[str, np.ndarray]],
    visit: Callable[[LayerInputs], Decision],
    *,
    shifts: Mapping[str, float] | None = None,
    threads: int = 1,
    fp32: bool = False,
    progress: Progress,
) -> Overrides:
    """Visits every layer the table makes int8, in file order, with its :class:`LayerInputs`;
    the int8 path always runs the decisions taken so far. Returns every decision."""
    samples = list(samples)[:MAX_SAMPLES]
    shifts = shifts or {}
    names = [layer.name for layer in model.layers if layer.type in QUANTIZABLE
             and layer.name in table.activations and f"{layer.name}_param_0" in table.weights]
    index = {layer.name: i for i, layer in enumerate(model.layers)}
    linear = linear_copy(model)
    # Single-threaded nets, ``threads`` samples at a time.
    network = _native.NetworkProbe(model, threads=1, fp32=fp32)
    fp32_net = Net(model, threads=1)
    cuts = ([dict(s) for s in samples], [dict(s) for s in samples])
    per_sample = max(1, POSITIONS // max(1, len(samples)))
    done: list[str] = []
    result = Overrides()
    progress.start("layer by layer", len(names))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for j, name in enumerate(names):
            int8_net = network.net(dict(table.weights), dict(table.activations), int8=list(done),
                                   int8_weights=dict(result.weights), biases=dict(result.biases))
            probe = LayerProbe(model, name, threads)
            fp32_patches, int8_patches, sample_of = _advance(pool, (fp32_net, int8_net), probe, model.layer(name),
                                                  live_blobs(model, index[name] - 1), cuts, per_sample, j)
            inputs = LayerInputs(
                probe, LayerProbe(linear, name, threads), fp32_patches, int8_patches,
                np.asarray(table.weights[f"{name}_param_0"], dtype=np.float32), float(table.activations[name]),
                float(shifts.get(name, 0.0)), sample_of, max(1, threads),
            )
            decision = visit(inputs)
            if decision.weights is not None:
                result.weights[name] = decision.weights
            if decision.bias is not None:
                result.biases[name] = decision.bias
            done.append(name)
            progress.advance(1)
    progress.finish()
    return result
