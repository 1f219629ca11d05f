"""``ncnnq info`` (a model's layers, params and weights) and ``ncnnq optimize`` (ncnnoptimize)."""

from __future__ import annotations

import argparse

from .. import demo
from .._native import Model
from ..optimize import optimize_files
from ..summary import summarize
from . import render
from .render import Console


def cmd_info(args: argparse.Namespace, console: Console) -> None:
    if args.param is None:  # the demo's network, as shipped in the package
        param = f"{demo.MODEL}.param (ncnnq demo's model)"
        model = Model.from_bytes(*demo.model_bytes(), name=f"{demo.MODEL}.param")
    else:
        param = args.param
        model = Model.load(param, args.bin)
    render.model_summary(console, param, summarize(model))


def cmd_optimize(args: argparse.Namespace, console: Console) -> None:
    report = optimize_files(
        args.inparam, args.inbin, args.outparam, args.outbin, args.flag, args.cutstart, args.cutend
    )
    render.optimize_report(console, f"{args.inparam} -> {args.outparam}", report)
