"""The figures every accuracy claim rests on: pooled SQNR, cosine, top-1 agreement, targets, and
the calibration/validation split."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ncnnq.errors import InputError, ShapeError
from ncnnq.evaluate import Target, compare
from ncnnq.samples import split_validation


def test_sqnr_is_pooled_over_samples_and_worst_sample_is_kept():
    ref = [{"y": np.array([3.0, 4.0], np.float32)}, {"y": np.array([1e-4, 0.0], np.float32)}]
    got = [{"y": np.array([3.0, 4.1], np.float32)}, {"y": np.array([0.0, 1e-4], np.float32)}]
    q = compare(ref, got, ["y"])
    signal = 25.0 + 1e-8
    noise = 0.1**2 + 2e-8
    assert q.outputs[0].sqnr_db == pytest.approx(10 * math.log10(signal / noise), rel=1e-4)
    # The near-zero second sample alone is at -3 dB: pooling keeps it from deciding the figure.
    assert q.outputs[0].sqnr_db_worst_sample == pytest.approx(10 * math.log10(1e-8 / 2e-8), rel=1e-3)
    assert q.top1 == 0.5 and q.samples == 2


def test_several_outputs_mean_and_worst_and_exact_match():
    ref = [{"a": np.ones(4, np.float32), "b": np.arange(4, dtype=np.float32)}]
    q = compare(ref, [{"a": np.ones(4, np.float32), "b": np.arange(4, dtype=np.float32) * 1.1}], ["a", "b"])
    assert q.outputs[0].sqnr_db == math.inf and q.outputs[0].cosine_min == pytest.approx(1.0)
    assert q.sqnr_worst == q.outputs[1].sqnr_db == pytest.approx(20.0)  # noise is 10 % of the signal
    assert q.sqnr_mean == math.inf


def test_targets_parse_and_judge():
    ref = [{"p": np.array([0.1, 0.9], np.float32)}, {"p": np.array([0.6, 0.4], np.float32)}]
    got = [{"p": np.array([0.2, 0.8], np.float32)}, {"p": np.array([0.4, 0.6], np.float32)}]
    q = compare(ref, got, ["p"])
    assert Target.parse("top1:0.5").met_by(q) and not Target.parse("top1:0.51").met_by(q)
    assert Target.parse("sqnr:10").met_by(q) != Target.parse("sqnr:99").met_by(q)
    assert str(Target.parse("cos:0.999")) == "cos:0.999"
    for bad in ("sqnr", "psnr:3", "cos:1.5", "top1:x", "sqnr:nan"):
        with pytest.raises(InputError):
            Target.parse(bad)


def test_mismatched_outputs_are_errors():
    with pytest.raises(ShapeError):
        compare([{"y": np.zeros(3, np.float32)}], [{"y": np.zeros(4, np.float32)}], ["y"])
    with pytest.raises(InputError):
        compare([{"y": np.zeros(3, np.float32)}], [], ["y"])


@pytest.mark.parametrize(("fraction", "every"), [(0.5, 2), (0.2, 5), (0.25, 4)])
def test_split_spreads_validation_evenly(fraction: float, every: int):
    calibration, validation = split_validation(list(range(100)), fraction)
    assert validation == list(range(every - 1, 100, every))
    assert sorted(calibration + validation) == list(range(100))


def test_split_without_validation_and_bad_fractions():
    assert split_validation([1, 2, 3], 0.0) == ([1, 2, 3], [])
    for bad in (-0.1, 1.0):
        with pytest.raises(InputError):
            split_validation([1, 2], bad)
