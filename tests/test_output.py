"""What the commands print: readable at 80 columns and in pipes (no word ever split across lines,
``info`` one line per layer), and ``--json``: one JSON document of the documented schema."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from rich.cells import cell_len

import ncnnq
import tinynet
from ncnnq import demo, runner
from ncnnq.summary import summarize

SQUEEZENET_LAYERS = 48


def _ncnnq(*args: object, columns: int | None = None) -> str:
    """The command through a pipe, as a script would run it; ``columns``: the COLUMNS it sees."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    r = subprocess.run([sys.executable, "-m", "ncnnq.cli", *map(str, args)], capture_output=True, text=True,
                       env=env, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _assert_within(out: str, width: int) -> None:
    for line in out.splitlines():
        assert cell_len(line) <= width, f"{cell_len(line)} columns: {line!r}"


def _assert_whole(out: str, words: list[str]) -> None:
    """Every word appears unbroken (rich splits a too-long word only by folding or shortening it)."""
    for word in words:
        assert word in out, f"{word!r} is broken or missing in:\n{out}"


@pytest.mark.parametrize("columns", [80, None], ids=["COLUMNS=80", "pipe"])
def test_info_at_80_columns_prints_one_line_per_layer(columns):
    out = _ncnnq("info", columns=columns)
    _assert_within(out, 80)
    model = ncnnq.Model.from_bytes(*demo.model_bytes())
    assert len(model.layers) == SQUEEZENET_LAYERS
    rows = [line for line in out.splitlines() if re.match(r"^\s*\d+\s{2,}\S", line)]
    assert [int(line.split()[0]) for line in rows] == list(range(SQUEEZENET_LAYERS)), out
    for layer, line in zip(model.layers, rows):
        assert f" {layer.name} " in f"{line} ", line
    assert "…" not in out
    _assert_whole(out, ["Conv", "Concat", "Pooling", "513,000", "out=1000", "conv10", "fire9/expand3x3"])


def test_info_in_a_wide_terminal_shows_blob_names_and_full_types():
    out = _ncnnq("info", columns=250)
    model = ncnnq.Model.from_bytes(*demo.model_bytes())
    _assert_whole(out, ["Convolution", "num_output=64", *[blob for blob in model.blobs]])
    _assert_within(out, 250)


@pytest.mark.parametrize("columns", [60, 100, 140])
def test_info_never_breaks_a_word_at_any_width(columns):
    out = _ncnnq("info", *tinynet.model_files(), columns=columns)
    _assert_within(out, columns)
    model = ncnnq.Model.load(*tinynet.model_files())
    _assert_whole(out, [layer.name for layer in model.layers])


def test_run_and_bench_at_80_columns_keep_words_whole(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{name}_with_a_long_label_name\n" for name in tinynet.CLASS_NAMES))
    image = tinynet.image_files()[0]
    fmt = ",".join
    options = [f"mean=[{fmt(map(str, tinynet.MEAN))}]", f"norm=[{fmt(map(str, tinynet.NORM))}]",
               f"shape=[{fmt(map(str, tinynet.SHAPE))}]", f"pixel={tinynet.PIXEL}"]
    param, bin_path = tinynet.model_files()
    out = _ncnnq("run", param, bin_path, f"input={image}", *options, f"labels={labels}", columns=80)
    _assert_within(out, 80)
    top = [line for line in out.splitlines() if "_with_a_long_label_name" in line]
    assert len(top) == 5, out
    for line in top:  # index, value, the whole label
        assert re.fullmatch(r"\s*\d\s+\S+\s+[a-z]+_with_a_long_label_name\s*", line), line
    _assert_whole(out, ["prob", "top-5"])

    out = _ncnnq("bench", param, bin_path, "loops=2", "warmup=0", columns=80)
    _assert_whole(out, ["median", "fp32", str(param)])


def test_info_json_is_one_document_with_every_layer():
    document = json.loads(_ncnnq("info", "--json"))
    assert document["schema"] == "ncnnq.info/1"
    assert (document["param"], document["bin"]) == (f"{demo.MODEL}.param", f"{demo.MODEL}.bin")
    model = ncnnq.Model.from_bytes(*demo.model_bytes())
    summary = summarize(model)
    layers = document["layers"]
    assert [layer["name"] for layer in layers] == [layer.name for layer in model.layers]
    conv1 = layers[1]
    assert conv1["type"] == "Convolution" and conv1["params"]["num_output"] == 64
    assert conv1["inputs"] == ["data"] and conv1["input_layers"] == [0]
    assert conv1["weights"] == summary.rows[1].weight_count and conv1["storage"] == ["fp16", "fp32"]
    assert document["layer_types"]["Convolution"] == 26
    assert (document["inputs"], document["outputs"]) == (model.inputs, model.outputs)
    assert document["weight_bytes"] == summary.weight_bytes and document["warnings"] == []


@pytest.mark.parametrize("where", ["before", "after"])
def test_run_json_matches_the_library(where):
    param, bin_path = tinynet.model_files()
    image = tinynet.image_files()[3]
    fmt = ",".join
    options = [f"input={image}", f"mean=[{fmt(map(str, tinynet.MEAN))}]", f"norm=[{fmt(map(str, tinynet.NORM))}]",
               f"shape=[{fmt(map(str, tinynet.SHAPE))}]", f"pixel={tinynet.PIXEL}", "top=3"]
    args = ["--json", param, bin_path, *options] if where == "before" else [param, bin_path, *options, "--json"]
    document = json.loads(_ncnnq("run", *args))
    assert document["schema"] == "ncnnq.run/1" and document["precision"] == "fp32"
    model = ncnnq.Model.load(param, bin_path)
    x = ncnnq.images.image_tensor(image, ncnnq.InputSpec(tinynet.SHAPE, tinynet.PIXEL, tinynet.MEAN, tinynet.NORM))
    expected = ncnnq.Net(model).run({"data": x}, ["prob"])["prob"]
    (output,) = document["outputs"]
    assert output["name"] == "prob" and output["shape"] == [len(tinynet.CLASS_NAMES)]
    assert [t["index"] for t in output["top"]] == list(np.argsort(-expected)[:3])
    assert output["max"] == pytest.approx(float(expected.max()), rel=1e-6)
    assert document["ms"] > 0 and document["kernels"] == []


def test_bench_json_reports_every_run():
    param, bin_path = tinynet.model_files()
    document = json.loads(_ncnnq("bench", param, bin_path, "loops=4", "warmup=1", "--json"))
    assert document["schema"] == "ncnnq.bench/1"
    assert document["runs"] == 4 == len(document["ms"]) == len(document["cpu_ms"]) and document["warmup"] == 1
    assert document["median_ms"] == pytest.approx(float(np.median(document["ms"])))
    assert document["int8_paths_available"] == ncnnq.int8_kernels_available()
    assert document["precision"] == runner.precision(ncnnq.Model.load(param, bin_path))


def test_json_errors_go_to_stderr_only(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ncnnq.cli", "info", str(tmp_path / "missing.param"), "--json"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2 and r.stdout == "" and "missing.param" in r.stderr
