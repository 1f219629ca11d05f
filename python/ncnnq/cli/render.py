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

from ..analyze import Analysis
from ..int8 import QuantizeReport
from ..mixed_precision import MixedPrecision
from ..optimize import OptimizeReport
from ..pipeline import DemoResult
from ..runner import BenchResult, OutputSummary
from ..summary import ModelSummary
from ..table import Table
from ..verify import Verification

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


# --- analyze -------------------------------------------------------------------------------------


def _db(v: float) -> str:
    return "exact" if v == float("inf") else f"{v:.1f}"


_SHORT_TYPES = {"Convolution": "conv", "ConvolutionDepthWise": "dw", "InnerProduct": "fc"}


def analysis_report(console: Console, analysis: Analysis, model: str) -> None:
    """The per-layer table, the worst layers in red, large float gains in yellow."""
    out = RichTable(title=f"{model}: int8 layer by layer", header_style="bold")
    columns: list[tuple[str, JustifyMethod]] = [
        ("#", "right"), ("layer", "left"), ("type", "left"), ("MACs", "right"), ("thresh", "right"),
        ("clip", "right"), ("w dB", "right"), ("alone dB", "right"), ("cos", "right"), ("upto dB", "right"),
        ("float +dB", "right"),
    ]
    for column, justify in columns:
        out.add_column(column, justify=justify, overflow="fold")
    worst = {r.name for r in analysis.worst(max(3, len(analysis.layers) // 10))}
    for k, r in enumerate(analysis.layers):
        gain = analysis.float_gain(r)
        w = _db(r.weight_sqnr_db) + (f" (8b {_db(r.weight_sqnr_db_8bit)})" if r.weight_sqnr_db_8bit is not None else "")
        style = "bold red" if r.name in worst else "yellow" if gain >= 1.0 else None
        out.add_row(
            str(k), r.name, _SHORT_TYPES.get(r.type, r.type), f"{r.mac_share:.1%}", f"{r.threshold:.4g}",
            f"{r.clipped:.2%}", w, _db(r.isolated.sqnr_db), f"{r.isolated.cosine:.4f}", _db(r.cumulative.sqnr_db),
            f"{gain:+.2f}", style=style,
        )
    console.print(out)
    a = analysis.all_int8
    console.print(
        f"all layers int8: output SQNR [bold]{_db(a.sqnr_db)} dB[/], cosine {a.cosine:.5f} "
        f"(lowest {a.cosine_min:.5f}), "
        f"top-1 agreement {a.top1:.1%}; on {analysis.analysed_samples} of {analysis.validation_samples} validation "
        f"samples (calibration: {analysis.calibration_samples}, method {analysis.method}), {analysis.seconds:.1f} s"
    )
    names = ", ".join(r.name for r in analysis.worst(3))
    console.print(f"worst alone: {names}; [dim]alone = only this layer int8, upto = every layer up to it int8, "
                  f"float = only this layer float; w dB = weight rounding SQNR (8b: at ±127 instead of ncnn's "
                  f"6-bit rule)[/]")


def _figure(metric: str, v: float) -> str:
    if metric == "sqnr":
        return f"{_db(v)} dB"
    if metric == "top1":
        return f"{v:.1%}"
    return f"{v:.5f}" if metric == "cos" else f"{v:.4g}"


def mixed_precision_report(console: Console, result: MixedPrecision, latency: dict[str, float], threads: int) -> None:
    """What the search kept float and why, the share of MACs still int8, the figure reached, and
    ncnnq's latency of the result beside all-int8 and fp32."""
    metric = result.target.split(":")[0] if ":" in result.target else "task"
    changed = [d for d in result.decisions if d.reason]
    if changed:
        out = RichTable(title=f"mixed precision for {result.target}", header_style="bold")
        for column in ("layer", "precision", "scales", "why"):
            out.add_column(column, overflow="fold")
        for d in changed:
            out.add_row(d.name, "[yellow]float[/]" if d.precision == "float" else "int8",
                        "-" if d.precision == "float" else d.variant, d.reason)
        console.print(out)
    verdict = "[green]met[/]" if result.met else "[red]not met[/]"
    console.print(
        f"target {result.target} {verdict}: {_figure(metric, result.value)} on {result.validation_samples} "
        f"validation samples (all int8 with the method's table: {_figure(metric, result.all_int8_value)}); "
        f"{len(result.float_layers)} layer(s) float, [bold]{result.int8_mac_share:.1%}[/] of the MACs int8"
    )
    times = ", ".join(f"{name} {seconds * 1e3:.3g} ms" for name, seconds in latency.items())
    console.print(f"ncnnq latency ({threads} thread(s), median): {times}")


def verification(console: Console, v: Verification, metric: str, samples: int) -> None:
    """Real ncnn's figure beside ncnnq's for the written files."""
    verdict = "[green]agree[/]" if v.agree else "[red]disagree[/]"
    console.print(
        f"verify in real ncnn on {samples} validation samples: ncnn {_figure(metric, v.ncnn_value)}, "
        f"ncnnq {_figure(metric, v.ncnnq_value)}: {verdict}"
    )
    if v.divergence is not None:
        d = v.divergence
        console.print(f"  first divergence: layer {d.layer} ({d.type}), blob {d.blob}: {_db(d.sqnr_db)} dB between "
                      f"the engines")
    elif not v.agree:
        console.print("  every blob agrees on the sample compared: the difference is spread over samples")


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
