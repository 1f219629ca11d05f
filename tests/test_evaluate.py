"""The figures every accuracy claim rests on: pooled SQNR, cosine, top-1 agreement, targets, and
the calibration/validation split."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ncnnq.errors import InputError, ShapeError
from ncnnq.evaluate import LOWER_BOUND_Z, Quality, Target, compare, flip_probability, pooled_sqnr_se
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
    assert Target.parse("sqnr:5").met_by(q) != Target.parse("sqnr:99").met_by(q)
    assert str(Target.parse("cos:0.999")) == "cos:0.999"
    assert Target.parse("sqnr_mean:5").value(q) == q.sqnr_mean_lower >= q.sqnr_worst_lower
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


def test_flip_probability_follows_margin_against_noise():
    r = np.array([5.0, 4.0, 3.0, 2.0, 1.0, -9.0], dtype=np.float32)
    assert flip_probability(r, r) == 0.0
    # The margins' errors (of the five largest; the sixth is not read) are 1, 0, 1, 0: rms
    # σ = √½, and runner-up j wins with P = Φ(−m_j / σ), m_j = 1, 2, 3, 4.
    noise = np.array([0.5, -0.5, 0.5, -0.5, 0.5, 3.0], dtype=np.float32)
    expected = sum(0.5 * math.erfc(m / (math.sqrt(0.5) * math.sqrt(2))) for m in (1.0, 2.0, 3.0, 4.0))
    assert flip_probability(r, r + noise) == pytest.approx(expected, rel=1e-6)
    assert flip_probability(r, r + noise) > flip_probability(r, r + noise / 2) > 0
    # An outsider that wins is read too: it flipped, and its noise is large.
    noise[5] = 20.0
    assert flip_probability(r, r + noise) == 1.0
    # A near tie flips about half the time under any noise; a clear winner almost never.
    tie = np.array([1.0, 0.999, 0.0], dtype=np.float32)
    assert flip_probability(tie, tie + np.array([0.01, 0.0, 0.0], dtype=np.float32)) > 0.3
    clear = np.array([10.0, 0.0, 0.0], dtype=np.float32)
    assert flip_probability(clear, clear + np.array([0.01, 0.0, 0.0], dtype=np.float32)) < 1e-12



def test_flip_probability_reads_the_margins_errors_not_each_score():
    """A near tie's margin moves by the difference of two classes' errors: an error common to
    every score flips nothing, and two opposite errors of e move it by 2e."""
    r = np.array([2.0, 1.9, 0.0, -1.0, -2.0, -3.0])
    assert flip_probability(r, r + 0.5) == 0.0
    opposite = np.zeros(6)
    opposite[:2] = [0.05, -0.05]
    # The runners-up's margins (0.1, 2, 3, 4) move by 0.1, 0.05, 0.05, 0.05.
    sigma = math.sqrt((0.1**2 + 3 * 0.05**2) / 4)
    expected = sum(0.5 * math.erfc(m / (sigma * math.sqrt(2))) for m in (0.1, 2.0, 3.0, 4.0))
    assert flip_probability(r, r + opposite) == pytest.approx(expected, rel=1e-9)


def test_flip_probability_reads_a_softmax_as_its_logits():
    """Probabilities (a softmax's output) are read as their logarithms, the logits less a constant:
    the same noise on the logits gives the same flip probability either way, although in
    probabilities the two near-tied classes' errors are opposite and the others' nearly zero."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal(1000) * 2.0
    z[:2] = [9.0, 8.95]
    noise = rng.standard_normal(1000) * 0.05

    def softmax(v: np.ndarray) -> np.ndarray:
        e = np.exp(v - v.max())
        return e / e.sum()

    on_logits = flip_probability(z, z + noise)
    assert 0.1 < on_logits < 1.0
    assert flip_probability(softmax(z), softmax(z + noise)) == pytest.approx(on_logits, rel=1e-6)
    # Not probabilities (a negative value, or a sum other than 1): read as scores as they are.
    assert flip_probability(softmax(z) - 0.5, softmax(z + noise) - 0.5) != pytest.approx(on_logits, rel=1e-2)

def test_top1_target_reads_the_lower_of_counted_and_expected_agreement():
    """Every sample keeps its arg-max, but two are near ties: a top1:0.99 target is not met."""
    ref = [{"y": np.array([1.0, 0.0, 0.0], dtype=np.float32)} for _ in range(8)]
    ref += [{"y": np.array([1.0, 0.995, 0.0], dtype=np.float32)} for _ in range(2)]
    noisy = [{"y": r["y"] + np.array([0.005, -0.005, 0.0], dtype=np.float32)} for r in ref]
    q = compare(ref, noisy, ["y"])
    assert q.top1 == 1.0 and q.top1_expected < 0.99
    assert q.value("top1") == q.top1_expected and not Target.parse("top1:0.99").met_by(q)
    assert compare(ref, ref, ["y"]).value("top1") == 1.0


def _one_near_tie_among(clear: int) -> Quality:
    """``clear`` samples far from a tie and one near tie, none of whose arg-max moves."""
    ref = [{"y": np.array([1.0, 0.0, 0.0], dtype=np.float32)} for _ in range(clear)]
    ref.append({"y": np.array([1.0, 0.99, 0.0], dtype=np.float32)})
    noisy = [{"y": r["y"] + np.array([0.006, -0.006, 0.0], dtype=np.float32)} for r in ref]
    return compare(ref, noisy, ["y"])


def test_a_top1_target_reads_a_lower_bound_that_tightens_with_more_samples():
    """One near tie (flip probability 0.14) among 19 clear samples: counted 100 %, expected 99.5 %,
    but on other samples the share of near ties may well be larger, so top1:0.99 is not met; the
    same near tie among 199 clear samples bounds the agreement above 99 %, and it is."""
    few, many = _one_near_tie_among(19), _one_near_tie_among(199)
    flip = 20 * (1.0 - few.top1_expected)  # the near tie's flip probability
    assert 0.05 < flip < 0.2
    assert few.top1 == 1.0 and few.value("top1") == few.top1_expected > 0.99
    se = flip / 20  # flips (f, 0 × 19): their standard deviation (ddof=1) is f/√20, over √20
    assert few.top1_expected_se == pytest.approx(se, rel=1e-6)
    assert few.top1_lower == pytest.approx(few.top1_expected - LOWER_BOUND_Z * se)
    target = Target.parse("top1:0.99")
    assert target.value(few) == few.top1_lower < 0.99 and not target.met_by(few)
    assert many.top1_expected > few.top1_expected and many.top1_lower > 0.99 and target.met_by(many)
    # A flip counted still counts, and one sample bounds nothing above 0.
    assert target.value(compare([{"y": np.array([1.0, 0.0])}], [{"y": np.array([0.0, 1.0])}], ["y"])) == 0.0
    # An SQNR target reads its own bound.
    assert Target.parse("sqnr:10").value(few) == few.sqnr_worst_lower < few.sqnr_worst


def _noise_on(share: list[float], samples: int) -> Quality:
    """``samples`` samples of equal signal; the first ``len(share)`` carry noise in those
    proportions of a total that leaves the pooled SQNR at 20 dB, the rest none."""
    ref = [{"y": np.ones(100, np.float32)} for _ in range(samples)]
    total = 100.0 * samples / 100.0  # Σ signal / 10**(20/10)
    got = [{"y": r["y"] + np.float32(math.sqrt(total * (share[i] if i < len(share) else 0.0) / 100.0))}
           for i, r in enumerate(ref)]
    return compare(ref, got, ["y"])


def test_an_sqnr_target_reads_a_lower_bound_that_rests_on_how_the_noise_is_spread():
    """Pooled 20 dB on 16 samples either way; where one sample carries all the noise, other
    samples may carry more or none, and sqnr:20 is not met (nor 19: the bound is several dB
    lower); spread evenly over every sample, the figure is as sure as it gets and it is met."""
    one = _noise_on([1.0], 16)
    even = _noise_on([1.0 / 16] * 16, 16)
    for q in (one, even):
        assert q.sqnr_worst == pytest.approx(20.0, abs=1e-3)
    # One noisy sample in n: terms 1 - n (once) and 1: sd √n, over √n: 10/ln 10 dB.
    assert one.outputs[0].sqnr_db_se == pytest.approx(10 / math.log(10), rel=1e-4)
    assert one.sqnr_worst_lower == pytest.approx(20.0 - LOWER_BOUND_Z * 10 / math.log(10), abs=1e-3)
    assert not Target.parse("sqnr:19").met_by(one)
    assert even.outputs[0].sqnr_db_se == pytest.approx(0.0, abs=1e-4)
    assert Target.parse("sqnr:19.99").met_by(even)
    # Noise that follows the signal (text images: more of both) is no less sure than even noise.
    assert pooled_sqnr_se([1.0, 4.0, 9.0], [0.01, 0.04, 0.09]) == pytest.approx(0.0, abs=1e-9)
    # No noise bounds nothing away (+inf); no signal with noise has no bound; one sample, no spread.
    assert pooled_sqnr_se([1.0, 2.0], [0.0, 0.0]) == 0.0
    assert pooled_sqnr_se([0.0, 0.0], [1.0, 2.0]) == math.inf
    assert pooled_sqnr_se([1.0], [0.5]) == 0.0
    perfect = compare([{"y": np.ones(3, np.float32)}] * 2, [{"y": np.ones(3, np.float32)}] * 2, ["y"])
    assert perfect.sqnr_worst_lower == math.inf and Target.parse("sqnr:100").met_by(perfect)
