"""The whole job in one call: optimize, calibrate, quantize (``ncnnq quantize``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._native import Model
from .calibrate import calibrate, thread_count
from .errors import InputError
from .evaluate import Target
from .images import InputSpec
from .int8 import QuantizeReport, int8_storage, quantize
from .methods.registry import changes_weights
from .mixed_precision import DEFAULT_VALIDATION, TARGET_METHOD, MixedResult, fp32_storage_default, quantize_mixed
from .optimize import OptimizeReport, optimize
from .output import StrPath, write_outputs
from .progress import Progress
from .recipes import Calibration, calibrate_model
from .samples import samples_from
from .table import Table
from .validation import Metric


@dataclass(frozen=True)
class QuantizeResult:
    model: Model
    """The int8 model (save it with :func:`ncnnq.save_int8`)."""
    optimized: Model
    """The fp32 model that was calibrated (the input itself when not optimized)."""
    table: Table
    optimize: OptimizeReport | None
    quantize: QuantizeReport
    mixed: MixedResult | None = None
    """With a target: the mixed-precision search's choices and figures (``mixed.table_text`` is
    the table to write: float layers' lines commented out)."""
    fp32_storage: bool = False
    """Whether the float arrays were judged as fp32 (what :meth:`save` writes unless told)."""
    calibration: Calibration | None = None
    """With techniques or ``auto`` (``method="best+cle+round+bc"``): what they changed and the
    validation score (the table belongs to ``calibration.model``, which computes the same function
    as ``optimized``; the int8 weights and biases they chose are in ``model``)."""

    @property
    def table_text(self) -> str:
        """The table file's content."""
        return self.mixed.table_text if self.mixed is not None else self.table.text()

    def save(
        self,
        param: StrPath,
        bin_path: StrPath,
        table: StrPath | None = None,
        fp32: bool | None = None,
    ) -> None:
        """Writes the int8 model (as :func:`ncnnq.save_int8` does, float arrays as fp32 with ``fp32``,
        by default as they were judged: :attr:`fp32_storage`) and, when ``table`` is given, the
        table (:attr:`table_text`), all together or not at all: a failure leaves every existing file
        as it was."""
        storage = int8_storage(self.fp32_storage if fp32 is None else fp32)
        files: list[tuple[StrPath, bytes | str]] = [
            (param, self.model.param_text()),
            (bin_path, self.model.bin_bytes(storage)),
        ]
        if table is not None:
            files.append((table, self.table_text))
        write_outputs(files)


def quantize_model(
    model: Model,
    inputs: Iterable[object],
    method: str | None = None,
    *,
    specs: dict[str, InputSpec] | Sequence[InputSpec] | None = None,
    input_type: str = "image",
    threads: int | None = None,
    optimize_first: bool = True,
    target: str | Target | float | None = None,
    metric: Metric | None = None,
    validation: float = DEFAULT_VALIDATION,
    fp32_storage: bool | None = None,
    progress: Progress | None = None,
) -> QuantizeResult:
    """fp32 model and calibration inputs in, int8 model out: ncnnoptimize, ncnn2table and ncnn2int8
    in one call (``inputs``, ``specs``, ``input_type``: as for :func:`ncnnq.calibrate`).

    ``target`` (``"sqnr:30"``: the worst output's SQNR, ``"sqnr_mean:30"``: the mean over outputs
    of their SQNR, ``"cos:0.999"``, ``"top1:0.99"``, or a number that ``metric``'s value must
    reach): automatic mixed precision (:mod:`ncnnq.mixed_precision`) on a validation split of
    ``inputs`` (``validation``, a fraction); ``metric(fp32_outputs, int8_outputs) ->
    float`` (lists of per-sample output dicts, higher is better) replaces the built-in figures.
    ``fp32_storage``: judge the files written with fp32 float arrays (``fp32=1``); by default fp16
    as ncnn2int8 stores them, but fp32 for a target searched from a method that changes the fp32
    model (:func:`ncnnq.mixed_precision.fp32_storage_default`).

    ``method`` may add techniques to a base method (``best+cle+shift+round+bc``) or be ``auto``
    (:mod:`ncnnq.recipes`): they calibrate on the samples less a ``validation`` split and report
    the figures on it; with a target the search starts from that recipe's int8 model. Default:
    ``kl``, and :data:`TARGET_METHOD` with a target."""
    threads = thread_count(threads)  # checked before the optimizer runs
    if method is None:
        method = TARGET_METHOD if target is not None or metric is not None else "kl"
    if fp32_storage is None:
        fp32_storage = (target is not None or metric is not None) and fp32_storage_default(method)
    optimized, opt_report = optimize(model) if optimize_first else (model, None)
    if changes_weights(method) and target is None and metric is None:
        spec_map = dict(zip(optimized.inputs, specs)) if isinstance(specs, Sequence) else dict(specs or {})
        found = calibrate_model(
            optimized, list(samples_from(optimized, inputs)), method, validation=validation, specs=spec_map,
            input_type=input_type, threads=threads, fp32=fp32_storage, progress=progress,
        )
        int8, q_report = found.int8_model()
        return QuantizeResult(int8, optimized, found.table, opt_report, q_report, fp32_storage=fp32_storage,
                              calibration=found)
    if target is not None or metric is not None:
        goal = _target(target, metric)
        spec_map = dict(zip(optimized.inputs, specs)) if isinstance(specs, Sequence) else dict(specs or {})
        mixed = quantize_mixed(
            optimized, list(samples_from(optimized, inputs)), method, goal, metric=metric, specs=spec_map,
            input_type=input_type, validation=validation, threads=threads,
            fp32_storage=fp32_storage, progress=progress,
        )
        return QuantizeResult(mixed.model, optimized, mixed.search.table, opt_report, mixed.report, mixed,
                              fp32_storage=fp32_storage, calibration=mixed.calibration)
    table = calibrate(optimized, inputs, method, specs=specs, input_type=input_type, threads=threads,
                      progress=progress)
    int8, q_report = quantize(optimized, table)
    return QuantizeResult(int8, optimized, table, opt_report, q_report)


def _target(target: str | Target | float | None, metric: Metric | None) -> Target | float:
    if metric is not None:
        if target is None or isinstance(target, (str, Target)):
            raise InputError("with metric=, target is the number the metric must reach (higher is better)")
        return float(target)
    if isinstance(target, (int, float)):
        raise InputError(f"target={target}: give the metric too (metric=), or a target like 'sqnr:30'")
    assert target is not None
    return target if isinstance(target, Target) else Target.parse(target)
