"""What the commands print: readable at 80 columns and in pipes (no word ever split across lines,
``info`` one line per layer)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from rich.cells import cell_len

import ncnnq
import tinynet
from ncnnq import demo

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
