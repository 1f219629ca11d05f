"""Reports crossing the Python boundary are typed, frozen native objects (their schema lives once,
in Rust, and in the stubs): statistics, quantizer and optimizer reports."""

from __future__ import annotations

import numpy as np
import pytest

import ncnnq
from ncnnq import _native
from ncnnq.errors import InputError
from ncnnq.table import Table

MODEL = """7767517
5 5
Input            data 0 1 data 0=8 1=6 2=3
Convolution      c1   1 1 data c1 0=4 1=3 4=1 5=1 6=108
ReLU             r1   1 1 c1 r1
Convolution      c2   1 1 r1 c2 0=4 1=1 5=1 6=16
Convolution      c3   1 1 c2 c3 0=2 1=1 5=1 6=8
"""


def _model() -> ncnnq.Model:
    return ncnnq.Model.from_bytes(MODEL.encode(), name="reports.param").with_random_weights(3)


def _input() -> dict[str, np.ndarray]:
    return {"data": np.random.default_rng(1).uniform(-2, 2, (3, 6, 8)).astype(np.float32)}


def test_statistics_are_typed_per_blob():
    model = _model()
    blob = ncnnq.Net(model).run(_input(), ["r1"])["r1"]
    collector = _native.StatsCollector(model, ["r1", "c2"], "histogram")
    collector.add([_input()])
    stats = collector.result()
    assert list(stats) == ["r1", "c2"]
    r1 = stats["r1"]
    assert isinstance(r1, _native.BlobStats) and r1.linear is None
    assert r1.elements == blob.size and r1.absmax == np.abs(blob).max() and r1.non_finite == 0
    assert r1.histogram_range > r1.absmax and r1.histogram.dtype == np.uint64
    assert int(r1.histogram.sum()) == int((blob != 0).sum()), "every non-zero value lands in a bin"
    assert not r1.histogram.flags.writeable and "BlobStats(absmax=" in repr(r1)
    with pytest.raises(AttributeError):
        r1.absmax = 0.0  # type: ignore[misc]
    linear = _native.StatsCollector(model, ["r1"], "linear", absmax=[float(r1.absmax)])
    linear.add([_input()])
    lin = linear.result()["r1"]
    assert lin.histogram is None and lin.histogram_range is None and lin.linear.shape == (2048,)


def test_optimize_report_is_typed():
    model = _model()
    _, report = ncnnq.optimize(model)
    assert isinstance(report, ncnnq.OptimizeReport)
    assert report.before.layers == 5 and report.after.layers == 4, "the ReLU is fused into c1"
    fused = report.pass_result("fuse_convolution_activation")
    assert fused.fired == [("c1", "r1")] and fused.count == 1 and [p.name for p in report.fired] == [fused.name]
    assert report.shape_inference.ran and report.shape_inference.reason is None
    assert "fuse_convolution_activation" in repr(report) and "Counts(layers=5" in repr(report.before)
    with pytest.raises(InputError, match="no optimizer pass named"):
        report.pass_result("nope")
    with pytest.raises(AttributeError):
        report.notes = []  # type: ignore[misc]


def test_quantize_report_is_typed():
    model, _ = ncnnq.optimize(_model())
    weights = {f"{n}_param_0": np.full(model.layer(n).param(0), 50.0, np.float32) for n in ("c1", "c2", "c3")}
    table = Table(weights, {"c1": 40.0, "c2": 30.0})
    _, report = ncnnq.quantize(model, table)
    assert isinstance(report, ncnnq.QuantizeReport)
    assert [n for n, _ in report.quantized] == ["c1", "c2"] and report.requantized == ["c1"]
    assert report.kept_float == [("c3", "the table has its weight scales but no activation scale")]
    assert "QuantizeReport(quantized=2, requantized=1, kept_float=[\"c3\"]" in repr(report)
