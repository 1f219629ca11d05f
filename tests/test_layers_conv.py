"""Convolution, ConvolutionDepthWise and InnerProduct against real ncnn, one layer at a time,
over every parameter: kernel, dilation, stride, explicit / SAME pads, pad_value, bias, each
activation, groups, dynamic weights, and the sizes that pick each kernel path (GEMM, implicit
im2col, Winograd F(6,3) and F(4,3), depthwise SIMD)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ncnnq
from reference import assert_close, run_ncnn

# activation_type -> activation_params
ACTIVATIONS = {0: [], 1: [], 2: [0.1], 3: [-0.5, 0.7], 4: [], 5: [], 6: [0.2, 0.5]}


def _params(d: dict) -> str:
    parts = []
    for k, v in d.items():
        if isinstance(v, list):
            parts.append(f"{-23300 - k}={len(v)}" + "".join(f",{x:.6e}" for x in v))
        elif isinstance(v, float):
            parts.append(f"{k}={v:.6e}")
        else:
            parts.append(f"{k}={v}")
    return " ".join(parts)


def run_layer(tmp_path, layer_type: str, params: dict, shape: tuple[int, ...], extra_inputs=(), seed=0):
    """Builds Input(s) -> one layer, random weights, and returns (ncnnq output, ncnn output)."""
    names = ["data"] + [name for name, _ in extra_inputs]
    lines = [f"Input in{i} 0 1 {n}" for i, n in enumerate(names)]
    lines.append(f"{layer_type} op {len(names)} 1 {' '.join(names)} out {_params(params)}")
    text = f"7767517\n{len(lines)} {len(names) + 1}\n" + "\n".join(lines) + "\n"
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(seed)
    param, bin_path = tmp_path / "m.param", tmp_path / "m.bin"
    model.save(param, bin_path)
    rng = np.random.default_rng(seed + 1)
    inputs = {"data": rng.uniform(-1, 1, size=shape).astype(np.float32)}
    for name, s in extra_inputs:
        inputs[name] = rng.uniform(-1, 1, size=s).astype(np.float32)
    ours = ncnnq.Net(param, bin_path).run(inputs, ["out"])["out"]
    theirs = run_ncnn(param, bin_path, inputs, ["out"])["out"]
    return ours, theirs


def conv_params(outch, inch, k=(3, 3), d=(1, 1), s=(1, 1), pads=(0, 0, 0, 0), pad_value=0.0, bias=1, act=0, group=None):
    kw, kh = k
    p = {0: outch, 1: kw, 11: kh, 2: d[0], 12: d[1], 3: s[0], 13: s[1]}
    p.update({4: pads[0], 15: pads[1], 14: pads[2], 16: pads[3]})
    if pad_value:
        p[18] = pad_value
    p[5] = bias
    in_g = inch // (group or 1)
    p[6] = outch * in_g * kw * kh
    if group is not None:
        p[7] = group
    if act:
        p[9] = act
        if ACTIVATIONS[act]:
            p[10] = ACTIVATIONS[act]
    return p


GEOMETRIES = [
    # kernel, dilation, stride, pads (left, right, top, bottom)
    ((1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),
    ((1, 1), (1, 1), (2, 2), (0, 0, 0, 0)),
    ((3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((3, 3), (1, 1), (2, 2), (1, 1, 1, 1)),
    ((3, 3), (2, 2), (1, 1), (2, 2, 2, 2)),
    ((5, 3), (1, 2), (2, 1), (1, 2, 0, 3)),
    ((2, 4), (3, 1), (3, 2), (0, 0, 0, 0)),
    ((3, 3), (1, 1), (1, 1), (-233,) * 4),
    ((3, 3), (1, 1), (2, 2), (-233,) * 4),
    ((4, 4), (1, 1), (2, 2), (-234,) * 4),
    ((7, 7), (1, 1), (2, 2), (3, 3, 3, 3)),
]


@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda g: f"k{g[0]}d{g[1]}s{g[2]}p{g[3]}")
@pytest.mark.parametrize("shape", [(3, 11, 13), (8, 1, 9), (17, 16, 16)], ids=str)
def test_convolution_geometry(tmp_path, geo, shape):
    k, d, s, pads = geo
    ext_w, ext_h = d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1
    pw = shape[2] + max(pads[0], 0) + max(pads[1], 0)
    ph = shape[1] + max(pads[2], 0) + max(pads[3], 0)
    if pads[0] >= 0 and (pw < ext_w or ph < ext_h):
        pytest.skip("kernel larger than the input")
    p = conv_params(12, shape[0], k, d, s, pads, pad_value=0.5 if pads[0] > 0 else 0.0)
    ours, theirs = run_layer(tmp_path, "Convolution", p, shape)
    assert_close(ours, theirs, f"Convolution {geo} {shape}")


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("bias", [0, 1])
@pytest.mark.parametrize("path", ["im2col", "1x1", "winograd"])
def test_convolution_bias_and_activation(tmp_path, act, bias, path):
    k, pads, shape = {"im2col": ((3, 3), (0,) * 4, (5, 9, 10)), "1x1": ((1, 1), (0,) * 4, (6, 7, 8)),
                      "winograd": ((3, 3), (1,) * 4, (16, 20, 20))}[path]
    p = conv_params(24, shape[0], k, pads=pads, bias=bias, act=act)
    ours, theirs = run_layer(tmp_path, "Convolution", p, shape, seed=act)
    assert_close(ours, theirs, f"Convolution act={act} bias={bias} {path}")


@pytest.mark.parametrize(
    "inch,outch,size",
    [(8, 8, 6), (16, 32, 12), (32, 16, 7), (24, 40, 14), (64, 64, 28), (16, 48, 56), (9, 13, 25), (32, 32, 3)],
)
def test_convolution_3x3_s1_sizes(tmp_path, inch, outch, size):
    """The sizes where Winograd F(6,3) / F(4,3) or the GEMM is chosen, edge tiles included."""
    p = conv_params(outch, inch, (3, 3), pads=(1, 1, 1, 1), act=1)
    ours, theirs = run_layer(tmp_path, "Convolution", p, (inch, size, size + 1))
    assert_close(ours, theirs, f"3x3s1 {inch}->{outch} {size}")


@pytest.mark.parametrize("inch,outch", [(1, 1), (3, 5), (37, 70), (100, 9)])
def test_convolution_1x1_large_and_odd(tmp_path, inch, outch):
    p = conv_params(outch, inch, (1, 1), act=2)
    ours, theirs = run_layer(tmp_path, "Convolution", p, (inch, 29, 31))
    assert_close(ours, theirs, f"1x1 {inch}->{outch}")


def test_convolution_flat_input_runs_as_inner_product(tmp_path):
    """ncnn runs a 1x1 Convolution of a 1-D blob as an InnerProduct. The PyPI ncnn build crashes
    on this form (segfault in its x86 Convolution), so the expectation is computed from the
    layer's own weights."""
    text = (
        "7767517\n2 2\nInput in0 0 1 data\nConvolution op 1 1 data out "
        + _params(conv_params(10, 48, (1, 1), act=1))
        + "\n"
    )
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(3)
    x = np.random.default_rng(4).uniform(-1, 1, size=(48,)).astype(np.float32)
    ours = ncnnq.Net(model).run({"data": x}, ["out"])["out"]
    w = model.layer("op").weights
    want = np.maximum(w["weight"].astype(np.float64).reshape(10, 48) @ x + w["bias"], 0)
    assert ours.shape == (10,)
    assert_close(ours, want, "Convolution on a 1-D blob")


@pytest.mark.parametrize("bias", [0, 1])
@pytest.mark.parametrize(
    "k,s,pads", [((3, 3), (1, 1), (1, 1, 1, 1)), ((1, 2), (2, 1), (0, 0, 0, 0)), ((3, 3), (2, 2), (-233,) * 4)]
)
def test_convolution_dynamic_weight(tmp_path, bias, k, s, pads):
    inch, outch = 5, 7
    p = conv_params(outch, inch, k, s=s, pads=pads, bias=bias, act=1)
    p[19] = 1
    del p[6]
    extra = [("weight", (outch, inch, k[1], k[0]))] + ([("bias", (outch,))] if bias else [])
    ours, theirs = run_layer(tmp_path, "Convolution", p, (inch, 12, 11), extra_inputs=extra)
    assert_close(ours, theirs, f"dynamic weight {k} {s} {pads}")


DW_GEOMETRIES = [
    ((3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((3, 3), (1, 1), (2, 2), (1, 1, 1, 1)),
    ((5, 5), (1, 1), (1, 1), (2, 2, 2, 2)),
    ((5, 5), (1, 1), (2, 2), (2, 2, 2, 2)),
    ((3, 3), (2, 2), (1, 1), (2, 2, 2, 2)),
    ((3, 3), (1, 1), (2, 2), (-233,) * 4),
    ((3, 3), (1, 1), (2, 2), (-234,) * 4),
    ((3, 1), (1, 1), (1, 3), (0, 1, 2, 0)),
    ((7, 7), (1, 1), (3, 3), (0, 0, 0, 0)),
]


@pytest.mark.parametrize("geo", DW_GEOMETRIES, ids=lambda g: f"k{g[0]}d{g[1]}s{g[2]}p{g[3]}")
@pytest.mark.parametrize("size", [(7, 9), (33, 40), (56, 56)], ids=str)
def test_depthwise_geometry(tmp_path, geo, size):
    k, d, s, pads = geo
    c = 24
    p = conv_params(c, c, k, d, s, pads, pad_value=-0.25 if pads[0] > 0 else 0.0, act=3, group=c)
    ours, theirs = run_layer(tmp_path, "ConvolutionDepthWise", p, (c, *size))
    assert_close(ours, theirs, f"depthwise {geo} {size}")


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("bias", [0, 1])
def test_depthwise_bias_and_activation(tmp_path, act, bias):
    c = 16
    p = conv_params(c, c, (3, 3), pads=(1, 1, 1, 1), bias=bias, act=act, group=c)
    ours, theirs = run_layer(tmp_path, "ConvolutionDepthWise", p, (c, 19, 21), seed=act)
    assert_close(ours, theirs, f"depthwise act={act} bias={bias}")


@pytest.mark.parametrize(
    "inch,outch,group", [(8, 8, 2), (12, 6, 3), (6, 12, 6), (16, 32, 4), (9, 9, 9), (4, 8, 1)], ids=str
)
@pytest.mark.parametrize("k,s", [((3, 3), (1, 1)), ((1, 1), (1, 1)), ((3, 3), (2, 2))], ids=str)
def test_grouped_convolution(tmp_path, inch, outch, group, k, s):
    pads = (1, 1, 1, 1) if k == (3, 3) else (0, 0, 0, 0)
    p = conv_params(outch, inch, k, s=s, pads=pads, act=1, group=group)
    ours, theirs = run_layer(tmp_path, "ConvolutionDepthWise", p, (inch, 15, 14))
    assert_close(ours, theirs, f"group={group} {inch}->{outch} {k} {s}")


@pytest.mark.parametrize("bias", [0, 1])
def test_depthwise_dynamic_weight(tmp_path, bias):
    c = 6
    p = conv_params(c, c, (3, 3), pads=(1, 1, 1, 1), bias=bias, group=c)
    p[19] = 1
    del p[6]
    extra = [("weight", (c, 1, 3, 3))] + ([("bias", (c,))] if bias else [])
    ours, theirs = run_layer(tmp_path, "ConvolutionDepthWise", p, (c, 10, 9), extra_inputs=extra)
    assert_close(ours, theirs, "depthwise dynamic weight")


@pytest.mark.parametrize("act,bias", list(itertools.product(sorted(ACTIVATIONS), [0, 1])))
@pytest.mark.parametrize("shape", [(70,), (2, 5, 7), (3, 35)], ids=str)
def test_inner_product(tmp_path, act, bias, shape):
    num_input = shape[-1] if len(shape) == 2 else int(np.prod(shape))
    p = {0: 13, 1: bias, 2: 13 * num_input}
    if act:
        p[9] = act
        if ACTIVATIONS[act]:
            p[10] = ACTIVATIONS[act]
    ours, theirs = run_layer(tmp_path, "InnerProduct", p, shape, seed=act)
    assert_close(ours, theirs, f"InnerProduct {shape} act={act}")
