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


PADS = {"left": 4, "right": 15, "top": 14, "bottom": 16}
"""ncnn's Convolution and ConvolutionDepthWise padding parameters."""


def explicit_padding(model: Model, values: dict[str, float]) -> Model:
    """A copy of ``model`` in which each convolution named in ``values`` reads its input through a
    Padding layer filling its border with that value, and pads nothing itself (padding ``values``
    instead of zeros: the function of a network whose input was shifted by that much). Only for
    explicit, non-negative pads (ncnn's -233/-234 "same" padding depends on the input size)."""
    lines = model.param_text().splitlines()
    head, body = lines[:2], lines[2:]
    taken = _names(body)
    out = []
    for line in body:
        tokens = line.split()
        if len(tokens) < 2 or tokens[1] not in values:
            out.append(line)
            continue
        out.extend(_padded(tokens, values[tokens[1]], _fresh(f"{tokens[1]}_padded", taken)))
    return _rewritten(model, head, body, out, "<padded>")


def _padded(tokens: list[str], value: float, padded: str) -> list[str]:
    """The Padding line (layer and blob named ``padded``) and the rewritten convolution line for one
    convolution's tokens."""
    kind, name, bottoms, tops = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
    blobs, params = tokens[4 : 4 + bottoms + tops], tokens[4 + bottoms + tops :]
    written = {int(k): v for k, _, v in (p.partition("=") for p in params) if not k.startswith("-")}
    left = int(written.get(PADS["left"], 0))
    right = int(written.get(PADS["right"], left))
    top = int(written.get(PADS["top"], left))
    bottom = int(written.get(PADS["bottom"], top))
    if kind not in ("Convolution", "ConvolutionDepthWise") or min(left, right, top, bottom) < 0 or bottoms != 1:
        raise ValueError(f"{name}: only explicit convolution padding can be made a Padding layer")
    pad_ids = {str(i) for i in (*PADS.values(), 18)}
    kept = [p for p in params if p.partition("=")[0] not in pad_ids]
    padding = f"Padding {padded} 1 1 {blobs[0]} {padded} 0={top} 1={bottom} 2={left} 3={right} 4=0 5={value:.9g}"
    return [padding, " ".join([kind, name, "1", str(tops), padded, *blobs[1:], *kept])]


def subtract_after(model: Model, values: dict[str, float]) -> Model:
    """A copy of ``model`` in which each blob named in ``values`` is followed by a BinaryOp
    subtracting that constant, written with six decimals (a layer every ncnn runs), every later
    layer reading the difference, named ``<blob>_shifted`` (``_`` appended while the model has that
    name), instead of the blob."""
    lines = model.param_text().splitlines()
    head, body = lines[:2], lines[2:]
    taken = _names(body)
    out = []
    renamed: dict[str, str] = {}
    for line in body:
        tokens = line.split()
        if len(tokens) < 4:
            out.append(line)
            continue
        bottoms, tops = int(tokens[2]), int(tokens[3])
        reads = [renamed.get(b, b) for b in tokens[4 : 4 + bottoms]]
        out.append(" ".join([*tokens[:4], *reads, *tokens[4 + bottoms :]]))
        for top in tokens[4 + bottoms : 4 + bottoms + tops]:
            if top in values:
                renamed[top] = _fresh(f"{top}_shifted", taken)
                out.append(f"BinaryOp {renamed[top]} 1 1 {top} {renamed[top]} 0=1 1=1 2={values[top]:f}")
    return _rewritten(model, head, body, out, "<shifted>")


def _rewritten(model: Model, head: list[str], body: list[str], out: list[str], name: str) -> Model:
    """``model`` with its layer lines ``body`` replaced by ``out`` (each added line one layer and
    one blob), the same fp32 weights in order."""
    layers, blobs = (int(t) for t in head[1].split())
    added = len(out) - len(body)
    text = "\n".join([head[0], f"{layers + added} {blobs + added}", *out]) + "\n"
    return Model.from_bytes(text.encode(), model.bin_bytes("fp32"), name=name)


def _names(body: list[str]) -> set[str]:
    """Every layer and blob name on a param file's layer lines."""
    taken: set[str] = set()
    for line in body:
        tokens = line.split()
        if len(tokens) >= 4:
            taken.add(tokens[1])
            taken.update(tokens[4 : 4 + int(tokens[2]) + int(tokens[3])])
    return taken


def _fresh(name: str, taken: set[str]) -> str:
    """``name``, with ``_`` appended until no layer or blob has it (a second layer or blob of one
    name would be read in its place), now taken."""
    while name in taken:
        name += "_"
    taken.add(name)
    return name
