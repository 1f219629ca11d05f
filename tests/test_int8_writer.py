"""`ncnnq int8`: ncnn2int8's files from the same table (byte for byte where ncnn is deterministic),
mixed precision, and tables that do not fit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ncnnq
from ncnnq.int8 import quantize, save_int8
from ncnnq.table import Table
from reference import SHARED, assert_close, random_inputs, run_ncnn

REF = SHARED / "reference"


def _squeezenet() -> ncnnq.Model:
    d = REF / "squeezenet_v1.1"
    return ncnnq.Model.load(d / "squeezenet_v1.1-opt.param", d / "squeezenet_v1.1-opt.bin")


@pytest.mark.parametrize("method", ["kl", "aciq"])
def test_squeezenet_files_are_byte_identical_to_ncnn2int8(shared, tmp_path, method):
    d = REF / "squeezenet_v1.1"
    int8, report = quantize(_squeezenet(), Table.load(d / f"squeezenet_v1.1-opt-{method}.table"))
    save_int8(int8, tmp_path / "q.param", tmp_path / "q.bin")
    assert (tmp_path / "q.param").read_bytes() == (d / f"squeezenet_v1.1-int8-{method}.param").read_bytes()
    assert (tmp_path / "q.bin").read_bytes() == (d / f"squeezenet_v1.1-int8-{method}.bin").read_bytes()
    assert len(report.quantized) == 26 and len(report.requantized) == 8 and not report.kept_float


@pytest.mark.parametrize("name", ["mnet.25-opt", "nanodet_m"])
def test_tables_with_inf_give_ncnn2int8s_outputs(shared, tmp_path, name):
    """ncnn2table writes inf for all-zero weight channels; ncnn2int8 quantizes those to NaN·0 = -127
    and de-scales them by 1/inf = 0. ncnnq writes zeros with scale 1: different bytes, same outputs."""
    model = ncnnq.Model.load(SHARED / "models" / f"{name}.param", SHARED / "models" / f"{name}.bin")
    table_path = REF / name / f"{name}-kl.table"
    assert "inf" in table_path.read_text()
    int8, report = quantize(model, Table.load(table_path))
    assert any("inf weight scales" in w for w in report.warnings)
    save_int8(int8, tmp_path / "q.param", tmp_path / "q.bin")
    assert (tmp_path / "q.param").read_text() == (REF / name / f"{name}-int8-kl.param").read_text()
    inputs = random_inputs(model, name)
    inputs = {k: v * 100 for k, v in inputs.items()}
    ours = run_ncnn(tmp_path / "q.param", tmp_path / "q.bin", inputs, model.outputs)
    theirs = run_ncnn(REF / name / f"{name}-int8-kl.param", REF / name / f"{name}-int8-kl.bin", inputs, model.outputs)
    for out in model.outputs:
        assert_close(ours[out], theirs[out], out, cos=0.999999, rel=1e-4)


def _table_without(table: Table, key: str) -> Table:
    t = Table(dict(table.weights), dict(table.activations))
    t.weights.pop(key, None)
    t.activations.pop(key, None)
    return t


def test_commenting_one_line_keeps_only_that_layer_float(shared):
    table = Table.load(REF / "squeezenet_v1.1" / "squeezenet_v1.1-opt-kl.table")
    for key, layer in [("fire3/expand1x1_param_0", "fire3/expand1x1"), ("fire3/expand1x1", "fire3/expand1x1")]:
        int8, report = quantize(_squeezenet(), _table_without(table, key))
        assert [name for name, _ in report.kept_float] == [layer]
        assert len(report.quantized) == 25, "every later Convolution is still quantized (ncnn2int8 would stop)"
        assert int8.layer(layer).param(8) == 0 and int8.layer("conv10").param(8) == 2
        assert "fire3/squeeze1x1" not in report.requantized, "its split now feeds a float branch"


def test_float_layers_are_fp16_unless_asked(shared, tmp_path):
    table = _table_without(Table.load(REF / "squeezenet_v1.1" / "squeezenet_v1.1-opt-kl.table"), "conv10")
    int8, _ = quantize(_squeezenet(), table)
    save_int8(int8, tmp_path / "h.param", tmp_path / "h.bin")
    save_int8(int8, tmp_path / "f.param", tmp_path / "f.bin", fp32=True)
    h = dict(ncnnq.Model.load(tmp_path / "h.param", tmp_path / "h.bin").layer("conv10").weight_storage)
    f = dict(ncnnq.Model.load(tmp_path / "f.param", tmp_path / "f.bin").layer("conv10").weight_storage)
    assert h["weight"] == "fp16" and f["weight"] == "fp32"
    x = random_inputs(int8, "squeezenet_v1.1")
    x = {k: v * 100 for k, v in x.items()}
    for p in ("h", "f"):
        out = run_ncnn(tmp_path / f"{p}.param", tmp_path / f"{p}.bin", x, ["prob"])["prob"]
        assert out.shape == (1000,) and abs(float(out.sum()) - 1) < 1e-3, "loads and runs in ncnn"


def test_a_table_that_does_not_fit_lists_every_problem(shared):
    table = Table.load(REF / "squeezenet_v1.1" / "squeezenet_v1.1-opt-kl.table")
    table.weights["nosuch_param_0"] = np.ones(3, np.float32)
    table.weights["conv1_param_0"] = table.weights["conv1_param_0"][:10]
    table.weights["fire2/squeeze1x1_param_0"] = np.full(16, np.nan, np.float32)
    table.activations["conv10"] = 0.0
    table.activations["pool10"] = 1.0
    with pytest.raises(ncnnq.InputError) as e:
        quantize(_squeezenet(), table)
    msg = str(e.value)
    assert "5 problems" in msg
    for part in [
        'nosuch_param_0: the model has no layer named "nosuch"',
        "conv1_param_0: 10 scales, but layer conv1 (Convolution) needs 64",
        "fire2/squeeze1x1_param_0: scale NaN",
        "conv10: scale 0",
        "pool10: layer type Pooling takes no activation scale",
    ]:
        assert part in msg, part


def test_cli_refuses_and_writes_nothing(shared, tmp_path):
    d = REF / "squeezenet_v1.1"
    bad = tmp_path / "bad.table"
    bad.write_text((d / "squeezenet_v1.1-opt-kl.table").read_text().replace("conv10 ", "conv10x "))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ncnnq.cli",
            "int8",
            str(d / "squeezenet_v1.1-opt.param"),
            str(d / "squeezenet_v1.1-opt.bin"),
            str(tmp_path / "o.param"),
            str(tmp_path / "o.bin"),
            str(bad),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "conv10x: the model has no layer named" in r.stderr
    assert not (tmp_path / "o.param").exists() and not (tmp_path / "o.bin").exists()
