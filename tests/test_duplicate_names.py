"""Two layers with one name would share one table entry (both would get the first layer's weight
scales): ``table``, ``int8``, ``quantize`` and ``analyze`` refuse such a model naming both lines; running it is
allowed, with a warning. A table key given twice is an error naming both lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ncnnq
import tinynet
from ncnnq.analyze import analyze

PARAM, BIN = tinynet.model_files()
IMAGES = str(tinynet.image_files()[0].parent)
OPTS = ["mean=[127.5,127.5,127.5]", "norm=[0.0078125,0.0078125,0.0078125]", "shape=[32,32,3]", "pixel=BGR",
        "thread=1"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}  # one warning per line
    return subprocess.run(
        [sys.executable, "-m", "ncnnq.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def _renamed(tmp_path: Path, param: Path, old: str, new: str) -> Path:
    """A copy of ``param`` whose layer ``old`` is named ``new`` (blob names unchanged)."""
    lines = param.read_text().splitlines()
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) > 1 and fields[1] == old:
            lines[i] = line.replace(f" {old} ", f" {new} ", 1)
            break
    else:
        raise AssertionError(f"no layer {old}")
    out = tmp_path / "dup.param"
    out.write_text("\n".join(lines) + "\n")
    return out


def _line_of(param: Path, name: str) -> list[int]:
    return [n for n, line in enumerate(param.read_text().splitlines(), start=1) if line.split()[1:2] == [name]]


@pytest.fixture()
def dup(tmp_path: Path) -> Path:
    """The demo model with conv3b renamed conv3a (lines 10 and 11)."""
    return _renamed(tmp_path, PARAM, "conv3b", "conv3a")


def test_table_int8_and_quantize_refuse_naming_both_lines(dup, tmp_path):
    lines = _line_of(dup, "conv3a")
    assert lines == [10, 11]
    table = tmp_path / "t.table"
    r = _cli("table", str(dup), str(BIN), IMAGES, str(table), *OPTS)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "lines 10 and 11" in r.stderr and "conv3a" in r.stderr, r.stderr
    assert not table.exists()

    good_table = tmp_path / "good.table"
    assert _cli("table", str(PARAM), str(BIN), IMAGES, str(good_table), *OPTS).returncode == 0
    r = _cli("int8", str(dup), str(BIN), str(tmp_path / "i.param"), str(tmp_path / "i.bin"), str(good_table))
    assert r.returncode == 2 and "lines 10 and 11" in r.stderr, r.stderr
    assert not (tmp_path / "i.param").exists()

    r = _cli("quantize", str(dup), str(BIN), IMAGES, str(tmp_path / "q.param"), str(tmp_path / "q.bin"), *OPTS)
    assert r.returncode == 2 and "lines 10 and 11" in r.stderr, r.stderr
    assert not (tmp_path / "q.param").exists()

    r = _cli("quantize", str(dup), str(BIN), IMAGES, str(tmp_path / "q.param"), str(tmp_path / "q.bin"), *OPTS,
             "target=sqnr:20")
    assert r.returncode == 2 and "lines 10 and 11" in r.stderr, r.stderr
    assert not (tmp_path / "q.param").exists()

    # analyze keys its figures by layer name too, with a table given as well as calibrating.
    for table_arg in ([str(good_table)], []):
        r = _cli("analyze", str(dup), str(BIN), IMAGES, *table_arg, *OPTS, f"json={tmp_path / 'a.json'}")
        assert r.returncode == 2 and "lines 10 and 11" in r.stderr, r.stderr
        assert not (tmp_path / "a.json").exists()


def test_the_api_refuses_too(dup):
    model = ncnnq.Model.load(dup, BIN)
    assert any("already used on line 10" in w for w in model.warnings), model.warnings
    with pytest.raises(ncnnq.InputError, match="lines 10 and 11 both name a layer 'conv3a'"):
        ncnnq.calibrate(model, tinynet.image_files()[:2], specs=[ncnnq.InputSpec((32, 32, 3), "BGR")])
    table = ncnnq.Table(weights={"conv3a_param_0": np.ones(16, np.float32)}, activations={"conv3a": 10.0})
    with pytest.raises(ncnnq.InputError, match="lines 10 and 11"):
        ncnnq.quantize(model, table)
    # analyze refuses before it reads an input (these do not exist), with a table given too.
    missing = [f"missing{k}.png" for k in range(4)]
    with pytest.raises(ncnnq.InputError, match="lines 10 and 11"):
        analyze(model, missing, table=table, specs=[ncnnq.InputSpec((32, 32, 3), "BGR")], validation=0.5)


def test_a_model_that_only_runs_keeps_them_with_a_warning(dup, tmp_path):
    r = _cli("run", str(dup), str(BIN))
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stdout and "layer name 'conv3a' is already used on line 10" in r.stdout, r.stdout
    x = np.random.default_rng(0).normal(size=(3, 32, 32)).astype(np.float32)
    got = ncnnq.Net(dup, BIN).run({"data": x}, ["prob"])["prob"]
    want = ncnnq.Net(PARAM, BIN).run({"data": x}, ["prob"])["prob"]
    np.testing.assert_array_equal(got, want)


def test_squeezenet_with_a_renamed_layer_is_refused(shared, tmp_path):
    dup = _renamed(tmp_path, shared / "models" / "squeezenet_v1.1.param", "fire2/expand3x3", "fire2/expand1x1")
    first, second = _line_of(dup, "fire2/expand1x1")
    images = sorted((shared / "imagenet-sample").iterdir())[:3]
    (tmp_path / "list.txt").write_text("".join(f"{p}\n" for p in images))
    r = _cli("table", str(dup), str(shared / "models" / "squeezenet_v1.1.bin"), str(tmp_path / "list.txt"),
             str(tmp_path / "t.table"), "mean=[104,117,123]", "norm=[1,1,1]", "shape=[227,227,3]", "pixel=BGR")
    assert r.returncode == 2, r.stderr
    assert f"lines {first} and {second} both name a layer 'fire2/expand1x1'" in r.stderr, r.stderr


def test_a_table_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    text = "conv1_param_0 1.0 2.0 \nconv1 5.0 \nconv2 1.0 \nconv1 6.0 \n"
    with pytest.raises(ncnnq.TableError, match=r"t.table:4: conv1 is already given on line 2"):
        ncnnq.Table.parse(text, "t.table")
    (tmp_path / "t.table").write_text(text)
    r = _cli("int8", str(PARAM), str(BIN), str(tmp_path / "i.param"), str(tmp_path / "i.bin"),
             str(tmp_path / "t.table"))
    assert r.returncode == 2 and "already given on line 2" in r.stderr and "Traceback" not in r.stderr, r.stderr
