"""Running a model once (``ncnnq run``) and timing it (``ncnnq bench``).

Inputs come from an image (ncnn2table's ``mean``/``norm``/``shape``/``pixel`` options), a ``.npy``
file, or seeded random values; a model without its ``.bin`` gets seeded random weights (int8 layers
get int8 weights and plausible scales). Outputs are summarized (shape, min/max/mean, top-k of 1-D
outputs); timings report the median and minimum and which int8 kernel paths ran.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from . import _native
from ._native import Layer, Model, Net
from .errors import InputError
from .images import InputSpec, image_tensor

T = TypeVar("T")
D = TypeVar("D")


@dataclass(frozen=True)
class RunOptions:
    """What ``ncnnq run`` / ``ncnnq bench`` feed and how (``cli.ncnn_args`` parses them from ncnn's
    ``key=value`` style). Per-input lists (``inputs``, ``mean``, ``norm``, ``shape``, ``pixel``) are in
    Input-layer order."""

    inputs: list[str] = field(default_factory=list)
    """Per input: an image path, a ``.npy`` path, or ``random`` (the default)."""
    mean: list[list[float]] = field(default_factory=list)
    norm: list[list[float]] = field(default_factory=list)
    shape: list[list[int]] = field(default_factory=list)
    pixel: list[str] = field(default_factory=list)
    threads: int = 1
    seed: int = 0
    loops: int = 10
    warmup: int = 3
    labels: Path | None = None
    top: int = 5


def load_model(param: str | Path, bin_path: str | Path | None, seed: int = 0) -> tuple[Model, str]:
    """The model and where its weights come from (the .bin, or seeded random values)."""
    if bin_path is None:
        return Model.load(param).with_random_weights(seed), f"random weights (seed {seed})"
    return Model.load(param, bin_path), str(bin_path)


def _int_param(layer: Layer, id: int) -> int:
    """An integer parameter's value; 0 when unset."""
    value = layer.param(id)
    return int(value) if isinstance(value, (int, float)) else 0


def declared_shape(model: Model, blob: str) -> tuple[int, ...] | None:
    """The numpy-order shape an Input layer declares for ``blob`` (0=w 1=h 11=d 2=c), if any."""
    for layer in model.layers:
        if layer.type == "Input" and blob in layer.tops:
            w, h, d, c = (_int_param(layer, i) for i in (0, 1, 11, 2))
            dims = [v for v in (c, d, h, w) if v > 0]
            return tuple(dims) if dims else None
    return None


def _option(values: Sequence[T], i: int, default: D) -> T | D:
    return values[i] if i < len(values) else default


def model_inputs(model: Model, options: RunOptions) -> dict[str, np.ndarray]:
    """One float32 tensor per Input of the model, from the options."""
    names = model.inputs
    if len(options.inputs) > len(names):
        raise InputError(f"{len(options.inputs)} inputs given, the model has {len(names)} ({', '.join(names)})")
    rng = np.random.default_rng(options.seed)
    tensors = {}
    for i, name in enumerate(names):
        source = _option(options.inputs, i, "random")
        shape_opt = _option(options.shape, i, None)
        if source == "random":
            shape = tuple(reversed(shape_opt)) if shape_opt else declared_shape(model, name)
            if not shape:
                raise InputError(f"input {name!r} declares no shape: give shape=[w,h,c]")
            if any(d <= 0 for d in shape):
                raise InputError(f"input {name!r}: a random input needs a positive shape, not {list(reversed(shape))}")
            tensors[name] = rng.uniform(-1, 1, size=shape).astype(np.float32)
        elif source.endswith(".npy"):
            try:
                array = np.load(source, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise InputError(f"{source}: cannot read .npy ({e})") from e
            if array.dtype != np.float32:
                raise InputError(f"{source}: .npy inputs must be float32, this one is {array.dtype}")
            tensors[name] = np.ascontiguousarray(array)
        else:
            spec = InputSpec(tuple(shape_opt or (0, 0)), _option(options.pixel, i, "BGR"),
                             tuple(_option(options.mean, i, ())), tuple(_option(options.norm, i, ())))
            tensors[name] = image_tensor(Path(source), spec)
    return tensors


@dataclass(frozen=True)
class OutputSummary:
    name: str
    shape: tuple[int, ...]
    min: float
    max: float
    mean: float
    top: list[tuple[int, float, str]]
    """(index, value, label) of the largest values of a 1-D output, best first."""


def read_labels(path: Path | None) -> list[str]:
    if path is None:
        return []
    try:
        return [line.strip() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read labels ({e})") from e


def summarize_outputs(outputs: dict[str, np.ndarray], top: int = 5, labels: Sequence[str] = ()) -> list[OutputSummary]:
    rows = []
    for name, value in outputs.items():
        finite = value[np.isfinite(value)] if value.size else value
        stats = (float(finite.min()), float(finite.max()), float(finite.mean())) if finite.size else (np.nan,) * 3
        best: list[tuple[int, float, str]] = []
        if value.ndim == 1 and value.size:
            order = np.argsort(-value, kind="stable")[:top]
            best = [(int(i), float(value[i]), labels[i] if i < len(labels) else "") for i in order]
        rows.append(OutputSummary(name, tuple(value.shape), *stats, best))
    return rows


def int8_layers(model: Model) -> tuple[int, int]:
    """(int8 layers, Convolution/ConvolutionDepthWise/InnerProduct layers)."""
    kinds = ("Convolution", "ConvolutionDepthWise", "InnerProduct")
    convs = [layer for layer in model.layers if layer.type in kinds]
    return sum(1 for layer in convs if layer.param(8)), len(convs)


def precision(model: Model) -> str:
    quantized, total = int8_layers(model)
    return f"int8 ({quantized} of {total} conv/fc layers)" if quantized else "fp32"


def kernel_calls_since(before: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """The int8 kernels that ran since ``before`` (a ``kernel_calls()`` snapshot), with counts."""
    start = {(kind, path): n for kind, path, n in before}
    return [(kind, path, n - start.get((kind, path), 0)) for kind, path, n in _native.kernel_calls()
            if n > start.get((kind, path), 0)]


@dataclass(frozen=True)
class RunResult:
    outputs: dict[str, np.ndarray]
    seconds: float
    kernels: list[tuple[str, str, int]]


def run_once(model: Model, inputs: dict[str, np.ndarray], threads: int = 1) -> RunResult:
    net = Net(model, threads=threads)
    before = _native.kernel_calls()
    start = time.perf_counter()
    outputs = net.run(inputs, model.outputs)
    seconds = time.perf_counter() - start
    return RunResult(outputs, seconds, kernel_calls_since(before))


@dataclass(frozen=True)
class BenchResult:
    threads: int
    times: list[float]
    """Seconds per run, in run order (warm-up runs excluded)."""
    cpu_times: list[float]
    """Process CPU seconds per run: less sensitive than wall time to other load on the machine."""
    kernels: list[tuple[str, str, int]]

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def minimum(self) -> float:
        return min(self.times)

    @property
    def cpu_median(self) -> float:
        return float(np.median(self.cpu_times))


def bench(
    model: Model, inputs: dict[str, np.ndarray], threads: int = 1, loops: int = 10, warmup: int = 3
) -> BenchResult:
    """Wall and CPU time of ``loops`` runs after ``warmup`` untimed ones, on ``threads`` threads."""
    net = Net(model, threads=threads)
    outputs = model.outputs
    for _ in range(warmup):
        net.run(inputs, outputs)
    before = _native.kernel_calls()
    times, cpu = [], []
    for _ in range(loops):
        c0, t0 = time.process_time(), time.perf_counter()
        net.run(inputs, outputs)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return BenchResult(threads, times, cpu, kernel_calls_since(before))
