"""ncnnq: post-training int8 quantization for ncnn models.

    import ncnnq
    model = ncnnq.Model.load("model.param", "model.bin")
    optimized, _ = ncnnq.optimize(model)
    spec = ncnnq.InputSpec((227, 227, 3), "BGR", (104, 117, 123), (1, 1, 1))
    table = ncnnq.calibrate(optimized, image_paths, "kl", specs=[spec])
    int8, report = ncnnq.quantize(optimized, table)
    ncnnq.save_int8(int8, "int8.param", "int8.bin")
    ncnnq.Net("int8.param", "int8.bin", threads=2).run({"data": x}, ["prob"])

    # or all three steps at once:
    result = ncnnq.quantize_model(model, image_paths, "kl", specs=[spec])
    ncnnq.save_int8(result.model, "int8.param", "int8.bin")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._native import (
    Layer,
    Model,
    Net,
    __version__,
    from_pixels,
    int8_kernel,
    int8_kernels_available,
    kernel_calls,
    kernel_info,
)
from .calibrate import calibrate
from .errors import (
    Error,
    FileError,
    ImageError,
    InputError,
    LayerError,
    OutOfMemoryError,
    ParamError,
    ShapeError,
    TableError,
    UnsupportedLayerError,
    WeightsError,
)
from .images import InputSpec
from .int8 import QuantizeReport, quantize, save_int8
from .optimize import OptimizeReport, optimize
from .samples import Sample
from .table import Table

if TYPE_CHECKING:
    from .pipeline import QuantizeResult, quantize_model
    from .summary import ModelSummary, summarize

# Imported on first use (PEP 562): the pipeline brings in mixed precision and the recipes, which
# `ncnnq table` and most scripts never use, and its import was a tenth of the command's start-up.
_LAZY = {
    "QuantizeResult": "pipeline",
    "quantize_model": "pipeline",
    "ModelSummary": "summary",
    "summarize": "summary",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "Error",
    "FileError",
    "ImageError",
    "InputError",
    "InputSpec",
    "Layer",
    "LayerError",
    "Model",
    "ModelSummary",
    "Net",
    "OptimizeReport",
    "OutOfMemoryError",
    "ParamError",
    "QuantizeReport",
    "QuantizeResult",
    "Sample",
    "ShapeError",
    "Table",
    "TableError",
    "UnsupportedLayerError",
    "WeightsError",
    "__version__",
    "calibrate",
    "from_pixels",
    "int8_kernel",
    "int8_kernels_available",
    "kernel_calls",
    "kernel_info",
    "optimize",
    "quantize",
    "quantize_model",
    "save_int8",
    "summarize",
]
