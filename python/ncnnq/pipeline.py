"""The whole job on the embedded demo model: optimize, calibrate, quantize, and check the int8
model against the fp32 one (what ``ncnnq demo`` runs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import demo
from ._native import Model, Net
from .calibrate import Progress, calibrate
from .evaluate import Agreement, agreement
from .images import InputSpec, image_tensor
from .int8 import QuantizeReport, quantize, save_int8
from .optimize import OptimizeReport, optimize
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


def _spec() -> InputSpec:
    return InputSpec(demo.SHAPE, demo.PIXEL, demo.MEAN, demo.NORM)


def run_demo(workdir: str | os.PathLike[str], method: str = "kl", threads: int = 2, progress: Progress | None = None) -> DemoResult:
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
    optimized, opt_report = optimize(Model.load(param, bin_path))
    optimized.save(files["optimized param"], files["optimized bin"])

    images = demo.image_files()
    calibration, held_out = images[0::2], images[1::2]
    table = calibrate(optimized, calibration, method, specs=[_spec()], threads=threads, progress=progress)
    table.save(files["table"])

    int8, q_report = quantize(optimized, table)
    save_int8(int8, files["int8 param"], files["int8 bin"])

    fp32_net = Net(files["optimized param"], files["optimized bin"], threads=threads)
    int8_net = Net(files["int8 param"], files["int8 bin"], threads=threads)
    tensors = [{demo.INPUT: image_tensor(p, _spec())} for p in held_out]
    result = agreement(fp32_net, int8_net, tensors, demo.OUTPUT)
    labels = demo.labels()
    truth = np.array([labels[p.name] for p in held_out])

    def accuracy(net: Net) -> float:
        predicted = [int(np.argmax(net.run(t, [demo.OUTPUT])[demo.OUTPUT])) for t in tensors]
        return float(np.mean(np.array(predicted) == truth))

    return DemoResult(files, opt_report, table, q_report, result, accuracy(fp32_net), accuracy(int8_net))
