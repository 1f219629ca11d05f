"""``ncnnq.quantize``: ncnn2int8's job — an fp32 model and a scale table in, the int8 model real
ncnn runs out (int8 weights and scales for calibrated layers, requantize fusion, the other
layers' weights stored as fp16 unless asked otherwise)."""

from __future__ import annotations

import os

from . import _native
from ._native import Model, QuantizeReport
from .table import Table

__all__ = ["QuantizeReport", "quantize", "save_int8"]


def quantize(model: Model, table: Table) -> tuple[Model, QuantizeReport]:
    """The int8 model for ``table``. Every problem of a table that does not fit the model (unknown
    layers, wrong number of scales, non-finite or non-positive scales) is reported at once, as an
    ``InputError``, before anything is produced. A layer missing from the table, or with only one
    of its two entries, stays in float — only that layer. The scales used are the ones the table's
    file stores (:meth:`Table.as_stored`), as ncnn2int8 reads them: a table and its file give one model."""
    table = table.as_stored()
    weights = {k: [float(x) for x in v] for k, v in table.weights.items()}
    return _native.quantize_model(model, weights, {k: float(v) for k, v in table.activations.items()})


def save_int8(
    model: Model, param: str | os.PathLike[str], bin_path: str | os.PathLike[str], fp32: bool = False
) -> None:
    """Writes an int8 model the way ncnn2int8 stores it: float arrays as fp16 (or fp32 when
    asked), int8 arrays as int8. Both files are written together or not at all
    (:mod:`ncnnq.output`); the two paths must be different files."""
    model.save(param, bin_path, storage=int8_storage(fp32))


def int8_storage(fp32: bool = False) -> str:
    """How ncnn2int8 stores the float arrays of an int8 model: fp16, or fp32 when asked."""
    return "fp32" if fp32 else "fp16"
