"""``verify=1``: the written int8 files run in real ncnn (PyPI ``ncnn``) on the validation samples,
real ncnn's figures beside ncnnq's; and, when they disagree beyond noise, the first layer whose
outputs differ between the two engines (ncnn's own int8 runtime has bugs, see the README).

Real ncnn runs with fp16/bf16 storage and arithmetic off, so its float layers compute in fp32 as
ncnnq's do; int8 layers run ncnn's int8 kernels (Winograd included).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ._native import Model, Net
from .errors import InputError
from .evaluate import Outputs, Quality, compare
from .samples import Tensors
from .validation import Metric

DIVERGENCE_DB = 30.0
"""A blob whose two engines' values are further apart than this (SQNR of one against the other)
is where they diverge; the same int8 arithmetic differs by rounding only, far above it."""


def ncnn_module() -> ModuleType:
    """PyPI ``ncnn``, or an :class:`InputError` saying how to get it."""
    try:
        return importlib.import_module("ncnn")
    except ImportError:
        raise InputError("verify=1 needs real ncnn: pip install ncnn") from None


def fp32_net(ncnn: ModuleType, threads: int = 1) -> Any:  # ncnn.Net
    """An empty ncnn.Net with fp16/bf16 storage and arithmetic off, so it computes in fp32."""
    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = threads
    opt.use_fp16_storage = False
    opt.use_fp16_packed = False
    opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    return net


def load_ncnn(param: str | Path, bin_path: str | Path, threads: int = 1) -> Any:  # ncnn.Net
    """A real ncnn net on the files, computing float layers in fp32."""
    net = fp32_net(ncnn_module(), threads)
    if net.load_param(str(param)) != 0 or net.load_model(str(bin_path)) != 0:
        raise InputError(f"real ncnn could not load {param} and {bin_path}")
    return net


def run_ncnn(net: Any, inputs: Tensors, outputs: Sequence[str]) -> dict[str, np.ndarray]:
    """Real ncnn's values of ``outputs`` for one sample (int8 blobs as their int8 values)."""
    ncnn = ncnn_module()
    ex = net.create_extractor()
    ex.set_light_mode(False)
    for name, value in inputs.items():
        # A clone has ncnn's aligned channel layout (numpy's dense one is misread by some layers).
        ex.input(name, ncnn.Mat(np.ascontiguousarray(value, dtype=np.float32)).clone())
    result = {}
    for name in outputs:
        ret, mat = ex.extract(name)
        if ret != 0:
            raise InputError(f"real ncnn failed to compute blob {name!r} ({ret})")
        result[name] = np.zeros((0,), np.float32) if mat.empty() else np.array(mat, dtype=np.float32).copy()
    return result


@dataclass(frozen=True)
class Divergence:
    layer: str
    type: str
    blob: str
    sqnr_db: float
    """ncnnq's values of the blob against real ncnn's."""


@dataclass(frozen=True)
class Verification:
    """Real ncnn's figures for the written files next to ncnnq's own run of them."""

    ncnn: Quality
    ncnnq: Quality
    ncnn_value: float
    ncnnq_value: float
    agree: bool
    divergence: Divergence | None
    """When they disagree: the first layer (file order) whose output differs beyond rounding."""


def _db(a: np.ndarray, b: np.ndarray) -> float:
    """SQNR of ``b`` against ``a``; −inf where one holds NaN or inf the other does not."""
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return -math.inf
    keep = np.isfinite(a)
    a64, d = a[keep].astype(np.float64).ravel(), (b[keep].astype(np.float64) - a[keep].astype(np.float64)).ravel()
    noise, signal = float(d @ d), float(a64 @ a64)
    if noise == 0:
        return math.inf
    return -math.inf if signal == 0 else 10 * math.log10(signal / noise)


def first_divergence(model: Model, ncnn_net: Any, ncnnq_net: Net, sample: Tensors) -> Divergence | None:
    """Every blob of one sample in both engines, in file order: the first whose values differ
    beyond :data:`DIVERGENCE_DB` (or in shape)."""
    blobs = [b for b in model.blobs if b not in sample]
    ours = ncnnq_net.run(sample, blobs)
    theirs = run_ncnn(ncnn_net, sample, blobs)
    for layer in model.layers:
        for top in layer.tops:
            if top not in ours:
                continue
            a, b = ours[top], theirs[top]
            db = -math.inf if a.size != b.size else _db(a, b.reshape(a.shape) if a.ndim else b)
            if db < DIVERGENCE_DB:
                return Divergence(layer.name, layer.type, top, db)
    return None


def agree(metric: str, ours: float, theirs: float, samples: int) -> bool:
    """Whether two engines' figures differ by no more than rounding noise: 1 dB of SQNR (or 5 %
    of it), 10 % of the distance to 1 for a cosine, one sample of top-1 agreement, 1 % otherwise."""
    if math.isinf(ours) and math.isinf(theirs):
        return ours == theirs
    if metric in ("sqnr", "sqnr_mean"):
        return abs(ours - theirs) <= max(1.0, 0.05 * abs(ours))
    if metric == "cos":
        return abs(ours - theirs) <= 0.1 * max(1 - ours, 1 - theirs) + 1e-6
    if metric == "top1":
        return abs(ours - theirs) <= 1.0 / samples + 1e-9
    return abs(ours - theirs) <= 0.01 * max(abs(ours), abs(theirs)) + 1e-9


def verify(
    param: str | Path,
    bin_path: str | Path,
    samples: Sequence[Tensors],
    reference: Sequence[Outputs],
    outputs: Sequence[str],
    metric: str,
    *,
    task_metric: Metric | None = None,
    threads: int = 1,
) -> Verification:
    """Runs the files in real ncnn and in ncnnq on ``samples`` and compares both with the fp32
    ``reference`` outputs; ``metric``: ``sqnr``, ``sqnr_mean``, ``cos`` or ``top1`` (what the target reads), or
    any name with ``task_metric`` given."""
    theirs_net = load_ncnn(param, bin_path, threads)
    ours_net = Net(param, bin_path, threads=threads)
    theirs = [run_ncnn(theirs_net, s, outputs) for s in samples]
    ours = [ours_net.run(s, list(outputs)) for s in samples]
    q_theirs, q_ours = compare(reference, theirs, outputs), compare(reference, ours, outputs)
    if task_metric is not None:
        v_theirs, v_ours = float(task_metric(reference, theirs)), float(task_metric(reference, ours))
    else:
        v_theirs, v_ours = q_theirs.value(metric), q_ours.value(metric)
    same = agree(metric if task_metric is None else "task", v_ours, v_theirs, len(samples))
    divergence = None
    if not same:
        # The sample where the engines' outputs differ most shows the divergence best.
        worst = min(range(len(samples)), key=lambda i: min(_db(ours[i][o], theirs[i][o]) if ours[i][o].size ==
                                                            theirs[i][o].size else -math.inf for o in outputs))
        divergence = first_divergence(Model.load(param, bin_path), theirs_net, ours_net, samples[worst])
    return Verification(q_theirs, q_ours, v_theirs, v_ours, same, divergence)
