"""``ncnnq analyze``: which layers break int8 (a table, and optionally JSON and a PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._native import Model
from ..analysis_plot import render_png
from ..analyze import analysis_json, analyze
from ..output import check_outputs, write_outputs
from ..samples import samples_from_lists
from ..table import Table
from . import render
from .ncnn_args import input_specs, parse_analyze_args
from .render import Console, RichProgress


def cmd_analyze(args: argparse.Namespace, console: Console) -> None:
    parsed = parse_analyze_args(args.args)
    check_outputs([p for p in (parsed.json, parsed.plot) if p is not None])
    model = Model.load(parsed.param, parsed.bin)
    table = Table.load(parsed.table) if parsed.table else None
    specs = input_specs(model, parsed.options)
    samples = samples_from_lists(model, parsed.lists, parsed.options.input_type)
    progress = RichProgress(console)
    try:
        report = analyze(
            model, samples, parsed.options.method, table=table, specs=specs, input_type=parsed.options.input_type,
            validation=parsed.validation, samples=parsed.samples, threads=parsed.options.thread,
            fp32_storage=parsed.fp32, progress=progress,
        )
    finally:
        progress.close()
    render.analysis_report(console, report, Path(parsed.param).name)
    files: list[tuple[Path, bytes | str]] = []
    if parsed.json:
        files.append((parsed.json, analysis_json(report)))
    if parsed.plot:
        files.append((parsed.plot, render_png(report, f"{Path(parsed.param).name}: int8 layer by layer")))
    if files:
        write_outputs(files)
        render.wrote(console, [p for p, _ in files])
