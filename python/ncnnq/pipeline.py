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
from .evaluate import Agreement, agreement
from .images import InputSpec, image_tensor
from .int8 import QuantizeReport, quantize, save_int8
from .optimize import OptimizeReport, optimize
from .progress import Progress
from .table import Table


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
    # Quantize with the scales as the table file holds them (six decimals), so that the result is
    # what `ncnnq int8` (or ncnn2int8) makes from the written table.
    int8, q_report = quantize(optimized, Table.parse(table.text()))
    return QuantizeResult(int8, optimized, table, opt_report, q_report)


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
