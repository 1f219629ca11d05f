"""The whole job in one call: optimize, calibrate, quantize (``ncnnq quantize``), and the same on the
embedded demo model with the int8 model checked against the fp32 one (``ncnnq demo``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import demo
from ._native import Model, Net
from .calibrate import calibrate
from .errors import InputError
from .evaluate import Agreement, Target, agreement
from .images import InputSpec, image_tensor
from .int8 import QuantizeReport, quantize, save_int8
from .mixed_precision import DEFAULT_VALIDATION, MixedResult, quantize_mixed
from .optimize import OptimizeReport, optimize
from .progress import Progress
from .samples import samples_from
from .table import Table
from .validation import Metric


@dataclass(frozen=True)
class DemoResult:
    files: dict[str, Path]
    optimize: OptimizeReport
    table: Table
    quantize: QuantizeReport
    agreement: Agreement
    fp32_accuracy: float
    int8_accuracy: float


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

    @property
    def table_text(self) -> str:
        """The table file's content."""
        return self.mixed.table_text if self.mixed is not None else self.table.text()


def quantize_model(
    model: Model,
    inputs: Iterable[object],
    method: str = "kl",
    *,
    specs: dict[str, InputSpec] | Sequence[InputSpec] | None = None,
    input_type: str = "image",
    threads: int | None = None,
    optimize_first: bool = True,
    target: str | Target | float | None = None,
    metric: Metric | None = None,
    validation: float = DEFAULT_VALIDATION,
    fp32_storage: bool = False,
    progress: Progress | None = None,
) -> QuantizeResult:
    """fp32 model and calibration inputs in, int8 model out: ncnnoptimize, ncnn2table and ncnn2int8
    in one call (``inputs``, ``specs``, ``input_type``: as for :func:`ncnnq.calibrate`).

    ``target`` (``"sqnr:30"``, ``"cos:0.999"``, ``"top1:0.99"``, or a number that ``metric``'s
    value must reach): automatic mixed precision (:mod:`ncnnq.mixed_precision`) on a validation
    split of ``inputs`` (``validation``, a fraction); ``metric(fp32_outputs, int8_outputs) ->
    float`` (lists of per-sample output dicts, higher is better) replaces the built-in figures.
    ``fp32_storage``: judge the files written with fp32 float arrays (``fp32=1``)."""
    optimized, opt_report = optimize(model) if optimize_first else (model, None)
    if target is not None or metric is not None:
        goal = _target(target, metric)
        spec_map = dict(zip(optimized.inputs, specs)) if isinstance(specs, Sequence) else dict(specs or {})
        mixed = quantize_mixed(
            optimized, list(samples_from(optimized, inputs)), method, goal, metric=metric, specs=spec_map,
            input_type=input_type, validation=validation, threads=threads or os.cpu_count() or 1,
            fp32_storage=fp32_storage, progress=progress,
        )
        int8, q_report = quantize(optimized, Table.parse(mixed.table_text))
        return QuantizeResult(int8, optimized, mixed.search.table, opt_report, q_report, mixed)
    table = calibrate(optimized, inputs, method, specs=specs, input_type=input_type, threads=threads,
                      progress=progress)
    # Quantize with the scales as the table file holds them (six decimals), so that the result is
    # what `ncnnq int8` (or ncnn2int8) makes from the written table.
    int8, q_report = quantize(optimized, Table.parse(table.text()))
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


def _spec() -> InputSpec:
    return InputSpec(demo.SHAPE, demo.PIXEL, demo.MEAN, demo.NORM)


def run_demo(
    workdir: str | os.PathLike[str], method: str = "kl", threads: int = 2, progress: Progress | None = None
) -> DemoResult:
    """Runs the pipeline on the demo model, writing every intermediate file into ``workdir``.
    Calibrates on the even-numbered images and evaluates on the odd-numbered ones."""
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    param, bin_path = demo.model_files()
    files = {
        "optimized param": work / "tinynet-opt.param",
        "optimized bin": work / "tinynet-opt.bin",
        "table": work / "tinynet.table",
        "int8 param": work / "tinynet-int8.param",
        "int8 bin": work / "tinynet-int8.bin",
    }
    images = demo.image_files()
    calibration, held_out = images[0::2], images[1::2]
    result = quantize_model(Model.load(param, bin_path), calibration, method, specs=[_spec()], threads=threads,
                            progress=progress)
    result.optimized.save(files["optimized param"], files["optimized bin"])
    result.table.save(files["table"])
    save_int8(result.model, files["int8 param"], files["int8 bin"])
    assert result.optimize is not None  # quantize_model optimizes unless told not to

    fp32_net = Net(files["optimized param"], files["optimized bin"], threads=threads)
    int8_net = Net(files["int8 param"], files["int8 bin"], threads=threads)
    tensors = [{demo.INPUT: image_tensor(p, _spec())} for p in held_out]
    agree = agreement(fp32_net, int8_net, tensors, demo.OUTPUT)
    labels = demo.labels()
    truth = np.array([labels[p.name] for p in held_out])

    def accuracy(net: Net) -> float:
        predicted = [int(np.argmax(net.run(t, [demo.OUTPUT])[demo.OUTPUT])) for t in tensors]
        return float(np.mean(np.array(predicted) == truth))

    return DemoResult(files, result.optimize, result.table, result.quantize, agree, accuracy(fp32_net),
                      accuracy(int8_net))
