"""The quantization commands: ``ncnnq table`` (ncnn2table), ``ncnnq int8`` (ncnn2int8) and
``ncnnq quantize`` (ncnnoptimize, ncnn2table and ncnn2int8 in one step)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._native import Model
from ..calibrate import calibrate, calibrated_layers, weight_only_table
from ..errors import InputError
from ..flushed_weights import flushed_fp16_weights
from ..int8 import quantize, save_int8
from ..output import check_outputs
from ..samples import samples_from_lists
from ..table import Table
from . import render
from .ncnn_args import QuantizeArgs, input_specs, parse_quantize_args, parse_table_args
from .render import Console, RichProgress

if TYPE_CHECKING:  # imported where used: `ncnnq table` needs neither the pipeline nor mixed precision
    from ..mixed_precision import MixedResult


def _warn_flushed_weights(console: Console, model: Model) -> None:
    """Before the long work: calibrating a model whose converter zeroed its small weights
    quantizes a damaged network, and its int8 figures would be blamed on int8."""
    for message in flushed_fp16_weights(model):
        render.warning(console, message)


def cmd_table(args: argparse.Namespace, console: Console) -> None:
    parsed = parse_table_args(args.args)
    table_path, options = parsed.table, parsed.options
    check_outputs([table_path])
    model = Model.load(parsed.param, parsed.bin)
    _warn_flushed_weights(console, model)
    if parsed.lists is None:
        table = weight_only_table(model)
        if calibrated_layers(model):
            render.warning(
                console,
                "no calibration data: convolution and inner product layers get no scales "
                "(they stay float in ncnnq int8)",
            )
        table.save(table_path)
        render.wrote(console, [table_path], f"{len(table.weights)} weight-only entries")
        return
    specs = input_specs(model, options)
    samples = samples_from_lists(model, parsed.lists, options.input_type)
    progress = RichProgress(console)
    try:
        table = calibrate(
            model, samples, options.method, specs=specs, input_type=options.input_type, threads=options.thread,
            progress=progress,
        )
    finally:
        progress.close()
    table.save(table_path)
    render.calibration_report(console, table)
    render.wrote(console, [table_path], f"{len(table.activations)} layers, method={options.method}")


def cmd_quantize(args: argparse.Namespace, console: Console) -> None:
    from ..pipeline import quantize_model
    from ..verify import ncnn_module

    parsed = parse_quantize_args(args.args)
    options = parsed.options
    check_outputs([parsed.out_param, parsed.out_bin] + ([parsed.table] if parsed.table else []))
    if parsed.verify:
        _check_readable_back([parsed.out_param, parsed.out_bin])
    model = Model.load(parsed.in_param, parsed.in_bin)
    _warn_flushed_weights(console, model)
    specs = input_specs(model, options)
    samples = samples_from_lists(model, parsed.lists, options.input_type)
    if parsed.verify:
        ncnn_module()  # before the long work: verify=1 needs real ncnn
    progress = RichProgress(console)
    try:
        result = quantize_model(
            model, samples, options.method, specs=specs, input_type=options.input_type, threads=options.thread,
            optimize_first=parsed.optimize, target=parsed.target, validation=parsed.validation,
            fp32_storage=parsed.fp32, progress=progress,
        )
    finally:
        progress.close()
    if result.optimize is not None:
        render.optimize_report(console, "optimize", result.optimize)
    if result.mixed is None:
        render.calibration_report(console, result.table)
    if result.calibration is not None:
        render.recipe_report(console, result.calibration)
    result.save(parsed.out_param, parsed.out_bin, parsed.table, fp32=parsed.fp32)
    render.quantize_report(console, result.quantize)
    render.wrote(console, [parsed.out_param, parsed.out_bin] + ([parsed.table] if parsed.table else []))
    if result.mixed is not None:
        _report_mixed(console, result.mixed, result.optimized, parsed, options.thread or 1)


def _check_readable_back(paths: list[str]) -> None:
    """verify=1 runs the written files in real ncnn: a device or FIFO would not give them back (and
    the command would fail after writing)."""
    for path in paths:
        if Path(path).exists() and not Path(path).is_file():
            raise InputError(f"{path}: verify=1 reads the written files back, so outputs must be regular files")


def _latencies(models: dict[str, Model], sample: dict[str, np.ndarray], threads: int) -> dict[str, float]:
    """Median ncnnq latency of each model on one sample (seconds)."""
    from ..runner import bench

    return {name: bench(m, sample, threads=threads, loops=LATENCY_RUNS, warmup=2).median for name, m in models.items()}


LATENCY_RUNS = 8


def _report_mixed(console: Console, mixed: MixedResult, fp32: Model, parsed: QuantizeArgs, threads: int) -> None:
    from ..verify import verify

    check = mixed.validation
    latency = _latencies({"result": mixed.model, "all int8": mixed.all_int8, "fp32": fp32}, check.samples[0], threads)
    render.mixed_precision_report(console, mixed.search, latency, threads)
    if parsed.verify:
        assert parsed.target is not None
        outcome = verify(parsed.out_param, parsed.out_bin, check.samples, check.reference, check.outputs,
                         parsed.target.metric, threads=threads)
        render.verification(console, outcome, parsed.target.metric, len(check.samples))


def cmd_int8(args: argparse.Namespace, console: Console) -> None:
    check_outputs([args.out_param, args.out_bin])
    model = Model.load(args.in_param, args.in_bin)
    table = Table.load(args.table)
    int8, report = quantize(model, table)
    save_int8(int8, args.out_param, args.out_bin, fp32=args.fp32)
    render.quantize_report(console, report)
    render.wrote(console, [args.out_param, args.out_bin])
