"""``ncnnq info`` (a model's layers, params and weights) and ``ncnnq optimize`` (ncnnoptimize)."""

from __future__ import annotations

import argparse

from .. import demo
from .._native import Model
from ..optimize import optimize_files
from ..summary import summarize
from . import json_out, render
from .render import Console


def cmd_info(args: argparse.Namespace, console: Console) -> None:
    if args.param is None:  # the demo's network, as shipped in the package
        param, bin_path, title = f"{demo.MODEL}.param", f"{demo.MODEL}.bin", f"{demo.MODEL}.param (ncnnq demo's model)"
        model = Model.from_bytes(*demo.model_bytes(), name=param)
    else:
        param, bin_path, title = args.param, args.bin, args.param
        model = Model.load(param, bin_path)
    summary = summarize(model)
    if args.json:
        json_out.emit("info", json_out.info_document(param, bin_path, summary))
    else:
        render.model_summary(console, title, summary)


def cmd_optimize(args: argparse.Namespace, console: Console) -> None:
    report = optimize_files(
        args.inparam, args.inbin, args.outparam, args.outbin, args.flag, args.cutstart, args.cutend
    )
    render.optimize_report(console, f"{args.inparam} -> {args.outparam}", report)
