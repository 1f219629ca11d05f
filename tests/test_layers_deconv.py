"""Deconvolution and DeconvolutionDepthWise against real ncnn: one-layer models over every
parameter (kernel, stride, dilation, pads, output padding, output size with SAME rules, groups,
bias, activations, dynamic weights)."""

from __future__ import annotations

import numpy as np
import pytest

import ncnnq
from reference import assert_close, run_ncnn

ACTIVATIONS = {
    "none": "",
    "relu": "9=1",
    "leaky": "9=2 -23310=1,0.1",
    "clip": "9=3 -23310=2,-0.2,0.3",
    "sigmoid": "9=4",
    "mish": "9=5",
    "hardswish": "9=6 -23310=2,0.1666667,0.5",
}


def layer_params(channels: int, num_output: int, group: int, kernel: tuple[int, int], extra: str) -> str:
    kw, kh = kernel
    weight_size = num_output * (channels // group) * kw * kh
    params = f"0={num_output} 1={kw} 11={kh} 6={weight_size}"
    if group != 1:
        params += f" 7={group}"
    return f"{params} {extra}".strip()


def compare(tmp_path, layer: str, inputs: dict[str, np.ndarray], seed: int = 1):
    """Runs `layer` (bottoms = the inputs in order, top `out`) in ncnnq and in ncnn."""
    lines = [f"Input in_{name} 0 1 {name}" for name in inputs]
    lines.append(f"{layer.split()[0]} layer {len(inputs)} 1 {' '.join(inputs)} out {' '.join(layer.split()[1:])}")
    text = f"7767517\n{len(lines)} {len(inputs) + 1}\n" + "\n".join(lines) + "\n"
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(seed)
    param, bin_path = tmp_path / "m.param", tmp_path / "m.bin"
    model.save(param, bin_path)
    ours = ncnnq.Net(param, bin_path).run(inputs, ["out"])["out"]
    theirs = run_ncnn(param, bin_path, inputs, ["out"])["out"]
    assert_close(ours, theirs, layer)
    return ours


def random_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(np.float32)


# (input (c, h, w), num_output, kernel (kw, kh), extra params)
DECONV_CASES = [
    ((3, 5, 6), 4, (1, 1), ""),
    ((3, 5, 6), 4, (1, 1), "3=2"),
    ((3, 5, 6), 4, (1, 1), "3=3 13=1"),
    ((3, 5, 6), 4, (3, 3), ""),
    ((3, 5, 6), 4, (2, 2), "3=2 5=1"),
    ((4, 4, 5), 3, (4, 4), "3=2 4=1 5=1"),
    ((2, 4, 3), 5, (3, 3), "3=3 2=2 5=1"),
    ((3, 4, 5), 2, (5, 2), "3=1 13=3 2=2 12=1"),
    ((3, 3, 4), 2, (1, 4), "3=2 13=1 2=1 12=3 5=1"),
    ((2, 6, 4), 3, (3, 5), "3=3 13=2 2=3 12=2"),
    # pads: left, right, top, bottom cropped from the output
    ((3, 5, 5), 4, (3, 3), "3=2 4=1"),
    ((3, 5, 5), 4, (3, 3), "3=2 4=1 15=0 14=2 16=1 5=1"),
    ((3, 5, 5), 4, (4, 3), "3=2 13=3 4=0 15=2 14=0 16=3"),
    # output padding (extra bias-valued rows/columns at the end), alone and with pads
    ((3, 4, 5), 4, (3, 3), "3=2 18=1 5=1"),
    ((3, 4, 5), 4, (3, 3), "3=3 18=2 19=1 5=1 9=4"),
    ((3, 4, 5), 4, (4, 4), "3=2 4=1 18=1 5=1"),
    # output_w/output_h with SAME_UPPER (-233) and SAME_LOWER (-234)
    ((3, 4, 5), 4, (3, 3), "3=2 4=-233 20=10 21=8 5=1"),
    ((3, 4, 5), 4, (3, 3), "3=2 4=-234 20=10 21=8 5=1"),
    ((3, 4, 5), 4, (4, 3), "3=3 4=-233 20=14 21=9"),
    ((3, 4, 5), 4, (4, 3), "3=3 4=-234 20=14 21=9"),
    ((3, 4, 5), 4, (3, 3), "3=2 4=-233 20=9"),
    ((3, 4, 5), 4, (3, 3), "3=2 4=-234 18=1 20=11 21=10 5=1"),
    ((3, 4, 5), 4, (3, 3), "3=2 4=-233"),
    # channel counts ncnn packs by 4, 8 and 16
    ((8, 5, 6), 16, (3, 3), "3=2 5=1"),
    ((16, 4, 4), 8, (2, 2), "3=2 5=1 9=1"),
    ((12, 3, 5), 4, (4, 4), "3=2 4=1 5=1"),
]


@pytest.mark.parametrize("shape, num_output, kernel, extra", DECONV_CASES, ids=lambda v: str(v).replace(" ", ""))
def test_deconvolution_matches_ncnn(tmp_path, shape, num_output, kernel, extra):
    layer = f"Deconvolution {layer_params(shape[0], num_output, 1, kernel, extra)}"
    compare(tmp_path, layer, {"data": random_input(shape)})


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("bias", [0, 1])
def test_deconvolution_activations_match_ncnn(tmp_path, activation, bias):
    extra = f"3=2 4=1 5={bias} {ACTIVATIONS[activation]}"
    layer = f"Deconvolution {layer_params(4, 6, 1, (3, 3), extra)}"
    out = compare(tmp_path, layer, {"data": random_input((4, 5, 6)) * 3})
    assert out.shape == (6, 9, 11)


@pytest.mark.parametrize("shape", [(7,), (3, 6)])
def test_deconvolution_of_1d_and_2d_blobs_matches_ncnn(tmp_path, shape):
    # ncnn reads a 1-D or 2-D blob as a single channel of height 1 or h. (x86 ncnn packs a 1-D
    # blob's w or a 2-D blob's h by 4 when divisible, and then computes on the packed size: those
    # sizes would compare against a layout artefact, so the sizes here are not multiples of 4.)
    layer = f"Deconvolution {layer_params(1, 3, 1, (3, 2), '3=2 5=1')}"
    out = compare(tmp_path, layer, {"data": random_input(shape)})
    assert out.ndim == 3


# (input (c, h, w), num_output, group, kernel (kw, kh), extra params)
DEPTHWISE_CASES = [
    # the forms in the benchmark models (mobilenet_yolo, mobilenetv2_yolov3)
    ((1024, 13, 13), 512, 512, (4, 4), "3=2 4=1"),
    ((576, 11, 11), 576, 576, (1, 1), "3=2"),
    # depthwise
    ((8, 5, 6), 8, 8, (3, 3), "3=2 5=1"),
    ((6, 5, 4), 6, 6, (4, 2), "3=2 13=3 2=1 12=2 4=1 14=0 5=1 9=1"),
    ((5, 4, 4), 5, 5, (3, 3), "3=3 18=2 19=1 5=1 9=2 -23310=1,0.2"),
    ((4, 4, 5), 4, 4, (3, 3), "3=2 4=-234 20=9 21=8 5=1"),
    ((16, 3, 3), 16, 16, (2, 2), "3=2 5=1 9=6 -23310=2,0.2,0.5"),
    # grouped: several input and/or output channels per group
    ((4, 5, 5), 6, 2, (3, 3), "3=2 5=1"),
    ((6, 4, 5), 3, 3, (3, 2), "3=1 13=2 2=2 5=1 9=3 -23310=2,-0.3,0.3"),
    ((8, 4, 4), 8, 4, (4, 4), "3=2 4=1 18=1 5=1"),
    ((6, 3, 4), 12, 3, (3, 3), "3=3 4=-233 20=10 21=8 5=1 9=5"),
    ((16, 4, 4), 32, 2, (2, 2), "3=2 5=1"),
    ((6, 4, 4), 2, 2, (1, 1), "3=2"),
    # one group is a plain deconvolution
    ((3, 4, 5), 4, 1, (3, 3), "3=2 4=1 5=1 9=4"),
]


@pytest.mark.parametrize(
    "shape, num_output, group, kernel, extra", DEPTHWISE_CASES, ids=lambda v: str(v).replace(" ", "")
)
def test_deconvolution_depthwise_matches_ncnn(tmp_path, shape, num_output, group, kernel, extra):
    layer = f"DeconvolutionDepthWise {layer_params(shape[0], num_output, group, kernel, extra)}"
    compare(tmp_path, layer, {"data": random_input(shape)})


@pytest.mark.parametrize(
    "layer_type, channels, out_g, group, kernel, extra",
    [
        ("Deconvolution", 3, 4, 1, (3, 2), "3=2 5=0"),
        ("Deconvolution", 3, 4, 1, (3, 3), "3=2 4=1 18=1 5=1 9=1"),
        ("Deconvolution", 2, 3, 1, (4, 4), "3=2 4=-233 20=9 21=7 5=1"),
        ("DeconvolutionDepthWise", 4, 1, 4, (3, 3), "3=2 5=1"),
        ("DeconvolutionDepthWise", 6, 2, 3, (2, 3), "3=2 13=1 2=1 12=2 5=0 9=4"),
    ],
)
def test_dynamic_weights_match_ncnn(tmp_path, layer_type, channels, out_g, group, kernel, extra):
    # The weight blob is [c=in, d=out/group, h=kh, w=kw]; the bias blob holds num_output values.
    kw, kh = kernel
    num_output = out_g * group
    params = f"0={num_output} 1={kw} 11={kh} 28=1 {extra}"
    if layer_type == "DeconvolutionDepthWise":
        params += f" 7={group}"
    inputs = {
        "data": random_input((channels, 4, 5), 1),
        "weight": random_input((channels, out_g, kh, kw), 2),
    }
    if " 5=1" in f" {extra}":
        inputs["bias"] = random_input((num_output,), 3)
    compare(tmp_path, f"{layer_type} {params}", inputs)


def test_output_size_without_same_pads_fails_like_ncnn(tmp_path):
    # ncnn's forward leaves the output empty (and fails) when output_w/h come without -233/-234.
    text = "7767517\n2 2\nInput in 0 1 data\nDeconvolution d 1 1 data out 0=2 1=3 3=2 6=54 20=9\n"
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(1)
    with pytest.raises(ncnnq.ShapeError, match="-233"):
        ncnnq.Net(model).run({"data": random_input((3, 4, 4))}, ["out"])


def test_weights_that_do_not_fit_the_input_are_reported():
    text = "7767517\n2 2\nInput in 0 1 data\nDeconvolutionDepthWise d 1 1 data out 0=4 1=3 6=36 7=2\n"
    net = ncnnq.Net(ncnnq.Model.from_bytes(text.encode()).with_random_weights(1))
    with pytest.raises(ncnnq.ShapeError, match="channels"):
        net.run({"data": random_input((3, 4, 4))}, ["out"])
