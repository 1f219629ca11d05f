"""The ``ncnnq`` command line: a thin layer over the library that renders results with rich.

Bad input exits with status 2 and a one-line error on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import demo
from ._native import Model
from .errors import Error
from .optimize import OptimizeReport, optimize_files
from .summary import ModelSummary, summarize

EXIT_BAD_INPUT = 2


def _render_summary(console: Console, title: str, summary: ModelSummary) -> None:
    table = Table(title=title, header_style="bold", show_lines=False)
    for column, justify in [("#", "right"), ("type", "left"), ("name", "left"), ("inputs", "left"),
                            ("outputs", "left"), ("key params", "left"), ("weights", "right"),
                            ("storage", "left"), ("shape", "left")]:
        table.add_column(column, justify=justify, overflow="fold")
    for r in summary.rows:
        table.add_row(str(r.index), r.type, r.name, " ".join(r.inputs), " ".join(r.outputs), r.key_params,
                      f"{r.weight_count:,}" if r.weight_count else "", r.storage, r.shapes)
    console.print(table)
    types = ", ".join(f"{t} {n}" for t, n in summary.layer_types.most_common())
    console.print(f"[bold]{len(summary.rows)}[/] layers ({types})")
    console.print(f"[bold]{summary.blob_count}[/] blobs; inputs: {', '.join(summary.inputs) or '-'}; "
                  f"outputs: {', '.join(summary.outputs) or '-'}")
    console.print(f"[bold]{summary.weight_count:,}[/] weights, {summary.weight_bytes:,} bytes")
    for w in summary.warnings:
        console.print(f"[yellow]warning:[/] {w}")


def _cmd_info(args: argparse.Namespace, console: Console) -> None:
    if args.param is None:
        param, bin_path = demo.model_files()
    else:
        param, bin_path = Path(args.param), (Path(args.bin) if args.bin else None)
    model = Model.load(param, bin_path)
    _render_summary(console, str(param), summarize(model))


def _cmd_demo(args: argparse.Namespace, console: Console) -> None:
    param, bin_path = demo.model_files()
    console.print(f"[bold]ncnnq demo[/]: the embedded model {param.name}")
    _render_summary(console, str(param), summarize(Model.load(param, bin_path)))


def _render_optimize(console: Console, title: str, report: OptimizeReport) -> None:
    table = Table(title=title, header_style="bold")
    table.add_column("pass")
    table.add_column("fired", justify="right")
    table.add_column("layers (surviving layer first)", overflow="fold")
    for p in report.fired:
        table.add_row(p.name, str(p.count), ", ".join("+".join(f) for f in p.fired))
    if not report.fired:
        table.add_row("[dim]no pass matched[/]", "0", "")
    console.print(table)
    counts = Table(header_style="bold")
    for column in ("", "before", "after"):
        counts.add_column(column, justify="right" if column else "left")
    for label, attr in [("layers", "layers"), ("blobs", "blobs"), ("weight bytes", "weight_bytes")]:
        counts.add_row(label, f"{getattr(report.before, attr):,}", f"{getattr(report.after, attr):,}")
    console.print(counts)
    si = report.shape_inference
    if si.ran:
        console.print(f"shape inference: {si.new_hints} new shape hints")
    else:
        console.print(f"[yellow]shape inference skipped:[/] {si.reason}")
    for d in report.declined:
        console.print(f"[yellow]kept (ncnnoptimize would rewrite):[/] {d}")
    for note in report.notes:
        console.print(note)


def _cmd_optimize(args: argparse.Namespace, console: Console) -> None:
    report = optimize_files(args.inparam, args.inbin, args.outparam, args.outbin, args.flag, args.cutstart, args.cutend)
    _render_optimize(console, f"{args.inparam} -> {args.outparam}", report)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ncnnq", description="ncnn post-training int8 quantization")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show a model's layers, params and weights (default: the demo model)")
    info.add_argument("param", nargs="?", help=".param file (text or binary)")
    info.add_argument("bin", nargs="?", help=".bin weights file")
    info.set_defaults(run=_cmd_info)
    opt = sub.add_parser("optimize", help="ncnnoptimize: fuse and remove layers, add shape hints, write the model")
    opt.add_argument("inparam", help="input .param")
    opt.add_argument("inbin", help="input .bin, or null for seeded random weights")
    opt.add_argument("outparam", help="output .param")
    opt.add_argument("outbin", help="output .bin")
    opt.add_argument("flag", nargs="?", default="0", help="0 fp32 weights (default), 1 or 65536 fp16")
    opt.add_argument("cutstart", nargs="?", help="keep only the layers from this one (name)")
    opt.add_argument("cutend", nargs="?", help="keep only the layers up to this one (name)")
    opt.set_defaults(run=_cmd_optimize)
    demo_cmd = sub.add_parser("demo", help="run the main job on the embedded demo model")
    demo_cmd.set_defaults(run=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    try:
        args.run(args, console)
    except Error as e:
        Console(stderr=True).print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
