"""The vectorized calibration math against literal, loop-by-loop ports of ncnn2table's code
(quantization.md §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ncnnq.methods.aciq import aciq_clip
from ncnnq.methods.histogram import rebin
from ncnnq.methods.kl import EPS, THRESHOLDS, kl_divergences, kl_threshold_bin
from ncnnq.methods.mse import mse_threshold


def _ncnn_kl(p: np.ndarray, t: int) -> float:
    """ncnn2table's divergence for threshold bin t, written as its loops."""
    ref = [EPS + p[j] for j in range(t)]
    ref[t - 1] += sum(p[t:])
    r = t / 128
    q = []
    for b in range(128):
        s, e = b * r, (b + 1) * r
        lu, rl = math.ceil(s), math.floor(e)
        ls, rs = lu - s, e - rl
        mass = (ls * p[lu - 1] if ls > 0 else 0) + sum(p[lu:rl]) + (rs * p[rl] if rs > 0 and rl < len(p) else 0)
        q.append(mass / r)
    expanded = [EPS] * t
    for b in range(128):
        s, e = b * r, (b + 1) * r
        lu, rl = math.ceil(s), math.floor(e)
        ls, rs = lu - s, e - rl
        if ls > 0:
            expanded[lu - 1] += ls * q[b]
        for j in range(lu, min(rl, t)):
            expanded[j] += q[b]
        if rs > 0 and rl < t:
            expanded[rl] += rs * q[b]
    return sum(a * math.log(a / b) for a, b in zip(ref, expanded))


@pytest.mark.parametrize("seed", range(4))
def test_kl_divergences_equal_ncnns_loops(seed):
    rng = np.random.default_rng(seed)
    h = np.abs(rng.normal(size=2048)) * np.exp(-np.arange(2048) / rng.uniform(40, 900))
    h[rng.random(2048) < 0.2] = 0
    p = h / h.sum()
    ours = kl_divergences(p)
    for t in [*range(128, 2048, 97), 128, 129, 255, 256, 2047]:
        assert ours[t - THRESHOLDS[0]] == pytest.approx(_ncnn_kl(p, t), rel=1e-9, abs=1e-12), t


def test_kl_picks_the_smallest_minimizer_and_handles_empty():
    assert kl_threshold_bin(np.zeros(2048)) is None
    h = np.zeros(2048)
    h[:100] = 1.0
    t = kl_threshold_bin(h)
    assert t is not None and 128 <= t <= 2047


def test_aciq_clip_matches_the_spec_ratios():
    # quantization.md §5.2: clip/absmax for 8 bits
    for n, ratio in [(288, 1.26), (1152, 1.13), (4608, 1.03), (150528, 0.868)]:
        assert aciq_clip(1.0, n) == pytest.approx(ratio, abs=0.005)
    assert aciq_clip(3.0, 1) == 3.0


def test_rebin_preserves_mass_and_places_it():
    fine = np.zeros(65536)
    fine[100] = 7  # [100, 101) * 2/65536 lies in ncnn bin int(v/1.5*2048)
    out = rebin(fine, 2.0, 1.5)
    assert out.sum() == pytest.approx(7)
    v = 100.5 * 2.0 / 65536
    assert out[int(v / 1.5 * 2048)] == pytest.approx(7)


def test_mse_threshold_clips_long_tails_only():
    h = np.zeros(2048)
    h[:200] = 1000.0
    assert mse_threshold(h, 1.0) <= 210 / 2048
    h[2040] = 1e9
    assert mse_threshold(h, 1.0) > 2000 / 2048
