"""ncnn2table's command-line syntax: ``key=value`` options with bracket groups, one group per input.

Unlike ncnn, an unknown or malformed option is an error naming it (ncnn matches keys by prefix and
skips what it cannot read).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .errors import InputError
from .methods import METHODS

PIXEL_FORMATS = ("BGR", "RGB", "GRAY", "RGBA", "BGRA", "RAW")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


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
        out.append([int(t) for t in group])
    return out


def _int(key: str, value: str, allowed: tuple[int, ...] | None = None) -> int:
    if not re.fullmatch(r"[+-]?\d+", value):
        raise InputError(f"option {key}={value}: not an integer")
    v = int(value)
    if allowed is not None and v not in allowed:
        raise InputError(f"option {key}={value}: must be one of {', '.join(map(str, allowed))}")
    return v


def parse_table_options(tokens: list[str]) -> TableOptions:
    """Parses ncnn2table's ``key=value`` tokens."""
    values: dict[str, object] = {}
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
            n = _int(key, value)
            if n <= 0:
                raise InputError(f"option thread={value}: must be positive")
            values[key] = n
        elif key == "method":
            if value not in METHODS:
                raise InputError(f"option method={value}: must be one of {', '.join(METHODS)}")
            values[key] = value
        elif key == "type":
            values[key] = _int(key, value, (0, 1))
        else:
            raise InputError(f"unknown option {key!r} (ncnn2table options: mean, norm, shape, pixel, thread, method, type)")
    return TableOptions(**values)  # type: ignore[arg-type]
