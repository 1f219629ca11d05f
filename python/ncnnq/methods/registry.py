"""The calibration methods by name, and what each is made of: the statistics it needs, how one
blob's statistics become an activation threshold, how a layer's weights get their scales, and a
search that refines the finished table (eq's). A new method is a module in this package plus one
line in :data:`METHODS`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from .._native import BlobStats, Layer, Model
from ..progress import Progress
from ..samples import Sample, Tensors
from ..table import Table
from . import aciq, kl, mse
from .eq import MAX_SAMPLES, equalize
from .weights import is_winograd_6bit, weight_scales, winograd_safe_scales


@dataclass(frozen=True)
class RefineInput:
    """What a refining search gets: the calibrated layers, the table to change in place, and the
    samples (decoded with ``load``)."""

    model: Model
    layers: Sequence[Layer]
    table: Table
    samples: Sequence[Sample]
    load: Callable[[Sample], Tensors]
    threads: int
    progress: Progress


@dataclass(frozen=True)
class Method:
    statistics: Literal["absmax", "histogram"]
    """What the fp32 run collects per blob: the largest magnitude alone, or with a histogram
    (ncnnq's one-pass widening one, or ncnn2table's two passes with ``two_pass=True``)."""
    threshold: Callable[[BlobStats], float | None]
    """One blob's statistics -> its clip threshold (None: the blob is always zero)."""
    weight_scales: Callable[[Layer], npt.NDArray[np.float32]]
    """A calibrated layer -> one scale per output channel (per group for ConvolutionDepthWise)."""
    refine: Callable[[RefineInput], None] | None = None
    """Run after the table is assembled, changing its scales in place."""


def _ncnn_weight_scales(layer: Layer) -> npt.NDArray[np.float32]:
    return weight_scales(layer, "kl")


def _aciq_weight_scales(layer: Layer) -> npt.NDArray[np.float32]:
    return weight_scales(layer, "aciq")


def _widest_winograd_weight_scales(layer: Layer) -> npt.NDArray[np.float32]:
    return winograd_safe_scales(layer) if is_winograd_6bit(layer) else weight_scales(layer, "kl")


def _equalize(run: RefineInput) -> None:
    """eq's search on the first MAX_SAMPLES samples, decoded on ``threads`` threads."""
    with ThreadPoolExecutor(max_workers=run.threads) as pool:
        loaded = list(pool.map(run.load, run.samples[:MAX_SAMPLES]))
    equalize(run.model, run.layers, run.table, loaded, run.threads, run.progress)


METHODS: dict[str, Method] = {
    "kl": Method("histogram", kl.threshold, _ncnn_weight_scales),
    "aciq": Method("absmax", aciq.threshold, _aciq_weight_scales),
    "eq": Method("histogram", kl.threshold, _ncnn_weight_scales, refine=_equalize),
    "mse": Method("histogram", mse.threshold, _ncnn_weight_scales),
    "best": Method("histogram", kl.threshold, _widest_winograd_weight_scales, refine=_equalize),
}
"""ncnn2table's ``kl``, ``aciq`` and ``eq``; ncnnq's ``mse`` and ``best``, in the order the
command line lists them."""
