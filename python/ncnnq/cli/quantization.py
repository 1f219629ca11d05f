"""The quantization commands: ``ncnnq table`` (ncnn2table), ``ncnnq int8`` (ncnn2int8) and
``ncnnq quantize`` (ncnnoptimize, ncnn2table and ncnn2int8 in one step)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .._native import Model
from ..calibrate import calibrate, calibrated_layers, weight_only_table
from ..errors import InputError
from ..int8 import quantize, save_int8
from ..pipeline import quantize_model
from ..samples import samples_from_lists
from ..table import Table
from . import render
from .ncnn_args import input_specs, parse_quantize_args, parse_table_args
from .render import Console, RichProgress


def _check_output_folders(outputs: Sequence[str | Path]) -> None:
    for out in outputs:
        if not Path(out).resolve().parent.is_dir():
            raise InputError(f"{out}: folder {Path(out).parent} does not exist")


def cmd_table(args: argparse.Namespace, console: Console) -> None:
    parsed = parse_table_args(args.args)
    table_path, options = parsed.table, parsed.options
    if not table_path.parent.is_dir():
        raise InputError(f"{table_path}: folder {table_path.parent} does not exist")
    model = Model.load(parsed.param, parsed.bin)
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
    parsed = parse_quantize_args(args.args)
    options = parsed.options
    _check_output_folders([parsed.out_param, parsed.out_bin] + ([parsed.table] if parsed.table else []))
    model = Model.load(parsed.in_param, parsed.in_bin)
    specs = input_specs(model, options)
    samples = samples_from_lists(model, parsed.lists, options.input_type)
    progress = RichProgress(console)
    try:
        result = quantize_model(
            model, samples, options.method, specs=specs, input_type=options.input_type, threads=options.thread,
            optimize_first=parsed.optimize, progress=progress,
        )
    finally:
        progress.close()
    if result.optimize is not None:
        render.optimize_report(console, "optimize", result.optimize)
    render.calibration_report(console, result.table)
    if parsed.table:
        result.table.save(parsed.table)
        render.wrote(console, [parsed.table])
    save_int8(result.model, parsed.out_param, parsed.out_bin, fp32=parsed.fp32)
    render.quantize_report(console, result.quantize)
    render.wrote(console, [parsed.out_param, parsed.out_bin])


def cmd_int8(args: argparse.Namespace, console: Console) -> None:
    _check_output_folders([args.out_param, args.out_bin])
    model = Model.load(args.in_param, args.in_bin)
    table = Table.load(args.table)
    int8, report = quantize(model, table)
    save_int8(int8, args.out_param, args.out_bin, fp32=args.fp32)
    render.quantize_report(console, report)
    render.wrote(console, [args.out_param, args.out_bin])
