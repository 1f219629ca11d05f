"""What ``ncnnq info`` shows about a model, as plain data (the CLI only renders it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Union

from ._native import Layer, Model
from .flushed_weights import flushed_fp16_weights

ParamValue = Union[int, float, str, list[int], list[float]]


@dataclass(frozen=True)
class LayerRow:
    index: int
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    input_layers: list[int | None]
    """Per input blob, the index of the layer that writes it (None when no layer does)."""
    params: dict[str, ParamValue]
    """Every parameter written in the file, by ncnn's name for it (its id when it has none)."""
    key_params: str
    key_param_names: list[str]
    """The names in ``key_params``, in order."""
    weight_count: int
    storage: str
    shapes: str


@dataclass(frozen=True)
class ModelSummary:
    rows: list[LayerRow]
    layer_types: Counter[str]
    blob_count: int
    weight_count: int
    weight_bytes: int
    inputs: list[str]
    outputs: list[str]
    warnings: list[str] = field(default_factory=list)


_BYTES_PER_VALUE = {"fp32": 4, "fp16": 2, "int8": 1, "codebook": 1}


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    return str(value)


def _key_params(layer: Layer) -> list[tuple[str, str]]:
    names = dict(layer.param_names)
    written = layer.params
    expressions = layer.expressions
    shown = [i for i in layer.key_params if i in written] or sorted(written)[:6]
    shown += [i for i in expressions if i not in shown]
    # Shape expressions in infix form, @k being the layer's k-th input.
    text = {i: f"[{expressions[i]}]" if i in expressions else _format_value(written[i]) for i in shown}
    return [(names.get(i, str(i)), text[i]) for i in shown]


def _params(layer: Layer) -> dict[str, ParamValue]:
    names = dict(layer.param_names)
    return {names.get(i, str(i)): value for i, value in sorted(layer.params.items())}


def _shape_text(shape: tuple[int, int, int, int, int] | None) -> str:
    if shape is None:
        return ""
    dims, w, h, d, c = shape
    extents = {1: [w], 2: [w, h], 3: [w, h, c], 4: [w, h, d, c]}.get(dims)
    return "x".join(map(str, extents)) if extents else "?"


def _row(model: Model, layer: Layer, producers: dict[str, int]) -> LayerRow:
    weights = layer.weights
    storages = sorted({s for _, s in layer.weight_storage})
    key = _key_params(layer)
    return LayerRow(
        index=layer.index,
        type=layer.type,
        name=layer.name,
        inputs=layer.bottoms,
        outputs=layer.tops,
        input_layers=[producers.get(b) for b in layer.bottoms],
        params=_params(layer),
        key_params=" ".join(f"{name}={value}" for name, value in key),
        key_param_names=[name for name, _ in key],
        weight_count=sum(int(a.size) for a in weights.values()),
        storage="/".join(storages),
        shapes=" ".join(filter(None, (_shape_text(model.blob_shape(t)) for t in layer.tops))),
    )


def _weight_bytes(layer: Layer) -> int:
    sizes = {name: int(array.size) for name, array in layer.weights.items()}
    return sum(sizes[name] * _BYTES_PER_VALUE[storage] for name, storage in layer.weight_storage)


def summarize(model: Model) -> ModelSummary:
    """Per-layer rows and totals for a loaded model."""
    layers = model.layers
    producers = {top: layer.index for layer in layers for top in layer.tops}
    rows = [_row(model, layer, producers) for layer in layers]
    return ModelSummary(
        rows=rows,
        layer_types=Counter(r.type for r in rows),
        blob_count=len(model.blobs),
        weight_count=sum(r.weight_count for r in rows),
        weight_bytes=sum(_weight_bytes(layer) for layer in layers),
        inputs=model.inputs,
        outputs=model.outputs,
        warnings=[*model.warnings, *flushed_fp16_weights(model)],
    )
