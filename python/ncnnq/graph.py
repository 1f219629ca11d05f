"""What calibration and its methods ask of a model's graph beyond its layer list."""

from __future__ import annotations

from ._native import Layer, Model

QUANTIZABLE = ("Convolution", "ConvolutionDepthWise", "InnerProduct")
"""The layer types ncnn2int8 makes int8 (and ncnn2table calibrates)."""


def split_sources(model: Model) -> dict[str, str]:
    """Each blob a Split produced -> the blob it copies (through chains of Splits). The copies
    hold the same data, so their statistics are collected once, on the source."""
    source = {
        top: layer.bottoms[0] for layer in model.layers if layer.type == "Split" and layer.bottoms for top in layer.tops
    }

    def resolve(blob: str) -> str:
        seen = set()
        while blob in source and blob not in seen:
            seen.add(blob)
            blob = source[blob]
        return blob

    return {blob: resolve(blob) for blob in source}


def consumers(model: Model) -> dict[str, list[Layer]]:
    """Blob -> the layers reading it, in file order."""
    readers: dict[str, list[Layer]] = {}
    for layer in model.layers:
        for blob in layer.bottoms:
            readers.setdefault(blob, []).append(layer)
    return readers


def producers(model: Model) -> dict[str, Layer]:
    """Blob -> the layer writing it."""
    return {top: layer for layer in model.layers for top in layer.tops}


def live_blobs(model: Model, index: int) -> list[str]:
    """The blobs crossing the cut after layer ``index`` (file order, which is topological):
    written by a layer at or before it and read by a layer after it. Fed with their values, a
    net computes everything after the cut."""
    layers = model.layers
    written = {top for layer in layers[: index + 1] for top in layer.tops}
    read_later = {blob for layer in layers[index + 1 :] for blob in layer.bottoms}
    return [blob for blob in model.blobs if blob in written and blob in read_later]


def fp32_copy(model: Model) -> Model:
    """An independent copy of ``model`` whose float arrays are stored as fp32, to be changed in
    place (``set_weight`` on an fp16 array would round the new values to fp16)."""
    return Model.from_bytes(model.param_text().encode(), model.bin_bytes("fp32"), name="<adjusted>")
