"""ncnn's command-line syntax, parsed here and nowhere else: file arguments followed by
``key=value`` options, per-input lists as bracket groups (``mean=[104,117,123],[0.5]``) or
comma-separated values (``pixel=BGR,GRAY``), as ncnn2table writes them.

Unlike ncnn, an unknown or malformed option is an error naming it (ncnn matches keys by prefix and
skips what it cannot read).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._native import MAX_THREADS, Model
from ..errors import InputError
from ..images import InputSpec
from ..methods.registry import METHODS, changes_weights, parse_method

if TYPE_CHECKING:  # imported where used: `ncnnq table` needs neither mixed precision nor the runner
    from ..evaluate import Target
    from ..runner import RunOptions

PIXEL_FORMATS = ("BGR", "RGB", "GRAY", "RGBA", "BGRA", "RAW")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

TABLE_USAGE = "ncnnq table model.param model.bin [list.txt[,list2.txt...]] out.table [key=value ...]"
QUANTIZE_USAGE = (
    "ncnnq quantize in.param in.bin images/|list.txt[,...] out.param out.bin mean=[..] norm=[..] "
    "shape=[..] pixel=BGR thread=N method=kl|aciq|eq|mse|best[+cle][+shift][+round][+bc]|auto [optimize=1] "
    "[table=out.table] [fp32=0] [val=0.2] [target=sqnr:30|sqnr_mean:30|cos:0.999|top1:0.99 [verify=1]]"
)
ANALYZE_USAGE = (
    "ncnnq analyze model.param model.bin images/|list.txt[,...] [existing.table] mean=[..] norm=[..] shape=[..] "
    f"pixel=BGR thread=N method={'|'.join(METHODS)} [val=0.2] [samples=N] [json=report.json] [plot=report.png] "
    "[fp32=0]"
)
RUN_USAGE = (
    "ncnnq run model.param [model.bin] [input=image|x.npy|random] [mean=[..]] [norm=[..]] "
    "[shape=[w,h,c]] [pixel=BGR] [threads=N] [seed=N] [labels=synset.txt] [top=5] [--json]"
)
BENCH_USAGE = (
    "ncnnq bench model.param [model.bin] [threads=N] [loops=N] [warmup=N] [shape=[w,h,c]] [seed=N] [--json]"
)

IMAGE_KEYS = ("mean", "norm", "shape", "pixel")
RUN_KEYS = ("input", "threads", "thread", "seed", "loops", "warmup", "labels", "top")
# Options of ncnnq quantize beyond ncnn2table's, with their defaults.
_QUANTIZE_EXTRAS = {"optimize": "1", "table": "", "fp32": "", "target": "", "val": "0.2", "verify": "0"}


# --- values ------------------------------------------------------------------------------------


def _groups(key: str, value: str) -> list[list[str]]:
    """``[a,b],[c]`` -> [["a","b"],["c"]]; anything but brackets and commas between them is an error."""
    if not re.fullmatch(r"\[[^\[\]]*\](,\[[^\[\]]*\])*", value):
        raise InputError(f"option {key}={value}: expected bracket groups like {key}=[1,2,3] or {key}=[1,2,3],[4]")
    return [[t.strip() for t in g.split(",")] if g.strip() else [] for g in re.findall(r"\[([^\[\]]*)\]", value)]


def _floats(key: str, value: str) -> list[list[float]]:
    out = []
    for group in _groups(key, value):
        for t in group:
            if not _NUMBER.match(t) or not math.isfinite(float(t)):
                raise InputError(f"option {key}={value}: {t!r} is not a finite number")
        out.append([float(t) for t in group])
    return out


def _ints(key: str, value: str) -> list[list[int]]:
    out = []
    for group in _groups(key, value):
        for t in group:
            if not re.fullmatch(r"[+-]?\d+", t):
                raise InputError(f"option {key}={value}: {t!r} is not an integer")
            if not -(2**31) <= int(t) < 2**31:
                raise InputError(f"option {key}={value}: {t} is out of range (ncnn reads a 32-bit int)")
        out.append([int(t) for t in group])
    return out


def _int(key: str, value: str, allowed: tuple[int, ...] | None = None) -> int:
    if not re.fullmatch(r"[+-]?\d+", value):
        raise InputError(f"option {key}={value}: not an integer")
    v = int(value)
    if allowed is not None and v not in allowed:
        raise InputError(f"option {key}={value}: must be one of {', '.join(map(str, allowed))}")
    return v


def _positive(key: str, value: str, minimum: int = 1) -> int:
    if not re.fullmatch(r"\d+", value) or int(value) < minimum:
        raise InputError(f"option {key}={value}: expected an integer >= {minimum}")
    return int(value)


def _threads(key: str, value: str) -> int:
    if not re.fullmatch(r"\d+", value) or not 1 <= int(value) <= MAX_THREADS:
        raise InputError(f"option {key}={value}: expected a thread count from 1 to {MAX_THREADS}")
    return int(value)


def _flag(key: str, value: str) -> bool:
    if value not in ("0", "1"):
        raise InputError(f"{key}={value}: expected 0 or 1")
    return value == "1"


def _list_files(spec: str) -> list[Path]:
    """``a.txt,b.txt`` -> one list file (or folder) per input."""
    return [Path(p) for p in spec.split(",")]


# --- ncnn2table's options ----------------------------------------------------------------------


@dataclass(frozen=True)
class TableOptions:
    """Options of ``ncnnq table`` in ncnn2table's form; per-input lists are in Input-layer order."""

    mean: list[list[float]] = field(default_factory=list)
    norm: list[list[float]] = field(default_factory=list)
    shape: list[list[int]] = field(default_factory=list)
    pixel: list[str] = field(default_factory=list)
    thread: int | None = None
    method: str = "kl"
    type: int = 0

    @property
    def input_type(self) -> str:
        """``npy`` for ``type=1``, else ``image``."""
        return "npy" if self.type == 1 else "image"


def parse_table_options(tokens: Sequence[str], recipes: bool = False) -> TableOptions:
    """Parses ncnn2table's ``key=value`` tokens (``recipes``: ``method=`` may also add techniques
    to a base method or be ``auto``, which change weights and biases beyond a table)."""
    values: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            raise InputError(f"unrecognized argument {token!r} (options are key=value)")
        if key in values:
            raise InputError(f"option {key} given twice")
        if key in ("mean", "norm"):
            values[key] = _floats(key, value)
        elif key == "shape":
            values[key] = _ints(key, value)
        elif key == "pixel":
            pixels = value.split(",")
            bad = [p for p in pixels if p not in PIXEL_FORMATS]
            if bad:
                raise InputError(f"option pixel={value}: unknown pixel format {bad[0]!r} ({', '.join(PIXEL_FORMATS)})")
            values[key] = pixels
        elif key == "thread":
            values[key] = _threads(key, value)
        elif key == "method":
            if recipes and changes_weights(value):
                parse_method(value)
            elif value not in METHODS:
                also = "" if recipes else " (techniques like kl+bc and auto need ncnnq quantize)"
                raise InputError(f"option method={value}: must be one of {', '.join(METHODS)}{also}")
            values[key] = value
        elif key == "type":
            values[key] = _int(key, value, (0, 1))
        else:
            raise InputError(
                f"unknown option {key!r} (ncnn2table options: mean, norm, shape, pixel, thread, method, type)"
            )
    return TableOptions(**values)


def input_specs(model: Model, options: TableOptions) -> list[InputSpec]:
    """ncnn2table's per-input option lists -> InputSpecs, checking they match the model's inputs."""
    n = len(model.inputs)

    def check(what: str, values: Sequence[object]) -> None:
        if len(values) != n:
            raise InputError(
                f"{what} has {len(values)} entries but the model has {n} inputs ({', '.join(model.inputs)})"
            )

    check("shape", options.shape)
    if options.input_type == "image":
        check("mean", options.mean)
        check("norm", options.norm)
        check("pixel", options.pixel)
        return [
            InputSpec(tuple(options.shape[i]), options.pixel[i], tuple(options.mean[i]), tuple(options.norm[i]))
            for i in range(n)
        ]
    return [InputSpec(tuple(options.shape[i])) for i in range(n)]


def _fraction(key: str, value: str) -> float:
    if not _NUMBER.match(value) or not 0.0 <= float(value) < 1.0:
        raise InputError(f"option {key}={value}: expected a fraction in [0, 1)")
    return float(value)


def _split_extras(tokens: Sequence[str], extras: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(ncnnq's own options over their defaults, the remaining ncnn2table options)."""
    values = dict(extras)
    seen: set[str] = set()
    rest = []
    for token in tokens:
        key, _, value = token.partition("=")
        if key in extras:
            if key in seen:
                raise InputError(f"option {key} given twice")
            seen.add(key)
            values[key] = value
        else:
            rest.append(token)
    return values, rest


# --- whole command lines -----------------------------------------------------------------------


@dataclass(frozen=True)
class TableArgs:
    """``ncnnq table``: ncnn2table's arguments; ``lists`` is None for the weight-only form."""

    param: str
    bin: str
    lists: list[Path] | None
    table: Path
    options: TableOptions


def parse_table_args(tokens: Sequence[str]) -> TableArgs:
    positional = [a for a in tokens if "=" not in a]
    keyed = [a for a in tokens if "=" in a]
    options = parse_table_options(keyed)
    if keyed != list(tokens[len(positional) :]):
        raise InputError("options (key=value) must come after the file arguments")
    if len(positional) == 3:
        param, bin_path, table_path = positional
        calibration = [t.partition("=")[0] for t in keyed if t.partition("=")[0] != "thread"]
        if calibration:
            # Almost surely a forgotten list file: writing a weight-only table would replace the
            # one that was asked for.
            raise InputError(
                f"no list file given but calibration options are ({', '.join(calibration)}): "
                f"usage: {TABLE_USAGE} (the weight-only form, model.param model.bin out.table, takes no options)"
            )
        return TableArgs(param, bin_path, None, Path(table_path), options)
    if len(positional) == 4:
        param, bin_path, list_spec, table_path = positional
        return TableArgs(param, bin_path, _list_files(list_spec), Path(table_path), options)
    raise InputError(f"usage: {TABLE_USAGE}")


@dataclass(frozen=True)
class QuantizeArgs:
    """``ncnnq quantize``: ncnn2table's arguments between ncnnoptimize's input and ncnn2int8's
    outputs, with ncnnq's own options."""

    in_param: str
    in_bin: str
    lists: list[Path]
    out_param: str
    out_bin: str
    options: TableOptions
    optimize: bool
    table: str | None
    fp32: bool | None
    """None: as :func:`ncnnq.pipeline.quantize_model` chooses (fp16 but for some targets)."""
    target: Target | None = None
    """Automatic mixed precision: the accuracy to reach on the validation split."""
    validation: float = 0.2
    verify: bool = False


def parse_quantize_args(tokens: Sequence[str]) -> QuantizeArgs:
    positional = [a for a in tokens if "=" not in a]
    keyed = [a for a in tokens if "=" in a]
    if len(positional) != 5 or keyed != list(tokens[5:]):
        raise InputError("usage: " + QUANTIZE_USAGE)
    in_param, in_bin, list_spec, out_param, out_bin = positional
    from ..evaluate import Target
    from ..mixed_precision import TARGET_METHOD

    extras, table_tokens = _split_extras(keyed, _QUANTIZE_EXTRAS)
    options = parse_table_options(table_tokens, recipes=True)
    target = Target.parse(extras["target"]) if extras["target"] else None
    given = {token.partition("=")[0] for token in keyed}
    if target is not None and "method" not in given:
        options = replace(options, method=TARGET_METHOD)
    if "verify" in given and target is None:
        raise InputError("option verify needs target= (automatic mixed precision)")
    if "val" in given and target is None and not changes_weights(options.method):
        raise InputError("option val needs target= or a method with techniques or auto (method=kl+bc, method=auto)")
    return QuantizeArgs(
        in_param,
        in_bin,
        _list_files(list_spec),
        out_param,
        out_bin,
        options,
        optimize=_flag("optimize", extras["optimize"]),
        table=extras["table"] or None,
        fp32=_flag("fp32", extras["fp32"]) if "fp32" in given else None,
        target=target,
        validation=_fraction("val", extras["val"]),
        verify=_flag("verify", extras["verify"]),
    )


# Options of ncnnq analyze beyond ncnn2table's, with their defaults.
_ANALYZE_EXTRAS = {"val": "0.2", "samples": "", "json": "", "plot": "", "fp32": "0"}


@dataclass(frozen=True)
class AnalyzeArgs:
    """``ncnnq analyze``: ncnn2table's arguments, an optional existing table instead of calibrating,
    and where the report goes."""

    param: str
    bin: str
    lists: list[Path]
    table: Path | None
    options: TableOptions
    validation: float
    samples: int | None
    json: Path | None
    plot: Path | None
    fp32: bool


def parse_analyze_args(tokens: Sequence[str]) -> AnalyzeArgs:
    positional = [a for a in tokens if "=" not in a]
    keyed = [a for a in tokens if "=" in a]
    if len(positional) not in (3, 4) or keyed != list(tokens[len(positional) :]):
        raise InputError("usage: " + ANALYZE_USAGE)
    extras, rest = _split_extras(keyed, _ANALYZE_EXTRAS)
    return AnalyzeArgs(
        positional[0],
        positional[1],
        _list_files(positional[2]),
        Path(positional[3]) if len(positional) == 4 else None,
        parse_table_options(rest),
        validation=_fraction("val", extras["val"]),
        samples=_positive("samples", extras["samples"]) if extras["samples"] else None,
        json=Path(extras["json"]) if extras["json"] else None,
        plot=Path(extras["plot"]) if extras["plot"] else None,
        fp32=_flag("fp32", extras["fp32"]),
    )


def parse_run_options(tokens: Sequence[str]) -> RunOptions:
    """``ncnnq run`` / ``ncnnq bench`` options; ``mean``/``norm``/``shape``/``pixel`` as ncnn2table
    writes them."""
    from ..runner import RunOptions

    image_tokens: list[str] = []
    values: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            raise InputError(f"unrecognized argument {token!r} (options are key=value)")
        if key in IMAGE_KEYS:
            image_tokens.append(token)
            continue
        if key not in RUN_KEYS:
            raise InputError(f"unknown option {key!r} (options: {', '.join(IMAGE_KEYS + RUN_KEYS)})")
        key = {"thread": "threads", "input": "inputs"}.get(key, key)
        if key in values:
            raise InputError(f"option {key} given twice")
        if key == "inputs":
            values[key] = [v for v in value.split(",") if v]
        elif key == "labels":
            values[key] = Path(value)
        elif key in ("seed", "warmup"):
            values[key] = _positive(key, value, 0)
        elif key == "threads":
            values[key] = _threads(key, value)
        else:
            values[key] = _positive(key, value)
    image = parse_table_options(image_tokens)
    return RunOptions(mean=image.mean, norm=image.norm, shape=image.shape, pixel=image.pixel, **values)


@dataclass(frozen=True)
class RunArgs:
    """``ncnnq run`` / ``ncnnq bench``: a model (without its .bin: seeded random weights) and options."""

    param: str
    bin: str | None
    options: RunOptions


def parse_run_args(tokens: Sequence[str], usage: str) -> RunArgs:
    """model.param [model.bin] then key=value options."""
    files = [t for t in tokens if "=" not in t]
    if not 1 <= len(files) <= 2 or list(tokens[: len(files)]) != files:
        raise InputError(f"usage: {usage}")
    return RunArgs(files[0], files[1] if len(files) == 2 else None, parse_run_options(tokens[len(files) :]))
