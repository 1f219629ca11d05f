"""The whole job in one call: optimize, calibrate, quantize (``ncnnq quantize``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._native import Model
from .calibrate import calibrate, thread_count
from .images import InputSpec
from .int8 import QuantizeReport, int8_storage, quantize
from .optimize import OptimizeReport, optimize
from .output import StrPath, write_outputs
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

    def save(
        self,
        param: StrPath,
        bin_path: StrPath,
        table: StrPath | None = None,
        fp32: bool = False,
    ) -> None:
        """Writes the int8 model (as :func:`ncnnq.save_int8` does) and, when ``table`` is given, the
        table, all together or not at all: a failure leaves every existing file as it was."""
        files: list[tuple[StrPath, bytes | str]] = [
            (param, self.model.param_text()),
            (bin_path, self.model.bin_bytes(int8_storage(fp32))),
        ]
        if table is not None:
            files.append((table, self.table.text()))
        write_outputs(files)


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
    thread_count(threads)  # checked before the optimizer runs
    optimized, opt_report = optimize(model) if optimize_first else (model, None)
    table = calibrate(optimized, inputs, method, specs=specs, input_type=input_type, threads=threads,
                      progress=progress)
    int8, q_report = quantize(optimized, table)
    return QuantizeResult(int8, optimized, table, opt_report, q_report)
