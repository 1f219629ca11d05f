"""ncnnq: post-training int8 quantization for ncnn models.

    import ncnnq
    model = ncnnq.Model.load("model.param", "model.bin")
    for layer in model.layers:
        print(layer.type, layer.name, layer.params)
"""

from __future__ import annotations

from ._native import Layer, Model, Net, __version__
from .errors import (
    Error,
    FileError,
    ImageError,
    InputError,
    LayerError,
    ParamError,
    ShapeError,
    TableError,
    UnsupportedLayerError,
    WeightsError,
)
from .optimize import OptimizeReport, optimize
from .summary import ModelSummary, summarize

__all__ = [
    "Error",
    "FileError",
    "ImageError",
    "InputError",
    "Layer",
    "LayerError",
    "Model",
    "Net",
    "ModelSummary",
    "OptimizeReport",
    "ParamError",
    "ShapeError",
    "TableError",
    "UnsupportedLayerError",
    "WeightsError",
    "__version__",
    "optimize",
    "summarize",
]
