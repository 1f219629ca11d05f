"""Int8 forms real ncnn runs wrongly, and the equivalent forms ``ncnnq int8`` writes instead
(rust/quantize/ncnn_workarounds.rs): each case's int8 file must run in real ncnn with the fp32
output's shape and values, and the report must name the layer."""

from __future__ import annotations

import numpy as np
import pytest

import ncnnq
from ncnnq.table import Table
from reference import agreement, make_ncnn_net, run_ncnn_net

CASES = {
    "flat input": "Input in 0 1 x 0=48\nConvolution conv 1 1 x y 0=16 1=1 5=1 6=768 9=1\n",
    "after global pooling": "Input in 0 1 x 0=6 1=5 2=48\nPooling gap 1 1 x p 0=1 4=1\n"
    "Convolution conv 1 1 p y 0=16 1=1 5=1 6=768\n",
    "after an InnerProduct": "Input in 0 1 x 0=48\nInnerProduct fc 1 1 x h 0=48 1=1 2=2304 9=1\n"
    "Convolution conv 1 1 h y 0=16 1=1 5=1 6=768\n",
}
SHAPES = {"flat input": (48,), "after global pooling": (48, 5, 6), "after an InnerProduct": (48,)}


def _model(body: str) -> ncnnq.Model:
    n = body.count("\n")
    return ncnnq.Model.from_bytes(f"7767517\n{n} {n + 1}\n{body}".encode()).with_random_weights(11)


def _table(model: ncnnq.Model, x: np.ndarray) -> Table:
    """Weight scales from the weights, input scales from the fp32 run (absmax), per layer."""
    lines = []
    inputs = {}
    for layer in model.layers:
        if layer.type in ("Convolution", "InnerProduct"):
            w = np.asarray(layer.weights["weight"], np.float32).reshape(layer.param(0), -1)
            lines.append(f"{layer.name}_param_0 " + " ".join(f"{v:f}" for v in 127 / np.abs(w).max(axis=1)))
            inputs[layer.name] = layer.bottoms[0]
    blobs = ncnnq.Net(model).run({"x": x}, list(inputs.values()))
    lines += [f"{name} {127 / np.abs(blobs[b]).max():f}" for name, b in inputs.items()]
    return Table.parse("\n".join(lines) + "\n")


@pytest.mark.parametrize("case", list(CASES))
def test_convolution_of_a_1d_blob_is_written_as_an_innerproduct(tmp_path, case):
    model = _model(CASES[case])
    x = np.random.default_rng(5).uniform(-1, 1, SHAPES[case]).astype(np.float32)
    fp32_param, fp32_bin = tmp_path / "fp32.param", tmp_path / "fp32.bin"
    model.save(fp32_param, fp32_bin)
    reference = run_ncnn_net(make_ncnn_net(fp32_param, fp32_bin), {"x": x}, ["y"])["y"]

    int8, report = ncnnq.quantize(model, _table(model, x))
    assert any(w.startswith("conv:") and "1-D" in w for w in report.warnings), report.warnings
    assert ("conv", "InnerProduct") in report.quantized
    param, bin_path = tmp_path / "int8.param", tmp_path / "int8.bin"
    ncnnq.save_int8(int8, param, bin_path)
    assert "InnerProduct             conv" in param.read_text()
    theirs = run_ncnn_net(make_ncnn_net(param, bin_path), {"x": x}, ["y"])["y"]
    assert theirs.shape == reference.shape
    assert agreement(theirs, reference).cosine > 0.999
    ours = ncnnq.Net(int8).run({"x": x}, ["y"])["y"]
    assert np.array_equal(ours, theirs) or agreement(ours, theirs).cosine > 0.99999


def test_the_form_ncnn2int8_writes_is_what_real_ncnn_misreads(tmp_path):
    """The reason for the rewrite: the same layer left as an int8 Convolution (flag 8=2, as
    ncnn2int8 writes it) comes back from real ncnn with the wrong shape."""
    model = _model(CASES["flat input"])
    x = np.random.default_rng(5).uniform(-1, 1, (48,)).astype(np.float32)
    int8, _ = ncnnq.quantize(model, _table(model, x))
    param, bin_path = tmp_path / "int8.param", tmp_path / "int8.bin"
    ncnnq.save_int8(int8, param, bin_path)
    layer = int8.layer("conv")
    conv_line = "Convolution              conv                     1 1 x y 0=16 1=1 5=1 6=768 8=2 9=1"
    text = param.read_text().splitlines()
    text = [conv_line if line.startswith("InnerProduct") else line for line in text]
    as_conv = tmp_path / "as_conv.param"
    as_conv.write_text("\n".join(text) + "\n")
    assert layer.type == "InnerProduct"
    out = run_ncnn_net(make_ncnn_net(as_conv, bin_path), {"x": x}, ["y"])["y"]
    assert out.shape != (16,), f"real ncnn ran the int8 Convolution of a 1-D blob correctly: {out.shape}"
