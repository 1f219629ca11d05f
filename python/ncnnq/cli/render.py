"""Everything the command line shows, rendered with rich: the only module that imports it.

Each function takes the library's result as it is and prints it; the commands decide nothing here.
Output reads the same in a terminal and in a pipe (where rich assumes 80 columns unless ``COLUMNS``
says otherwise) and never breaks a word across lines: table cells wrap only at spaces and shorten a
word too long for its column with "…", tables too wide for the terminal switch to a compact layout
(abbreviated types and parameter names, a legend under them), and a line holding a word wider than
the terminal (a long path) is left for the terminal to wrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import TYPE_CHECKING, Union

from rich import box
from rich.console import Console as Console  # the commands print through it
from rich.console import JustifyMethod
from rich.markup import escape
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
from rich.text import Text

from ..table import Table

if TYPE_CHECKING:  # annotations only: `ncnnq table` does not import the other commands' modules
    from ..analyze import Analysis
    from ..demo.run import DemoResult
    from ..evaluate import Agreement
    from ..int8 import QuantizeReport
    from ..mixed_precision import MixedPrecision
    from ..optimize import OptimizeReport
    from ..recipes import Calibration
    from ..runner import BenchResult, OutputSummary
    from ..summary import ModelSummary
    from ..verify import Verification

StrPath = Union[str, "PathLike[str]"]
KernelCalls = list[tuple[str, str, int]]


def line(console: Console, markup: str) -> None:
    """One line of text: wrapped at spaces, or not at all when a word (a path) is wider than the
    terminal, so that no word is ever split."""
    plain = Text.from_markup(markup).plain
    longest = max((len(word) for word in plain.split()), default=0)
    console.print(markup, highlight=False, soft_wrap=longest > console.width)


def _table(title: str | None = None, compact: bool = False) -> RichTable:
    """A table whose cells never fold a word: see :func:`_column`. Compact: no borders, one space
    of padding, so more columns fit in 80."""
    if compact:
        return RichTable(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                         padding=(0, 1))
    return RichTable(title=title, header_style="bold")


def _column(table: RichTable, header: str, justify: JustifyMethod = "left", wrap: bool = True) -> None:
    """Cells wrap at spaces only (``wrap``) or not at all; a word too long for the column ends in "…"."""
    table.add_column(header, justify=justify, overflow="ellipsis", no_wrap=not wrap)


def _keep_words_whole(table: RichTable) -> None:
    """Makes every column at least as wide as its longest word, so that rich, which otherwise
    narrows columns below that when space is short, wraps cells only between words."""
    for column in table.columns:
        texts = [c if isinstance(c, Text) else Text.from_markup(str(c)) for c in [column.header, *column.cells]]
        longest = max((len(word) for text in texts for word in text.plain.split()), default=0)
        column.min_width = max(column.min_width or 0, longest)


def _fits(console: Console, table: RichTable) -> bool:
    """Whether ``table`` prints within the terminal with no word shortened (cells may wrap at spaces)."""
    _keep_words_whole(table)
    unlimited = console.options.update(max_width=1_000_000)  # measure() clamps to the width it is given
    return console.measure(table, options=unlimited).minimum <= console.width


def error(message: object) -> None:
    """The one line a failing command prints, on stderr. The message is printed as it is: rich
    markup in it (``shape=[227,227,3]``, a layer named ``[x]``) is not interpreted."""
    Console(stderr=True).print(f"[red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def warning(console: Console, message: str) -> None:
    line(console, f"[yellow]warning:[/] {escape(message)}")


def wrote(console: Console, paths: Sequence[StrPath], detail: str = "") -> None:
    """``wrote a and b (detail)``."""
    names = " and ".join(f"[bold]{escape(str(p))}[/]" for p in paths)
    line(console, f"wrote {names}" + (f" ({escape(detail)})" if detail else ""))


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


# Short forms for the compact layouts (and the legend that explains the ones a table used).
TYPE_ABBREVIATIONS = {
    "Convolution": "Conv",
    "ConvolutionDepthWise": "ConvDW",
    "Convolution1D": "Conv1D",
    "Convolution3D": "Conv3D",
    "ConvolutionDepthWise1D": "ConvDW1D",
    "ConvolutionDepthWise3D": "ConvDW3D",
    "Deconvolution": "Deconv",
    "DeconvolutionDepthWise": "DeconvDW",
    "Deconvolution1D": "Deconv1D",
    "Deconvolution3D": "Deconv3D",
    "DeconvolutionDepthWise1D": "DeconvDW1D",
    "DeconvolutionDepthWise3D": "DeconvDW3D",
    "InnerProduct": "InnerProd",
    "MultiHeadAttention": "MHA",
    "YoloDetectionOutput": "YoloDetOut",
    "Yolov3DetectionOutput": "Yolov3DetOut",
    "DetectionOutput": "DetOut",
}
PARAM_ABBREVIATIONS = {
    "num_output": "out",
    "kernel_w": "k",
    "kernel_h": "kh",
    "stride_w": "s",
    "stride_h": "sh",
    "pad_left": "pad",
    "dilation_w": "dil",
    "activation_type": "act",
    "group": "g",
    "int8_scale_term": "int8",
    "pooling_type": "pool",
    "global_pooling": "global",
    "op_type": "op",
    "with_scalar": "scalar",
    "order_type": "order",
}


def _short_params(names: Sequence[str], text: str) -> tuple[str, set[str]]:
    """``key_params`` with abbreviated names, and the names it abbreviated."""
    used = {n for n in names if n in PARAM_ABBREVIATIONS}
    for name in used:
        text = " ".join(PARAM_ABBREVIATIONS[name] + part[len(name):] if part.startswith(name + "=") else part
                        for part in text.split(" "))
    return text, used


def _legend(types: set[str], params: set[str]) -> str:
    parts = [f"{TYPE_ABBREVIATIONS[t]}={t}" for t in sorted(types)]
    parts += [f"{PARAM_ABBREVIATIONS[p]}={p}" for p in sorted(params, key=list(PARAM_ABBREVIATIONS).index)]
    return ", ".join(parts)


def _full_layers(summary: ModelSummary) -> RichTable:
    table = _table()
    columns: list[tuple[str, JustifyMethod]] = [
        ("#", "right"), ("type", "left"), ("name", "left"), ("inputs", "left"), ("outputs", "left"),
        ("key params", "left"), ("weights", "right"), ("storage", "left"), ("shape", "left"),
    ]
    for column, justify in columns:
        _column(table, column, justify)
    for r in summary.rows:
        weights = f"{r.weight_count:,}" if r.weight_count else ""
        table.add_row(
            str(r.index), r.type, r.name, " ".join(r.inputs), " ".join(r.outputs), r.key_params, weights, r.storage,
            r.shapes,
        )
    return table


def _compact_layers(summary: ModelSummary) -> tuple[RichTable, str]:
    """One line per layer (in 80 columns for the usual layer names): abbreviated types and params,
    inputs as the numbers of the layers that write them, no blob names; and the legend of the
    abbreviations used."""
    table = _table(compact=True)
    with_shapes = any(r.shapes for r in summary.rows)
    columns: list[tuple[str, JustifyMethod]] = [
        ("#", "right"), ("type", "left"), ("name", "left"), ("from", "left"), ("key params", "left"),
        ("weights", "right"),
    ]
    if with_shapes:
        columns.append(("shape", "left"))
    for column, justify in columns:
        _column(table, column, justify, wrap=column in ("key params", "shape"))
    types: set[str] = set()
    params: set[str] = set()
    for r in summary.rows:
        if r.type in TYPE_ABBREVIATIONS:
            types.add(r.type)
        key, used = _short_params(r.key_param_names, r.key_params)
        params |= used
        sources = ",".join("?" if i is None else str(i) for i in r.input_layers)
        cells = [str(r.index), TYPE_ABBREVIATIONS.get(r.type, r.type), r.name, sources, key,
                 f"{r.weight_count:,}" if r.weight_count else ""]
        table.add_row(*cells, *([r.shapes] if with_shapes else []))
    _keep_words_whole(table)  # when even this is too wide, params wrap at spaces before anything is cut
    return table, _legend(types, params)


def model_summary(console: Console, title: str, summary: ModelSummary) -> None:
    line(console, f"[bold]{title}[/]")
    full = _full_layers(summary)
    if _fits(console, full):
        console.print(full)
    else:
        compact, legend = _compact_layers(summary)
        console.print(compact)
        legend = "from: the layers writing the inputs" + (f"; {legend}" if legend else "")
        line(console, f"[dim]{legend} (a wider terminal or --json shows blob names and every param)[/]")
    types = ", ".join(f"{t} {n}" for t, n in summary.layer_types.most_common())
    line(console, f"[bold]{len(summary.rows)}[/] layers ({types})")
    line(
        console,
        f"[bold]{summary.blob_count}[/] blobs; inputs: {', '.join(summary.inputs) or '-'}; "
        f"outputs: {', '.join(summary.outputs) or '-'}",
    )
    line(console, f"[bold]{summary.weight_count:,}[/] weights, {summary.weight_bytes:,} bytes")
    for w in summary.warnings:
        warning(console, w)


# --- optimize, table, int8, quantize -------------------------------------------------------------


def optimize_report(console: Console, title: str, report: OptimizeReport) -> None:
    line(console, f"[bold]{title}[/]")
    table = _table()
    _column(table, "pass")
    _column(table, "fired", "right")
    _column(table, "layers (surviving layer first)")
    for p in report.fired:
        table.add_row(p.name, str(p.count), ", ".join("+".join(f) for f in p.fired))
    if not report.fired:
        table.add_row("[dim]no pass matched[/]", "0", "")
    console.print(table)
    counts = _table()
    for column in ("", "before", "after"):
        _column(counts, column, "right" if column else "left")
    for label, attr in [("layers", "layers"), ("blobs", "blobs"), ("weight bytes", "weight_bytes")]:
        counts.add_row(label, f"{getattr(report.before, attr):,}", f"{getattr(report.after, attr):,}")
    console.print(counts)
    si = report.shape_inference
    if si.ran:
        line(console, f"shape inference: {si.new_hints} new shape hints")
    else:
        line(console, f"[yellow]shape inference skipped:[/] {si.reason}")
    for d in report.declined:
        line(console, f"[yellow]kept (ncnnoptimize would rewrite):[/] {d}")
    for note in report.notes:
        line(console, note)


def calibration_report(console: Console, table: Table) -> None:
    def build(compact: bool) -> RichTable:
        out = _table("calibration", compact=compact)
        columns: list[tuple[str, JustifyMethod]] = [
            ("layer", "left"), ("type", "left"), ("absmax", "right"), ("threshold", "right"), ("scale", "right"),
            ("warning", "left"),
        ]
        for column, justify in columns:
            _column(out, column, justify, wrap=column == "warning")
        for r in table.report:
            warnings = "[yellow]" + "; ".join(r.warnings) + "[/]" if r.warnings else ""
            kind = TYPE_ABBREVIATIONS.get(r.type, r.type) if compact else r.type
            out.add_row(r.layer, kind, f"{r.absmax:.4g}", f"{r.threshold:.4g}", f"{r.scale:.6g}", warnings)
        return out

    full = build(compact=False)
    console.print(full if _fits(console, full) else build(compact=True))


def quantize_report(console: Console, report: QuantizeReport) -> None:
    line(
        console,
        f"quantized [bold]{len(report.quantized)}[/] layers, requantized outputs of "
        f"[bold]{len(report.requantized)}[/], kept [bold]{len(report.kept_float)}[/] in float",
    )
    for name, reason in report.kept_float:
        line(console, f"  float: {name} ({reason})")
    for w in report.warnings:
        warning(console, w)


def recipe_report(console: Console, calibration: Calibration) -> None:
    """What the techniques changed and the figures on the validation samples (``auto``: every
    candidate's)."""
    o = calibration.overrides
    eq, sh = calibration.equalization, calibration.shift
    line(console, f"method [bold]{calibration.method}[/]: "
         f"{len(eq.scaled) if eq else 0} layers' channels equalized, "
         f"{len(sh.groups) if sh else 0} blobs shifted, "
         f"{len(o.weights)} layers' int8 weights rounded by search, {len(o.biases)} biases changed"
         + (f", {len(calibration.tuning.changes)} of {calibration.tuning.searched} input scales moved by the "
            "outputs' error" if calibration.tuning else ""))
    for name, score in calibration.candidates:
        line(console, f"  candidate {name}: {score}")
    if calibration.validation is not None:
        line(console, f"validation: {calibration.validation}")
    if eq or sh:
        line(console, "  the table belongs to the equalized fp32 model (it computes the same function as the input)")


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
    if metric in ("sqnr", "sqnr_mean"):
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
    # top1 and sqnr targets read a lower bound: the figures it bounds say how far the samples went.
    bound = (f" (lower bound; counted {result.quality.top1:.1%}, expected {result.quality.top1_expected:.1%})"
             if metric == "top1" else
             f" (lower bound; pooled {result.quality.sqnr_worst:.2f} dB)" if metric == "sqnr" else
             f" (lower bound; pooled, mean over outputs {result.quality.sqnr_mean:.2f} dB)" if metric == "sqnr_mean"
             else "")
    console.print(
        f"target {result.target} {verdict}: {_figure(metric, result.value)}{bound} on {result.validation_samples} "
        f"validation samples ({result.steps[0].action}: {_figure(metric, result.all_int8_value)}); "
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
    line(console, heading)
    out = _table()
    columns: list[tuple[str, JustifyMethod]] = [
        ("output", "left"), ("shape", "left"), ("min", "right"), ("max", "right"), ("mean", "right"),
    ]
    for column, justify in columns:
        _column(out, column, justify, wrap=False)
    for r in outputs:
        out.add_row(r.name, "×".join(map(str, r.shape)), f"{r.min:.4g}", f"{r.max:.4g}", f"{r.mean:.4g}")
    console.print(out)
    for r in outputs:
        if not r.top:
            continue
        best = _table(f"top-{top} of {r.name}", compact=True)
        _column(best, "index", "right", wrap=False)
        _column(best, "value", "right", wrap=False)
        if any(label for _, _, label in r.top):
            _column(best, "label")
        for i, v, label in r.top:
            best.add_row(str(i), f"{v:.4g}", *([label] if label else []))
        console.print(best)
    line(console, _kernel_line(kernels))


def run_heading(param: str, precision: str, weights: str, seconds: float, threads: int, int8_path: str) -> str:
    return (
        f"[bold]{param}[/] ({precision}, {weights}): {seconds * 1e3:.2f} ms on "
        f"{threads} thread(s), int8 path {int8_path}"
    )


def bench_result(
    console: Console, title: str, precision: str, result: BenchResult, warmup: int, available: Sequence[str]
) -> None:
    line(console, f"[bold]{title}[/]: {precision}")
    out = _table()
    for column in ("threads", "runs", "warm-up", "median ms", "min ms", "cpu median ms"):
        _column(out, column, "right", wrap=False)
    out.add_row(
        str(result.threads),
        str(len(result.times)),
        str(warmup),
        f"{result.median * 1e3:.2f}",
        f"{result.minimum * 1e3:.2f}",
        f"{result.cpu_median * 1e3:.2f}",
    )
    console.print(out)
    line(console, _kernel_line(result.kernels) + f"; available int8 paths: {', '.join(available)}")


# --- demo ----------------------------------------------------------------------------------------


def demo_start(console: Console, model: str, photos: int, calibration: int, folder: str) -> None:
    line(console, f"[bold]ncnnq demo[/]: {model}, a pretrained ImageNet classifier (fp16 weights), on {photos} "
                  f"photos: calibrates on {calibration}, compares fp32 and int8 on the {photos - calibration} others")
    line(console, f"files go to [bold]{folder}[/]")


def _int8_layers_cell(q: QuantizeReport) -> str:
    return f"{len(q.quantized)} of {len(q.quantized) + len(q.kept_float)}"


def _agreement_cell(a: Agreement) -> str:
    return f"{a.top1:.1%} ({round(a.top1 * a.count)}/{a.count})"


def demo_result(console: Console, result: DemoResult, folder: str) -> None:
    methods = result.methods
    speed = result.speed
    out = _table(compact=True)
    _column(out, "")
    for m in methods:
        _column(out, f"method={m.method}", "right", wrap=False)
    out.add_row("int8 layers", *(_int8_layers_cell(m.quantize) for m in methods))
    out.add_row("top-1 same as fp32", *(_agreement_cell(m.agreement) for m in methods))
    out.add_row("output cosine (mean)", *(f"{m.agreement.cosine_mean:.4f}" for m in methods))
    out.add_row("output cosine (lowest)", *(f"{m.agreement.cosine_min:.4f}" for m in methods))
    if all(m.ncnn_agreement is not None for m in methods):
        out.add_row("real ncnn int8: top-1", *(_agreement_cell(m.ncnn_agreement) for m in methods if m.ncnn_agreement))
        out.add_row("real ncnn int8: cosine", *(f"{m.ncnn_agreement.cosine_mean:.4f}" for m in methods
                                                if m.ncnn_agreement))
    out.add_row(f"speed-up over fp32 ({speed.fp32_ms:.1f} ms)",
                *(f"{speed.speedup(m.method):.2f}x ({speed.int8_ms[m.method]:.1f} ms)" for m in methods))
    out.add_row("calibration time", *(f"{m.seconds:.1f} s" for m in methods))
    console.print(out)
    line(console, f"[dim]{result.held_out_count} held-out photos never seen by calibration; times: ncnnq's engine, "
                  f"median of {speed.runs} runs each, {speed.threads} thread(s), on this machine[/]")
    for m in methods:
        for photo, before, after in m.changed:
            line(console, f"method={m.method} changed the top-1 of {photo}: {before} -> {after}")
    line(console, f"files in [bold]{folder}[/]: the model, calibration/, held-out/, and per method its table "
                  "and int8 model")


def commands(console: Console, intro: str, lines: Sequence[str]) -> None:
    """Commands to copy: each on one line, never wrapped by rich (the terminal may fold it)."""
    line(console, intro)
    for command in lines:
        console.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
