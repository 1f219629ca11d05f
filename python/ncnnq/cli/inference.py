"""``ncnnq run`` (one input through a model, outputs summarized) and ``ncnnq bench`` (latency)."""

from __future__ import annotations

import argparse

from .. import _native, runner
from . import json_out, render
from .ncnn_args import BENCH_USAGE, RUN_USAGE, parse_run_args
from .render import Console


def cmd_run(args: argparse.Namespace, console: Console) -> None:
    parsed = parse_run_args(args.args, RUN_USAGE)
    options = parsed.options
    model, weights = runner.load_model(parsed.param, parsed.bin, options.seed)
    for w in model.warnings:
        render.warning(console, w)
    inputs = runner.model_inputs(model, options)
    result = runner.run_once(model, inputs, options.threads)
    outputs = runner.summarize_outputs(result.outputs, options.top, runner.read_labels(options.labels))
    precision, path = runner.precision(model), _native.int8_kernel()
    if args.json:
        json_out.emit("run", json_out.run_document(
            parsed.param, weights, precision, options.threads, result.seconds, path, outputs, result.kernels
        ))
        return
    heading = render.run_heading(parsed.param, precision, weights, result.seconds, options.threads, path)
    render.run_result(console, heading, outputs, options.top, result.kernels)


def cmd_bench(args: argparse.Namespace, console: Console) -> None:
    parsed = parse_run_args(args.args, BENCH_USAGE)
    options = parsed.options
    model, weights = runner.load_model(parsed.param, parsed.bin, options.seed)
    for w in model.warnings:
        render.warning(console, w)
    inputs = runner.model_inputs(model, options)
    result = runner.bench(model, inputs, options.threads, options.loops, options.warmup)
    precision, available = runner.precision(model), _native.int8_kernels_available()
    if args.json:
        json_out.emit("bench", json_out.bench_document(parsed.param, weights, precision, result, options.warmup,
                                                       available))
        return
    render.bench_result(console, f"{parsed.param} ({weights})", precision, result, options.warmup, available)
