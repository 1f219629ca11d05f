"""The whole job in one call: optimize, calibrate, quantize (``ncnnq quantize``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._native import Model
from .calibrate import calibrate
from .images import InputSpec
from .int8 import QuantizeReport, quantize
from .optimize import OptimizeReport, optimize
from .progress import Progress
from .table import Table


@dataclass(frozen=True)
class QuantizeResult:
    model: Model
    """The int8 model (save it with :func:`ncnnq.save_int8`)."""
    optimized: Model
    """The fp32 model that was calibrated (the input itself when not optimized)."""
    table: Table
    optimize: OptimizeReport | None
    quantize: QuantizeReport


def quantize_model(
    model: Model,
    inputs: Iterable[object],
    method: str = "kl",
    *,
    specs: dict[str, InputSpec] | Sequence[InputSpec] | None = None,
    input_type: str = "image",
    threads: int | None = None,
    optimize_first: bool = True,
    progress: Progress | None = None,
) -> QuantizeResult:
    """fp32 model and calibration inputs in, int8 model out: ncnnoptimize, ncnn2table and ncnn2int8
    in one call (``inputs``, ``specs``, ``input_type``: as for :func:`ncnnq.calibrate`)."""
    optimized, opt_report = optimize(model) if optimize_first else (model, None)
    table = calibrate(optimized, inputs, method, specs=specs, input_type=input_type, threads=threads,
                      progress=progress)
    int8, q_report = quantize(optimized, table)
    return QuantizeResult(int8, optimized, table, opt_report, q_report)
