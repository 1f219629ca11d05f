"""The ``ncnnq`` command line: a thin layer over the library that renders results with rich.

Bad input exits with status 2 and a one-line error on stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table as Table_

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from . import _native, demo
from ._native import Model
from .calibrate import calibrate, calibrated_layers, input_specs_from_options, samples_from_lists, weight_only_table
from .errors import Error, InputError
from .ncnn_args import parse_table_options
from .optimize import OptimizeReport, optimize_files
from .summary import ModelSummary, summarize
from .int8 import quantize, save_int8
from .pipeline import run_demo
from .table import Table
from . import runner

EXIT_BAD_INPUT = 2


def _render_summary(console: Console, title: str, summary: ModelSummary) -> None:
    table = Table_(title=title, header_style="bold", show_lines=False)
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
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ncnnq-demo-"))
    param, bin_path = demo.model_files()
    console.print(f"[bold]ncnnq demo[/]: the embedded model {param.name}, {len(demo.image_files())} images; "
                  f"files in {workdir}")
    progress = _RichProgress(console)
    try:
        result = run_demo(workdir, method=args.method, threads=args.threads, progress=progress)
    finally:
        progress.close()
    steps = Table_(title="pipeline", header_style="bold")
    steps.add_column("step")
    steps.add_column("result")
    steps.add_row("optimize", f"{result.optimize.before.layers} -> {result.optimize.after.layers} layers "
                  f"({', '.join(f'{p.name} x{p.count}' for p in result.optimize.fired)})")
    steps.add_row(f"table (method={args.method})", f"{len(result.table.activations)} layers calibrated")
    steps.add_row("int8", f"{len(result.quantize.quantized)} layers int8, "
                  f"{len(result.quantize.requantized)} requantized, {len(result.quantize.kept_float)} float")
    a = result.agreement
    steps.add_row("fp32 vs int8", f"top-1 agreement {a.top1:.1%} on {a.count} held-out images, "
                  f"output cosine mean {a.cosine_mean:.5f} (min {a.cosine_min:.5f})")
    steps.add_row("accuracy", f"fp32 {result.fp32_accuracy:.1%}, int8 {result.int8_accuracy:.1%}")
    console.print(steps)
    for name, path in result.files.items():
        console.print(f"  {name}: {path}")


class _RichProgress:
    """Calibration progress as rich bars: items/s and time remaining per stage."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console, transient=False,
        )
        self._task: int | None = None

    def start(self, stage: str, total: int | None) -> None:
        if self._task is None:
            self._progress.start()
        self._task = self._progress.add_task(stage, total=total, rate="")

    def advance(self, n: int) -> None:
        assert self._task is not None
        self._progress.advance(self._task, n)
        task = self._progress.tasks[self._task]
        if task.elapsed:
            self._progress.update(self._task, rate=f"{task.completed / task.elapsed:.1f}/s")

    def finish(self) -> None:
        pass

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


def _render_table_report(console: Console, table: Table) -> None:
    out = Table_(title="calibration", header_style="bold")
    for column, justify in [("layer", "left"), ("type", "left"), ("absmax", "right"), ("threshold", "right"),
                            ("scale", "right"), ("warning", "left")]:
        out.add_column(column, justify=justify)
    for r in table.report:
        out.add_row(r.layer, r.type, f"{r.absmax:.4g}", f"{r.threshold:.4g}", f"{r.scale:.6g}",
                    "[yellow]" + "; ".join(r.warnings) + "[/]" if r.warnings else "")
    console.print(out)


def _cmd_table(args: argparse.Namespace, console: Console) -> None:
    positional = [a for a in args.args if "=" not in a]
    options = parse_table_options([a for a in args.args if "=" in a])
    if [a for a in args.args if "=" in a] != args.args[len(positional):]:
        raise InputError("options (key=value) must come after the file arguments")
    if len(positional) == 3:
        param, bin_path, table_path = positional
        lists = None
    elif len(positional) == 4:
        param, bin_path, list_spec, table_path = positional
        lists = [Path(p) for p in list_spec.split(",")]
    else:
        raise InputError("usage: ncnnq table model.param model.bin [list.txt[,list2.txt...]] out.table [key=value ...]")
    table_path = Path(table_path)
    if not table_path.parent.is_dir():
        raise InputError(f"{table_path}: folder {table_path.parent} does not exist")
    model = Model.load(param, bin_path)
    if lists is None:
        table = weight_only_table(model)
        if calibrated_layers(model):
            console.print("[yellow]warning:[/] no calibration data: convolution and inner product layers get no "
                          "scales (they stay float in ncnnq int8)")
        table.save(table_path)
        console.print(f"wrote [bold]{table_path}[/] ({len(table.weights)} weight-only entries)")
        return
    input_type = "npy" if options.type == 1 else "image"
    specs = input_specs_from_options(model, options.mean, options.norm, options.shape, options.pixel, input_type)
    samples = samples_from_lists(model, lists)
    progress = _RichProgress(console)
    try:
        table = calibrate(model, samples, options.method, specs=specs, input_type=input_type,
                          threads=options.thread, progress=progress)
    finally:
        progress.close()
    table.save(table_path)
    _render_table_report(console, table)
    console.print(f"wrote [bold]{table_path}[/] ({len(table.activations)} layers, method={options.method})")


def _cmd_int8(args: argparse.Namespace, console: Console) -> None:
    for out in (args.out_param, args.out_bin):
        if not Path(out).resolve().parent.is_dir():
            raise InputError(f"{out}: folder {Path(out).parent} does not exist")
    model = Model.load(args.in_param, args.in_bin)
    table = Table.load(args.table)
    int8, report = quantize(model, table)
    save_int8(int8, args.out_param, args.out_bin, fp32=args.fp32)
    console.print(f"quantized [bold]{len(report.quantized)}[/] layers, requantized outputs of "
                  f"[bold]{len(report.requantized)}[/], kept [bold]{len(report.kept_float)}[/] in float")
    for name, reason in report.kept_float:
        console.print(f"  float: {name} ({reason})")
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(f"wrote [bold]{args.out_param}[/] and [bold]{args.out_bin}[/]")
def _render_optimize(console: Console, title: str, report: OptimizeReport) -> None:
    table = Table_(title=title, header_style="bold")
    table.add_column("pass")
    table.add_column("fired", justify="right")
    table.add_column("layers (surviving layer first)", overflow="fold")
    for p in report.fired:
        table.add_row(p.name, str(p.count), ", ".join("+".join(f) for f in p.fired))
    if not report.fired:
        table.add_row("[dim]no pass matched[/]", "0", "")
    console.print(table)
    counts = Table_(header_style="bold")
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


def _split_files(tokens: list[str], usage: str) -> tuple[str, str | None, list[str]]:
    """model.param [model.bin] then key=value options."""
    files = [t for t in tokens if "=" not in t]
    if not 1 <= len(files) <= 2 or tokens[:len(files)] != files:
        raise InputError(f"usage: {usage}")
    return files[0], (files[1] if len(files) == 2 else None), tokens[len(files):]


def _kernel_line(kernels: list[tuple[str, str, int]]) -> str:
    if not kernels:
        return "no int8 kernels ran (fp32 model)"
    return "int8 kernels: " + ", ".join(f"{kind} [bold]{path}[/] ×{n}" for kind, path, n in kernels)


RUN_USAGE = ("ncnnq run model.param [model.bin] [input=image|x.npy|random] [mean=[..]] [norm=[..]] "
             "[shape=[w,h,c]] [pixel=BGR] [threads=N] [seed=N] [labels=synset.txt] [top=5]")
BENCH_USAGE = "ncnnq bench model.param [model.bin] [threads=N] [loops=N] [warmup=N] [shape=[w,h,c]] [seed=N]"


def _cmd_run(args: argparse.Namespace, console: Console) -> None:
    param, bin_path, tokens = _split_files(args.args, RUN_USAGE)
    options = runner.parse_run_options(tokens)
    model, weights = runner.load_model(param, bin_path, options.seed)
    inputs = runner.model_inputs(model, options)
    result = runner.run_once(model, inputs, options.threads)
    console.print(f"[bold]{param}[/] ({runner.precision(model)}, {weights}): {result.seconds * 1e3:.2f} ms on "
                  f"{options.threads} thread(s), int8 path {_native.int8_kernel()}")
    out = Table_(header_style="bold")
    for column, justify in [("output", "left"), ("shape", "left"), ("min", "right"), ("max", "right"),
                            ("mean", "right"), (f"top-{options.top}", "left")]:
        out.add_column(column, justify=justify, overflow="fold")
    for r in runner.summarize_outputs(result.outputs, options.top, runner.read_labels(options.labels)):
        top = "  ".join(f"{i}{' ' + label if label else ''}: {v:.4g}" for i, v, label in r.top)
        out.add_row(r.name, "×".join(map(str, r.shape)), f"{r.min:.4g}", f"{r.max:.4g}", f"{r.mean:.4g}", top)
    console.print(out)
    console.print(_kernel_line(result.kernels))


def _cmd_bench(args: argparse.Namespace, console: Console) -> None:
    param, bin_path, tokens = _split_files(args.args, BENCH_USAGE)
    options = runner.parse_run_options(tokens)
    model, weights = runner.load_model(param, bin_path, options.seed)
    inputs = runner.model_inputs(model, options)
    result = runner.bench(model, inputs, options.threads, options.loops, options.warmup)
    out = Table_(title=f"{param} ({weights})", header_style="bold")
    for column in ("precision", "threads", "runs", "median ms", "min ms", "cpu median ms"):
        out.add_column(column, justify="left" if column == "precision" else "right")
    out.add_row(runner.precision(model), str(result.threads), f"{len(result.times)} (+{options.warmup} warm-up)",
                f"{result.median * 1e3:.2f}", f"{result.minimum * 1e3:.2f}", f"{result.cpu_median * 1e3:.2f}")
    console.print(out)
    console.print(_kernel_line(result.kernels) + f"; available int8 paths: {', '.join(_native.int8_kernels_available())}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ncnnq", description="ncnn post-training int8 quantization")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show a model's layers, params and weights (default: the demo model)")
    info.add_argument("param", nargs="?", help=".param file (text or binary)")
    info.add_argument("bin", nargs="?", help=".bin weights file")
    info.set_defaults(run=_cmd_info)
    table = sub.add_parser(
        "table",
        help="calibrate: ncnn2table's arguments (model.param model.bin list.txt out.table mean=[..] norm=[..] "
        "shape=[..] pixel=BGR thread=N method=kl|aciq|eq type=0|1)",
    )
    table.add_argument("args", nargs=argparse.REMAINDER)
    table.set_defaults(run=_cmd_table)
    int8 = sub.add_parser("int8", help="quantize with a table, like ncnn2int8: in.param in.bin out.param out.bin model.table")
    for name in ("in_param", "in_bin", "out_param", "out_bin", "table"):
        int8.add_argument(name)
    int8.add_argument("--fp32", action="store_true", help="store the float layers' weights as fp32 instead of fp16")
    int8.set_defaults(run=_cmd_int8)
    opt = sub.add_parser("optimize", help="ncnnoptimize: fuse and remove layers, add shape hints, write the model")
    opt.add_argument("inparam", help="input .param")
    opt.add_argument("inbin", help="input .bin, or null for seeded random weights")
    opt.add_argument("outparam", help="output .param")
    opt.add_argument("outbin", help="output .bin")
    opt.add_argument("flag", nargs="?", default="0", help="0 fp32 weights (default), 1 or 65536 fp16")
    opt.add_argument("cutstart", nargs="?", help="keep only the layers from this one (name)")
    opt.add_argument("cutend", nargs="?", help="keep only the layers up to this one (name)")
    opt.set_defaults(run=_cmd_optimize)
    run = sub.add_parser("run", help="run one input through a model and summarize its outputs: " + RUN_USAGE)
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(run=_cmd_run)
    bench_cmd = sub.add_parser("bench", help="latency of a model (fp32 or int8 as the file is): " + BENCH_USAGE)
    bench_cmd.add_argument("args", nargs=argparse.REMAINDER)
    bench_cmd.set_defaults(run=_cmd_bench)
    demo_cmd = sub.add_parser("demo", help="the whole job on the embedded model: optimize, table, int8, agreement")
    demo_cmd.add_argument("--method", default="kl", choices=["kl", "aciq", "eq", "mse", "best"])
    demo_cmd.add_argument("--threads", type=int, default=2)
    demo_cmd.add_argument("--workdir", help="where to write the files (default: a new temporary folder)")
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
