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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ncnnq", description="ncnn post-training int8 quantization")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show a model's layers, params and weights (default: the demo model)")
    info.add_argument("param", nargs="?", help=".param file (text or binary)")
    info.add_argument("bin", nargs="?", help=".bin weights file")
    info.set_defaults(run=_cmd_info)
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
