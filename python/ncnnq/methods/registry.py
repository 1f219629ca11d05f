"""The calibration methods by name, and what each is made of: the statistics it needs, how one
blob's statistics become an activation threshold, how a layer's weights get their scales, and a
search that refines the finished table (eq's). A new method is a module in this package plus one
line in :data:`METHODS`.

A method name may add techniques to a base method with ``+`` (``best+cle+round+bc``): each is a
module of this package that changes more than the table (the fp32 model, int8 weights, biases);
:data:`TECHNIQUES` lists them and :class:`Recipe` is a parsed name. ``auto`` tries several and
keeps what scores best on the validation samples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from .._native import BlobStats, Layer, Model
from ..progress import Progress
from ..samples import Sample, Tensors, decode_all
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
    about: str = ""
    """One line for ``--help``: what the method does."""


def _ncnn_weight_scales(layer: Layer) -> npt.NDArray[np.float32]:
    return weight_scales(layer, "kl")


def _aciq_weight_scales(layer: Layer) -> npt.NDArray[np.float32]:
    return weight_scales(layer, "aciq")


def _widest_winograd_weight_scales(layer: Layer) -> npt.NDArray[np.float32]:
    return winograd_safe_scales(layer) if is_winograd_6bit(layer) else weight_scales(layer, "kl")


def _equalize(run: RefineInput) -> None:
    """eq's search on the first MAX_SAMPLES samples, decoded on ``threads`` threads."""
    loaded = decode_all(run.load, run.samples[:MAX_SAMPLES], run.threads)
    equalize(run.model, run.layers, run.table, loaded, run.threads, run.progress)


METHODS: dict[str, Method] = {
    "kl": Method("histogram", kl.threshold, _ncnn_weight_scales, about="ncnn's: thresholds minimizing KL divergence"),
    "aciq": Method("absmax", aciq.threshold, _aciq_weight_scales, about="ncnn's: analytic clipping (ACIQ)"),
    "eq": Method(
        "histogram", kl.threshold, _ncnn_weight_scales, refine=_equalize,
        about="ncnn's: kl, then a per-layer scale search on the outputs",
    ),
    "mse": Method(
        "histogram", mse.threshold, _ncnn_weight_scales, about="ncnnq's: thresholds minimizing squared error"
    ),
    "best": Method(
        "histogram", kl.threshold, _widest_winograd_weight_scales, refine=_equalize,
        about="ncnnq's: eq with 3x3 weights widened as far as ncnn's Winograd allows",
    ),
}
"""ncnn2table's ``kl``, ``aciq`` and ``eq``; ncnnq's ``mse`` and ``best``, in the order the
command line lists them."""


TECHNIQUES: dict[str, str] = {
    "cle": "cross-layer equalization: per-channel ranges of activations evened out, exactly (equalization.py)",
    "shift": "ReLU outputs shifted to use int8's negative half, compensated exactly (shift.py)",
    "round": "learned rounding of each int8 weight on its layer's real int8 inputs (rounding.py)",
    "bc": "bias correction of each layer's mean output error, in network order (bias_correction.py)",
    "tune": "activation scales re-chosen by the error at the model's outputs, on the final int8 network (tuning.py)",
}
"""Techniques a method name can add to its base, in the order they are applied."""

AUTO = "auto"


@dataclass(frozen=True)
class Recipe:
    """A parsed method name: a base method of :data:`METHODS` and the techniques added to it."""

    base: str
    techniques: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return "+".join([self.base, *(t for t in TECHNIQUES if t in self.techniques)])

    def has(self, technique: str) -> bool:
        return technique in self.techniques

    @property
    def table_only(self) -> bool:
        """Whether the result is a table alone (nothing but scales changed)."""
        return not self.techniques


def changes_weights(method: str) -> bool:
    """Whether ``method`` (a name as users give it) is a recipe: techniques added, or ``auto``."""
    return method == AUTO or "+" in method


def parse_method(text: str) -> Recipe | None:
    """``kl``, ``best+cle+bc``, ...: the :class:`Recipe`; None for ``auto``. An unknown name, a
    technique before the base or given twice is an ``InputError`` naming it."""
    from ..errors import InputError  # registry is imported early; errors has no dependencies

    if text == AUTO:
        return None
    base, *added = text.split("+")
    if base not in METHODS:
        raise InputError(
            f"method {text!r}: the first name must be a base method ({', '.join(METHODS)}) or {AUTO}, not {base!r}"
        )
    for t in added:
        if t not in TECHNIQUES:
            raise InputError(f"method {text!r}: unknown technique {t!r} (techniques: {', '.join(TECHNIQUES)})")
    if len(set(added)) != len(added):
        raise InputError(f"method {text!r}: a technique is given twice")
    return Recipe(base, frozenset(added))
