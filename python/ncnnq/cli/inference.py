"""``ncnnq run`` (one input through a model, outputs summarized) and ``ncnnq bench`` (latency)."""

from __future__ import annotations

import argparse

from .. import _native, runner
from . import render
from .ncnn_args import BENCH_USAGE, RUN_USAGE, parse_run_args
from .render import Console


def cmd_run(args: argparse.Namespace, console: Console) -> None:
    parsed = parse_run_args(args.args, RUN_USAGE)
    options = parsed.options
    model, weights = runner.load_model(parsed.param, parsed.bin, options.seed)
    inputs = runner.model_inputs(model, options)
    result = runner.run_once(model, inputs, options.threads)
    heading = render.run_heading(
        parsed.param, runner.precision(model), weights, result.seconds, options.threads, _native.int8_kernel()
    )
    outputs = runner.summarize_outputs(result.outputs, options.top, runner.read_labels(options.labels))
    render.run_result(console, heading, outputs, options.top, result.kernels)


def cmd_bench(args: argparse.Namespace, console: Console) -> None:
    parsed = parse_run_args(args.args, BENCH_USAGE)
    options = parsed.options
    model, weights = runner.load_model(parsed.param, parsed.bin, options.seed)
    inputs = runner.model_inputs(model, options)
    result = runner.bench(model, inputs, options.threads, options.loops, options.warmup)
    render.bench_result(
        console, f"{parsed.param} ({weights})", runner.precision(model), result, options.warmup,
        _native.int8_kernels_available(),
    )
