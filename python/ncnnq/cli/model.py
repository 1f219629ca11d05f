"""``ncnnq info`` (a model's layers, params and weights) and ``ncnnq optimize`` (ncnnoptimize)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import demo
from .._native import Model
from ..optimize import optimize_files
from ..summary import summarize
from . import render
from .render import Console


def cmd_info(args: argparse.Namespace, console: Console) -> None:
    bin_path: Path | None
    if args.param is None:
        param, bin_path = demo.model_files()
    else:
        param, bin_path = Path(args.param), (Path(args.bin) if args.bin else None)
    model = Model.load(param, bin_path)
    render.model_summary(console, str(param), summarize(model))


def cmd_optimize(args: argparse.Namespace, console: Console) -> None:
    report = optimize_files(
        args.inparam, args.inbin, args.outparam, args.outbin, args.flag, args.cutstart, args.cutend
    )
    render.optimize_report(console, f"{args.inparam} -> {args.outparam}", report)
