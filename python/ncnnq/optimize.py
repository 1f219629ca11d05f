"""``ncnnoptimize`` as a library call: the graph passes, shape hints, and a report of what changed.

    model, report = ncnnq.optimize(ncnnq.Model.load("in.param", "in.bin"))
    model.save("out.param", "out.bin")          # storage as chosen by ``fp16``
    for p in report.fired:
        print(p.name, p.count, p.fired)

The returned model is an ordinary :class:`ncnnq.Model`: it can be saved, run with
:class:`ncnnq.Net`, or passed on to calibration and quantization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Union

from . import _native
from ._native import Model
from .errors import InputError
from .output import check_outputs

StrPath = Union[str, "PathLike[str]"]

#: ncnnoptimize's flag values that select fp16 storage; any other value means fp32.
FP16_FLAGS = (1, 65536)

#: Seed of the random weights used when the ``.bin`` is ``null`` (ncnnoptimize's own seed).
NULL_BIN_SEED = 7767517


@dataclass(frozen=True)
class PassResult:
    """One pass: each match it rewrote (layer names, the surviving layer first) and the matches it
    declined where ncnn would have rewritten and computed something else (with the reason)."""

    name: str
    fired: list[tuple[str, ...]]
    declined: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.fired)


@dataclass(frozen=True)
class Counts:
    layers: int
    blobs: int
    #: Size of the ``.bin`` the model is written as.
    weight_bytes: int


@dataclass(frozen=True)
class ShapeInferenceResult:
    """Whether shape inference ran; if not (``reason``), existing hints were kept and none added."""

    ran: bool
    new_hints: int
    reason: str | None


@dataclass(frozen=True)
class OptimizeReport:
    passes: list[PassResult]
    before: Counts
    after: Counts
    shape_inference: ShapeInferenceResult
    notes: list[str]

    @property
    def fired(self) -> list[PassResult]:
        """The passes that rewrote something, in pass order."""
        return [p for p in self.passes if p.fired]

    @property
    def declined(self) -> list[str]:
        """Every rewrite declined where ncnnoptimize would have made it, prefixed by its pass."""
        return [f"{p.name}: {d}" for p in self.passes for d in p.declined]

    def pass_result(self, name: str) -> PassResult:
        for p in self.passes:
            if p.name == name:
                return p
        raise InputError(f"no optimizer pass named {name!r}")


def _report(raw: dict[str, Any]) -> OptimizeReport:
    shape = raw["shape_inference"]
    return OptimizeReport(
        passes=[PassResult(p["name"], [tuple(f) for f in p["fired"]], list(p["declined"])) for p in raw["passes"]],
        before=Counts(**raw["before"]),
        after=Counts(**raw["after"]),
        shape_inference=ShapeInferenceResult(shape["ran"], shape["new_hints"], shape["reason"]),
        notes=list(raw["notes"]),
    )


def optimize(
    model: Model,
    fp16: bool = False,
    *,
    cut_start: str | None = None,
    cut_end: str | None = None,
    shape_inference: bool = True,
) -> tuple[Model, OptimizeReport]:
    """Run ncnnoptimize's passes on a model (which is not modified) and return the optimized model
    with a report.

    ``fp16`` selects ncnnoptimize's fp16 storage for tagged weight arrays (flag 1/65536); otherwise
    every float array is float32. ``cut_start``/``cut_end`` keep only the layers between two
    layers (by name, inclusive); the result is a complete model with its own Input layers.
    The model needs its weights (load the ``.bin`` or use ``with_random_weights``).
    """
    out, raw = _native.optimize(model, fp16, cut_start, cut_end, shape_inference)
    return out, _report(raw)


def parse_flag(flag: str | int) -> bool:
    """ncnnoptimize's ``flag`` argument: ``True`` for fp16 storage (1 or 65536), else fp32.
    ncnn reads any text as 0; a value that is not an integer is refused here."""
    try:
        value = int(flag)
    except ValueError:
        raise InputError(f"flag must be an integer (0 fp32, 1 or 65536 fp16), not {flag!r}") from None
    return value in FP16_FLAGS


def optimize_files(
    in_param: StrPath,
    in_bin: StrPath,
    out_param: StrPath,
    out_bin: StrPath,
    flag: str | int = 0,
    cut_start: str | None = None,
    cut_end: str | None = None,
) -> OptimizeReport:
    """``ncnnoptimize in.param in.bin out.param out.bin flag [cutstart [cutend]]``.

    ``in_bin`` may be ``"null"``: the weights are then seeded random values (seed 7767517), so the
    written model runs and computes the same as that random-weight original. The outputs are
    checked before any work and written together (:mod:`ncnnq.output`).
    """
    fp16 = parse_flag(flag)
    check_outputs([out_param, out_bin])
    if str(in_bin) == "null":
        model = Model.load(in_param).with_random_weights(NULL_BIN_SEED)
    else:
        model = Model.load(in_param, in_bin)
    out, report = optimize(model, fp16, cut_start=cut_start, cut_end=cut_end)
    out.save(out_param, out_bin)
    return report
