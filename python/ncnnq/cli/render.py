"""Everything the command line shows, rendered with rich: the only module that imports it.

Each function takes the library's result as it is and prints it; the commands decide nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Union

from rich.console import Console as Console  # the commands print through it
from rich.console import JustifyMethod
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table as RichTable

from ..int8 import QuantizeReport
from ..optimize import OptimizeReport
from ..pipeline import DemoResult
from ..runner import BenchResult, OutputSummary
from ..summary import ModelSummary
from ..table import Table

StrPath = Union[str, "PathLike[str]"]
KernelCalls = list[tuple[str, str, int]]


def error(message: object) -> None:
    """The one line a failing command prints, on stderr."""
    Console(stderr=True).print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)


def warning(console: Console, message: str) -> None:
    console.print(f"[yellow]warning:[/] {message}")


def wrote(console: Console, paths: Sequence[StrPath], detail: str = "") -> None:
    """``wrote a and b (detail)``."""
    names = " and ".join(f"[bold]{p}[/]" for p in paths)
    console.print(f"wrote {names}" + (f" ({detail})" if detail else ""))


class RichProgress:
    """Calibration progress as rich bars: items/s and time remaining per stage."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

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


# --- info --------------------------------------------------------------------------------------


def model_summary(console: Console, title: str, summary: ModelSummary) -> None:
    table = RichTable(title=title, header_style="bold", show_lines=False)
    columns: list[tuple[str, JustifyMethod]] = [
        ("#", "right"),
        ("type", "left"),
        ("name", "left"),
        ("inputs", "left"),
        ("outputs", "left"),
        ("key params", "left"),
        ("weights", "right"),
        ("storage", "left"),
        ("shape", "left"),
    ]
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")
    for r in summary.rows:
        weights = f"{r.weight_count:,}" if r.weight_count else ""
        table.add_row(
            str(r.index), r.type, r.name, " ".join(r.inputs), " ".join(r.outputs), r.key_params, weights, r.storage,
            r.shapes,
        )
    console.print(table)
    types = ", ".join(f"{t} {n}" for t, n in summary.layer_types.most_common())
    console.print(f"[bold]{len(summary.rows)}[/] layers ({types})")
    console.print(
        f"[bold]{summary.blob_count}[/] blobs; inputs: {', '.join(summary.inputs) or '-'}; "
        f"outputs: {', '.join(summary.outputs) or '-'}"
    )
    console.print(f"[bold]{summary.weight_count:,}[/] weights, {summary.weight_bytes:,} bytes")
    for w in summary.warnings:
        warning(console, w)


# --- optimize, table, int8, quantize -------------------------------------------------------------


def optimize_report(console: Console, title: str, report: OptimizeReport) -> None:
    table = RichTable(title=title, header_style="bold")
    table.add_column("pass")
    table.add_column("fired", justify="right")
    table.add_column("layers (surviving layer first)", overflow="fold")
    for p in report.fired:
        table.add_row(p.name, str(p.count), ", ".join("+".join(f) for f in p.fired))
    if not report.fired:
        table.add_row("[dim]no pass matched[/]", "0", "")
    console.print(table)
    counts = RichTable(header_style="bold")
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


def calibration_report(console: Console, table: Table) -> None:
    out = RichTable(title="calibration", header_style="bold")
    columns: list[tuple[str, JustifyMethod]] = [
        ("layer", "left"),
        ("type", "left"),
        ("absmax", "right"),
        ("threshold", "right"),
        ("scale", "right"),
        ("warning", "left"),
    ]
    for column, justify in columns:
        out.add_column(column, justify=justify)
    for r in table.report:
        warnings = "[yellow]" + "; ".join(r.warnings) + "[/]" if r.warnings else ""
        out.add_row(r.layer, r.type, f"{r.absmax:.4g}", f"{r.threshold:.4g}", f"{r.scale:.6g}", warnings)
    console.print(out)


def quantize_report(console: Console, report: QuantizeReport) -> None:
    console.print(
        f"quantized [bold]{len(report.quantized)}[/] layers, requantized outputs of "
        f"[bold]{len(report.requantized)}[/], kept [bold]{len(report.kept_float)}[/] in float"
    )
    for name, reason in report.kept_float:
        console.print(f"  float: {name} ({reason})")
    for w in report.warnings:
        warning(console, w)


# --- run, bench ----------------------------------------------------------------------------------


def _kernel_line(kernels: KernelCalls) -> str:
    if not kernels:
        return "no int8 kernels ran (fp32 model)"
    return "int8 kernels: " + ", ".join(f"{kind} [bold]{path}[/] ×{n}" for kind, path, n in kernels)


def run_result(
    console: Console,
    heading: str,
    outputs: Sequence[OutputSummary],
    top: int,
    kernels: KernelCalls,
) -> None:
    console.print(heading)
    out = RichTable(header_style="bold")
    columns: list[tuple[str, JustifyMethod]] = [
        ("output", "left"),
        ("shape", "left"),
        ("min", "right"),
        ("max", "right"),
        ("mean", "right"),
        (f"top-{top}", "left"),
    ]
    for column, justify in columns:
        out.add_column(column, justify=justify, overflow="fold")
    for r in outputs:
        best = "  ".join(f"{i}{' ' + label if label else ''}: {v:.4g}" for i, v, label in r.top)
        out.add_row(r.name, "×".join(map(str, r.shape)), f"{r.min:.4g}", f"{r.max:.4g}", f"{r.mean:.4g}", best)
    console.print(out)
    console.print(_kernel_line(kernels))


def run_heading(param: str, precision: str, weights: str, seconds: float, threads: int, int8_path: str) -> str:
    return (
        f"[bold]{param}[/] ({precision}, {weights}): {seconds * 1e3:.2f} ms on "
        f"{threads} thread(s), int8 path {int8_path}"
    )


def bench_result(
    console: Console, title: str, precision: str, result: BenchResult, warmup: int, available: Sequence[str]
) -> None:
    out = RichTable(title=title, header_style="bold")
    for column in ("precision", "threads", "runs", "median ms", "min ms", "cpu median ms"):
        out.add_column(column, justify="left" if column == "precision" else "right")
    out.add_row(
        precision,
        str(result.threads),
        f"{len(result.times)} (+{warmup} warm-up)",
        f"{result.median * 1e3:.2f}",
        f"{result.minimum * 1e3:.2f}",
        f"{result.cpu_median * 1e3:.2f}",
    )
    console.print(out)
    console.print(_kernel_line(result.kernels) + f"; available int8 paths: {', '.join(available)}")


# --- demo ----------------------------------------------------------------------------------------


def demo_start(console: Console, model: str, images: int, workdir: Path) -> None:
    console.print(f"[bold]ncnnq demo[/]: the embedded model {model}, {images} images; files in {workdir}")


def demo_result(console: Console, method: str, result: DemoResult) -> None:
    steps = RichTable(title="pipeline", header_style="bold")
    steps.add_column("step")
    steps.add_column("result")
    fired = ", ".join(f"{p.name} x{p.count}" for p in result.optimize.fired)
    steps.add_row("optimize", f"{result.optimize.before.layers} -> {result.optimize.after.layers} layers ({fired})")
    steps.add_row(f"table (method={method})", f"{len(result.table.activations)} layers calibrated")
    q = result.quantize
    steps.add_row(
        "int8", f"{len(q.quantized)} layers int8, {len(q.requantized)} requantized, {len(q.kept_float)} float"
    )
    a = result.agreement
    steps.add_row(
        "fp32 vs int8",
        f"top-1 agreement {a.top1:.1%} on {a.count} held-out images, "
        f"output cosine mean {a.cosine_mean:.5f} (min {a.cosine_min:.5f})",
    )
    steps.add_row("accuracy", f"fp32 {result.fp32_accuracy:.1%}, int8 {result.int8_accuracy:.1%}")
    console.print(steps)
    for name, path in result.files.items():
        console.print(f"  {name}: {path}")
