"""Calibration tables in ncnn2table's format, read the way ncnn2int8 reads them.

One entry per line: ``<key> <v1> <v2> ... `` with every value printed as C's ``%f`` and followed
by a space. Weight entries are keyed ``<layer>_param_<k>``, activation entries by the consuming
layer's name. ncnnq writes the same keys, order and number format as ncnn2table (so real
ncnn2int8 accepts its tables) but never writes ``inf`` or ``nan``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TableError
from .output import write_outputs

PARAM_MARK = "_param_"


@dataclass
class LayerReport:
    """What calibration found for one layer (shown by ``ncnnq table``; not stored in the file)."""

    layer: str
    type: str
    absmax: float
    threshold: float
    scale: float
    warnings: list[str] = field(default_factory=list)


@dataclass
class Table:
    """Weight scales (per output channel or group) and one input scale per calibrated layer."""

    weights: dict[str, np.ndarray] = field(default_factory=dict)
    """``<layer>_param_<k>`` -> scales, in file order."""
    activations: dict[str, float] = field(default_factory=dict)
    """layer name -> scale of its input blob, in file order."""
    report: list[LayerReport] = field(default_factory=list)
    """Per-layer findings of the calibration that made this table (empty for a loaded table)."""

    def weight_scales(self, layer: str, k: int = 0) -> np.ndarray | None:
        return self.weights.get(f"{layer}{PARAM_MARK}{k}")

    def as_stored(self) -> Table:
        """This table with every scale as its file stores it (see :func:`stored_scale`): what
        ``Table.parse(self.text())`` gives, but keeping the report and accepting ``inf``.
        ``calibrate`` returns tables in this form and ``quantize`` uses scales in this form, so the
        API, ``quantize_model`` and the command line (which goes through the file) agree to the bit."""
        weights = {k: np.array([stored_scale(v) for v in np.asarray(a).ravel()], dtype=np.float32)
                   for k, a in self.weights.items()}
        activations = {k: stored_scale(v) for k, v in self.activations.items()}
        return Table(weights, activations, list(self.report))

    def text(self) -> str:
        """The table file's content. Non-finite values are refused, not written."""
        lines = []
        for key, values in [*self.weights.items(), *((k, np.array([v])) for k, v in self.activations.items())]:
            values = np.asarray(values, dtype=np.float32).ravel()
            if not np.all(np.isfinite(values)):
                raise TableError(f"{key}: refusing to write non-finite scales {values[~np.isfinite(values)][:3]}")
            lines.append(key + " " + "".join(f"{float(v):f} " for v in values) + "\n")
        return "".join(lines)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the table through ncnnq's one writer (:mod:`ncnnq.output`): a failure leaves no
        half-written table, a symlink or device is written through, the mode follows the umask.
        Raises :class:`ncnnq.FileError` naming the path."""
        write_outputs([(path, self.text())])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Table:
        """Reads a table. Unlike ncnn2int8, an unparsable value is an error naming the line, and
        lines after a blank line are read (ncnn2int8 silently stops at the first blank line;
        that is reported in ``Table.notes`` by :func:`read_notes`)."""
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise TableError(f"{path}: {e}") from e
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, name: str = "<table>") -> Table:
        table = cls()
        seen: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.rstrip("\r")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, *tokens = line.split()
            values = []
            for t in tokens:
                try:
                    values.append(float(t))
                except ValueError:
                    raise TableError(f"{name}:{number}: {key}: {t!r} is not a number") from None
            if not values:
                raise TableError(f"{name}:{number}: {key} has no values")
            if key in seen:
                # ncnn2int8 would silently take one of them; neither is clearly meant.
                raise TableError(f"{name}:{number}: {key} is already given on line {seen[key]}")
            seen[key] = number
            if PARAM_MARK in key:
                table.weights[key] = np.array(values, dtype=np.float32)
            else:
                if len(values) != 1:
                    raise TableError(
                        f"{name}:{number}: activation entry {key} must have exactly 1 value, has {len(values)}"
                    )
                table.activations[key] = values[0]
        return table


def read_notes(text: str) -> list[str]:
    """How real ncnn2int8 would read this table differently from ncnnq."""
    notes = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip() and any(rest.strip() for rest in lines[number:]):
            notes.append(f"line {number} is blank: ncnn2int8 stops reading there and ignores the rest")
            break
    return notes


def stored_scale(value: float) -> float:
    """The scale a table file stores for ``value``: rounded to float32, printed like C's ``%f``
    (six decimals), read back. Applying it twice changes nothing; non-finite values stay as they are."""
    v = float(np.float32(value))
    return float(f"{v:f}") if math.isfinite(v) else v


def is_finite_positive(values: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(values)) and np.all(values > 0))


def format_scale(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:f}"
