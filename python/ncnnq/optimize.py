"""``ncnnoptimize`` as a library call: the graph passes, shape hints, and a report of what changed.

    model, report = ncnnq.optimize(ncnnq.Model.load("in.param", "in.bin"))
    model.save("out.param", "out.bin")          # storage as chosen by ``fp16``
    for p in report.fired:
        print(p.name, p.count, p.fired)

The returned model is an ordinary :class:`ncnnq.Model`: it can be saved, run with
:class:`ncnnq.Net`, or passed on to calibration and quantization.
"""

from __future__ import annotations

from os import PathLike
from typing import Union

from . import _native
from ._native import Counts, Model, OptimizeReport, PassResult, ShapeInferenceResult
from .errors import InputError
from .output import check_outputs

__all__ = ["Counts", "OptimizeReport", "PassResult", "ShapeInferenceResult", "optimize", "optimize_files", "parse_flag"]

StrPath = Union[str, "PathLike[str]"]

#: ncnnoptimize's flag values that select fp16 storage; any other value means fp32.
FP16_FLAGS = (1, 65536)

#: Seed of the random weights used when the ``.bin`` is ``null`` (ncnnoptimize's own seed).
NULL_BIN_SEED = 7767517


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
    return _native.optimize(model, fp16, cut_start, cut_end, shape_inference)


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
