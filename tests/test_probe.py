"""The native int8 probe against the int8 files `ncnnq int8` writes: the layer probe's simulation
and the network probe's nets equal, bit for bit, what `Net` computes on those files (squeezenet_v1.1
and a small model with every int8 form and fused activation); errors name the layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ncnnq
from ncnnq import _native
from ncnnq.cli import main
from ncnnq.errors import InputError, LayerError, ShapeError
from ncnnq.images import InputSpec, image_tensor
from ncnnq.table import Table
from reference import SHARED

SMALL = """7767517
13 14
Input                data 0 1 data 0=11 1=9 2=6
Convolution          c1   1 1 data c1 0=12 1=3 3=1 4=1 5=1 6=648 9=1
ConvolutionDepthWise dw1  1 1 c1 dw1 0=12 1=3 3=1 4=1 5=1 6=108 7=12 9=2 -23310=1,1.000000e-01
ConvolutionDepthWise g1   1 1 dw1 g1 0=16 1=3 3=2 4=1 5=1 6=432 7=4 9=3 -23310=2,0.000000e+00,6.000000e+00
ConvolutionDepthWise dw2  1 1 g1 dw2 0=16 1=5 3=1 4=2 5=1 6=400 7=16 9=4
Convolution          c2   1 1 dw2 c2 0=8 1=1 5=1 6=128 9=6 -23310=2,2.000000e-01,5.000000e-01
Split                sp   1 2 c2 c2a c2b
Convolution          c3   1 1 c2a c3 0=8 1=3 2=2 4=-233 15=-233 14=-233 16=-233 5=1 6=576 18=2.500000e+00
Convolution          c4   1 1 c2b c4 0=8 1=1 5=1 6=64 9=1
Eltwise              add  2 1 c3 c4 e 0=1
Pooling              pool 1 1 e pool 0=1 4=1
InnerProduct         fc   1 1 pool fc 0=10 1=1 2=80 9=1
InnerProduct         fc2  1 1 fc fc2 0=5 1=0 2=50
"""
"""Every int8 form: a 6-bit 3x3 convolution, a depthwise layer with the fused epilogue (12
channels) and one with ncnn's x86 rcpps de-scale (16), a grouped layer, a non-zero pad value,
inner products; ReLU, LeakyReLU, Clip, Sigmoid, HardSwish; requantized outputs through a Split."""

QUANTIZABLE = ["c1", "dw1", "g1", "dw2", "c2", "c3", "c4", "fc", "fc2"]


def _small() -> ncnnq.Model:
    return ncnnq.Model.from_bytes(SMALL.encode(), name="small.param").with_random_weights(11)


def _small_input() -> np.ndarray:
    return np.random.default_rng(0).uniform(-3, 3, (6, 9, 11)).astype(np.float32)


def _fp32_blobs(model: ncnnq.Model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return ncnnq.Net(model).run(inputs, model.blobs)


def _table(model: ncnnq.Model, blobs: dict[str, np.ndarray], layers: list[str]) -> Table:
    """Weight scales from each row's absmax (31 levels for 6-bit layers), input scales from the
    fp32 input blob's absmax; as the table file holds them (six decimals)."""
    table = Table()
    for name in layers:
        probe = _native.LayerProbe(model, name)
        qmax = 31.0 if probe.six_bit else 127.0
        table.weights[f"{name}_param_0"] = (qmax / np.abs(probe.weights).max(axis=1)).astype(np.float32)
        table.activations[name] = float(127.0 / np.abs(blobs[model.layer(name).bottoms[0]]).max())
    return Table.parse(table.text())


def _int8_files(tmp: Path, model_files: tuple[Path, Path], table: Table, int8: list[str], tag: str) -> ncnnq.Net:
    """`ncnnq int8` on the table with the lines of the layers not in `int8` commented out."""
    lines = table.text().splitlines()
    commented = [line if line.split()[0].rsplit("_param_", 1)[0] in int8 else f"#{line}" for line in lines]
    path = tmp / f"{tag}.table"
    path.write_text("\n".join(commented) + "\n")
    param, bin_path = tmp / f"{tag}.param", tmp / f"{tag}.bin"
    assert main(["int8", str(model_files[0]), str(model_files[1]), str(param), str(bin_path), str(path)]) == 0
    return ncnnq.Net(param, bin_path)


def _same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype, what
    assert a.tobytes() == b.tobytes(), f"{what}: {int((a != b).sum())} values differ"


def _saved(model: ncnnq.Model, tmp: Path) -> tuple[Path, Path]:
    files = tmp / "fp32.param", tmp / "fp32.bin"
    model.save(*files)
    return files


def _check_network(
    tmp: Path, model: ncnnq.Model, table: Table, subsets: list[list[str]], inputs, intermediate, outputs
):
    probe = _native.NetworkProbe(model, threads=2)
    files = _saved(model, tmp)
    for i, subset in enumerate(subsets):
        want = _int8_files(tmp, files, table, subset, f"s{i}")
        net = probe.net(table.weights, table.activations, int8=subset)
        for fed in (inputs, intermediate):
            ours, theirs = net.run(fed, outputs), want.run(fed, outputs)
            for o in outputs:
                _same(ours[o], theirs[o], f"int8 {subset}, fed at {list(fed)}: {o}")
        _, report = probe.model(table.weights, table.activations, int8=subset)
        assert sorted(name for name, _ in report.quantized if name in subset) == sorted(subset)
    return probe


def test_network_probe_equals_the_int8_files_on_a_small_model(tmp_path):
    model = _small()
    x = {"data": _small_input()}
    blobs = _fp32_blobs(model, x)
    table = _table(model, blobs, QUANTIZABLE)
    subsets = [QUANTIZABLE, []] + [[n] for n in QUANTIZABLE] + [[m for m in QUANTIZABLE if m != n] for n in QUANTIZABLE]
    probe = _check_network(tmp_path, model, table, subsets, x, {"dw2": blobs["dw2"]}, ["fc2", "c3", "e"])
    assert probe.cached_ops < len(model.layers) + 4 * len(QUANTIZABLE), "built ops are reused"


def _squeezenet() -> ncnnq.Model:
    d = SHARED / "reference" / "squeezenet_v1.1"
    return ncnnq.Model.load(d / "squeezenet_v1.1-opt.param", d / "squeezenet_v1.1-opt.bin")


SQUEEZENET_SPEC = InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0))


def _squeezenet_inputs() -> list[np.ndarray]:
    return [image_tensor(p, SQUEEZENET_SPEC) for p in sorted((SHARED / "calib-png").glob("*.png"))[:2]]


def test_network_probe_equals_the_int8_files_on_squeezenet(shared, tmp_path):
    model = _squeezenet()
    table = Table.load(SHARED / "reference" / "squeezenet_v1.1" / "squeezenet_v1.1-opt-kl.table")
    layers = [layer.name for layer in model.layers if layer.type == "Convolution"]
    x = _squeezenet_inputs()[0]
    blobs = _fp32_blobs(model, {"data": x})
    fire5 = model.layer("fire5/squeeze1x1").bottoms[0]
    subsets = [layers, ["conv1"], ["fire5/expand3x3"], [n for n in layers if n != "fire5/expand3x3"], layers[:13]]
    _check_network(tmp_path, model, table, subsets, {"data": x}, {fire5: blobs[fire5]}, ["prob", "fire9/concat_drop9"])


def _check_layer(model: ncnnq.Model, int8_model: ncnnq.Model, net: ncnnq.Net, table: Table, name: str, x: np.ndarray,
                 **override) -> None:
    """The int8 layer in `net` (that of `int8_model`'s file) on x, next to the probe's simulation."""
    layer = model.layer(name)
    top_scale = int8_model.layer(name).weights.get("top_int8_scale")
    want = net.run({layer.bottoms[0]: x}, [layer.tops[0]])[layer.tops[0]]
    probe = _native.LayerProbe(model, name, threads=2)
    patches = probe.sample(x, count=1 << 30)
    got = probe.simulate(patches, table.weights[f"{name}_param_0"], table.activations[name],
                         None if top_scale is None else float(top_scale[0]), **override)
    want = want.T if (x.ndim == 2 and probe.form == "innerproduct") else want.reshape(probe.num_output, -1)
    if top_scale is not None:
        # The engine hands requantized (int8) blobs out as floats.
        got = got.astype(np.float32)
    _same(got, np.ascontiguousarray(want), name)
    q8 = probe.quantize_input(patches, table.activations[name])
    again = probe.simulate(q8, table.weights[f"{name}_param_0"], table.activations[name],
                           None if top_scale is None else float(top_scale[0]), **override)
    _same(again.astype(np.float32) if top_scale is not None else again, got, f"{name} from int8 columns")


def test_layer_probe_equals_the_int8_layer_on_a_small_model(tmp_path):
    model = _small()
    blobs = _fp32_blobs(model, {"data": _small_input()})
    table = _table(model, blobs, QUANTIZABLE)
    net = _int8_files(tmp_path, _saved(model, tmp_path), table, QUANTIZABLE, "all")
    int8_model, report = ncnnq.quantize(model, table)
    assert report.requantized == ["c1", "dw1", "g1", "dw2", "c2"]
    for name in QUANTIZABLE:
        _check_layer(model, int8_model, net, table, name, blobs[model.layer(name).bottoms[0]])
    rows = np.sin(np.arange(24, dtype=np.float32) * 0.37).reshape(3, 8) * 2
    _check_layer(model, int8_model, net, table, "fc", rows)


def test_layer_probe_takes_int8_weights_and_bias(tmp_path):
    model = _small()
    blobs = _fp32_blobs(model, {"data": _small_input()})
    table = _table(model, blobs, QUANTIZABLE)
    int8_model, _ = ncnnq.quantize(model, table)
    overrides = {}
    for name in ["c1", "g1", "dw2", "fc"]:
        probe = _native.LayerProbe(model, name)
        q = probe.quantize_weights(table.weights[f"{name}_param_0"])
        q.reshape(-1)[::3] = np.minimum(q.reshape(-1)[::3].astype(np.int16) + 1, 127)
        bias = np.linspace(-1, 1, probe.num_output, dtype=np.float32)
        int8_model.layer(name).set_weight("weight", q)
        int8_model.layer(name).set_weight("bias", bias)
        overrides[name] = (q, bias)
    ncnnq.save_int8(int8_model, tmp_path / "o.param", tmp_path / "o.bin")
    net = ncnnq.Net(tmp_path / "o.param", tmp_path / "o.bin")
    for name, (q, bias) in overrides.items():
        _check_layer(model, int8_model, net, table, name, blobs[model.layer(name).bottoms[0]], weights=q, bias=bias)
    # The network probe takes the same choices.
    probe = _native.NetworkProbe(model)
    ours = probe.net(table.weights, table.activations, int8_weights={n: q for n, (q, _) in overrides.items()},
                     biases={n: b for n, (_, b) in overrides.items()}).run({"data": _small_input()}, ["fc2"])
    _same(ours["fc2"], net.run({"data": _small_input()}, ["fc2"])["fc2"], "overrides")


def test_layer_probe_equals_the_int8_layer_on_squeezenet(shared, tmp_path):
    model = _squeezenet()
    ref = SHARED / "reference" / "squeezenet_v1.1"
    table = Table.load(ref / "squeezenet_v1.1-opt-kl.table")
    net = ncnnq.Net(ref / "squeezenet_v1.1-int8-kl.param", ref / "squeezenet_v1.1-int8-kl.bin")
    int8_model = ncnnq.Model.load(ref / "squeezenet_v1.1-int8-kl.param", ref / "squeezenet_v1.1-int8-kl.bin")
    blobs = _fp32_blobs(model, {"data": _squeezenet_inputs()[1]})
    for name in ["conv1", "fire2/squeeze1x1", "fire4/expand3x3", "conv10"]:
        _check_layer(model, int8_model, net, table, name, blobs[model.layer(name).bottoms[0]])


def test_sampled_patches_and_their_outputs():
    model = _small()
    blobs = _fp32_blobs(model, {"data": _small_input()})
    probe = _native.LayerProbe(model, "g1")
    shape = (probe.form, probe.groups, probe.rows, probe.scale_count, probe.outputs_per_scale)
    assert shape == ("grouped", 4, 27, 4, 4)
    a = probe.sample(blobs["dw1"], blobs["g1"], count=5, seed=1)
    b = probe.sample(blobs["dw1"], blobs["g1"], count=7, seed=2)
    both = _native.Patches.concat([a, b])
    assert (both.groups, both.rows, both.columns, len(both)) == (4, 27, 12, 12)
    assert both.x.shape == (4, 27, 12) and both.reference.shape == (4, 4, 12) and not both.x.flags.writeable
    flat = blobs["g1"].reshape(16, -1)
    both_positions = np.concatenate([flat[:, a.positions], flat[:, b.positions]], axis=1)
    assert np.array_equal(both.reference.reshape(16, -1), both_positions)
    picked = both.select([11, 0])
    assert np.array_equal(picked.x, both.x[:, :, [11, 0]])
    assert list(picked.positions) == [b.positions[-1], a.positions[0]]
    assert "4 group(s) × 27 rows × 12 columns" in repr(both)
    assert probe.activation == "Clip(0.0, 6.0)" and _native.LayerProbe(model, "c1").six_bit


def test_probe_errors_name_the_layer():
    model = _small()
    with pytest.raises(InputError, match=r"no layer named ('nope'|\"nope\")"):
        _native.LayerProbe(model, "nope")
    with pytest.raises(LayerError, match=r"'pool' \(Pooling\): is not quantizable"):
        _native.LayerProbe(model, "pool")
    probe = _native.LayerProbe(model, "c2")
    with pytest.raises(ShapeError, match=r"'c2' \(Convolution\).*16 channels"):
        probe.sample(np.zeros((3, 5, 6), np.float32))
    patches = probe.sample(np.zeros((16, 5, 6), np.float32))
    with pytest.raises(LayerError, match=r"'c2' \(Convolution\): 3 weight scales given, the layer takes 8"):
        probe.simulate(patches, np.ones(3, np.float32), 1.0)
    with pytest.raises(LayerError, match=r"'c1'.*patches hold 1×16 rows"):
        _native.LayerProbe(model, "c1").simulate(patches, np.ones(12, np.float32), 1.0)
    blobs = _fp32_blobs(model, {"data": _small_input()})
    table = _table(model, blobs, QUANTIZABLE)
    net = _native.NetworkProbe(model)
    with pytest.raises(LayerError, match=r"'pool' \(Pooling\): is not quantizable"):
        net.net(table.weights, table.activations, int8=["pool"])
    with pytest.raises(LayerError, match="'c3' \\(Convolution\\): is not int8 in this configuration"):
        net.net(table.weights, table.activations, int8=["c2"], biases={"c3": np.zeros(8, np.float32)})
    partial = {k: v for k, v in table.activations.items() if k != "c4"}
    with pytest.raises(LayerError, match="'c4' \\(Convolution\\): cannot be int8: the table has no activation scale"):
        net.net(table.weights, partial, int8=["c4"])
