"""fp16 weights a converter flushed to zero are reported by `ncnnq info` (python/ncnnq/flushed_weights.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ncnnq
from ncnnq.cli import main
from ncnnq.flushed_weights import FP16_SMALLEST_NORMAL, flushed_fp16_weights
from ncnnq.summary import summarize

NET = """7767517
3 3
Input            in   0 1 data 0=8 1=8 2=16
Convolution      head 1 1 data a 0=16 1=3 4=1 5=1 6=2304
Convolution      tail 1 1 a out 0=4 1=1 5=1 6=64
"""


def _model(tmp_path: Path, head: np.ndarray, storage: str) -> ncnnq.Model:
    model = ncnnq.Model.from_bytes(NET.encode()).with_random_weights(3)
    model.layer("head").set_weight("weight", head)
    model.save(tmp_path / "m.param", tmp_path / "m.bin", storage=storage)
    return ncnnq.Model.load(tmp_path / "m.param", tmp_path / "m.bin")


def _small_weights(seed: int = 0) -> np.ndarray:
    """Weights around 1e-4, like a convolution with a BatchNorm of variance ~1e8 folded in."""
    return (np.random.default_rng(seed).standard_normal(2304) * 1e-4).astype(np.float32)


def _flushed(w: np.ndarray) -> np.ndarray:
    """What pnnx's fp32 -> fp16 conversion leaves: values below fp16's smallest normal become 0."""
    return np.where(np.abs(w) < FP16_SMALLEST_NORMAL, 0, w).astype(np.float32)


def test_flushed_fp16_weights_are_reported_by_layer_and_array(tmp_path):
    model = _model(tmp_path, _flushed(_small_weights()), "fp16")
    warnings = flushed_fp16_weights(model)
    assert len(warnings) == 1
    assert "'head'" in warnings[0] and "weight" in warnings[0] and "fp16=0" in warnings[0]
    share = float(np.mean(_flushed(_small_weights()) == 0))
    assert f"{share:.1%}" in warnings[0]
    assert warnings[0] in summarize(model).warnings


@pytest.mark.parametrize("storage", ["fp16", "fp32"])
def test_small_weights_that_kept_their_values_are_not_reported(tmp_path, storage):
    # fp16 with subnormals kept (ncnnq's own writer), or fp32: the same small weights, no flush
    assert flushed_fp16_weights(_model(tmp_path, _small_weights(), storage)) == []


def test_flushed_values_stored_as_fp32_and_ordinary_weights_are_not_reported(tmp_path):
    assert flushed_fp16_weights(_model(tmp_path, _flushed(_small_weights()), "fp32")) == []
    ordinary = np.random.default_rng(1).standard_normal(2304).astype(np.float32) * 0.05
    assert flushed_fp16_weights(_model(tmp_path, ordinary, "fp16")) == []


def test_ncnnq_info_shows_the_warning(tmp_path, capsys):
    _model(tmp_path, _flushed(_small_weights()), "fp16")
    main(["info", str(tmp_path / "m.param"), str(tmp_path / "m.bin")])
    out = capsys.readouterr().out
    assert "flushed its small weights to zero" in " ".join(out.split())


def test_ncnnq_table_warns_before_calibrating(tmp_path, capsys):
    _model(tmp_path, _flushed(_small_weights()), "fp16")
    main(["table", str(tmp_path / "m.param"), str(tmp_path / "m.bin"), str(tmp_path / "m.table")])
    out = " ".join(capsys.readouterr().out.split())
    assert "'head'" in out and "flushed its small weights to zero" in out
    assert (tmp_path / "m.table").is_file()
