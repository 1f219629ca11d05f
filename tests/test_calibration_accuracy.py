"""Calibration quality on held-out data: calibrate on half of the shared ImageNet sample, check
the int8 model (run by real ncnn) against fp32 on the other half."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

import ncnnq
from ncnnq.calibrate import calibrate
from ncnnq.images import InputSpec, image_tensor
from ncnnq.int8 import quantize, save_int8
from ncnnq.methods.weights import is_winograd_6bit, winograd_fits, winograd_safe_scales
from reference import SHARED, make_ncnn_net, run_ncnn_net

SPEC = InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0))
REF = SHARED / "reference" / "squeezenet_v1.1"

# Each check calibrates on 250 images and runs 250 more through real ncnn: 45-90 s.
pytestmark = pytest.mark.slow


@cache
def _model() -> ncnnq.Model:
    return ncnnq.Model.load(REF / "squeezenet_v1.1-opt.param", REF / "squeezenet_v1.1-opt.bin")


def _halves() -> tuple[list[Path], list[Path]]:
    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    return images[0::2], images[1::2]


@cache
def _held_out() -> tuple[list[np.ndarray], np.ndarray]:
    tensors = [image_tensor(p, SPEC) for p in _halves()[1]]
    net = make_ncnn_net(REF / "squeezenet_v1.1-opt.param", REF / "squeezenet_v1.1-opt.bin", threads=2)
    fp32 = np.stack([run_ncnn_net(net, {"data": x}, ["prob"])["prob"] for x in tensors])
    return tensors, fp32


@cache
def _evaluate(method: str, tmp: str) -> tuple[float, float]:
    """(top-1 agreement, mean output cosine) of the int8 model calibrated with `method`."""
    table = calibrate(_model(), _halves()[0], method, specs=[SPEC], threads=2)
    int8, _ = quantize(_model(), table)
    param, bin_path = Path(tmp) / f"{method}.param", Path(tmp) / f"{method}.bin"
    save_int8(int8, param, bin_path)
    tensors, fp32 = _held_out()
    net = make_ncnn_net(param, bin_path, threads=2)
    out = np.stack([run_ncnn_net(net, {"data": x}, ["prob"])["prob"] for x in tensors])
    cos = np.sum(out * fp32, 1) / np.linalg.norm(out, axis=1) / np.linalg.norm(fp32, axis=1)
    return float(np.mean(out.argmax(1) == fp32.argmax(1))), float(cos.mean())


def test_eq_keeps_at_least_kls_agreement(shared, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("eq"))
    kl = _evaluate("kl", tmp)
    eq = _evaluate("eq", tmp)
    print(f"held-out top-1 agreement: kl {kl[0]:.1%} (cos {kl[1]:.5f}), eq {eq[0]:.1%} (cos {eq[1]:.5f})")
    assert eq[0] >= kl[0] and eq[1] >= kl[1]


def test_best_beats_kl(shared, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("best"))
    kl = _evaluate("kl", tmp)
    best = _evaluate("best", tmp)
    print(f"held-out top-1 agreement: kl {kl[0]:.1%}, best {best[0]:.1%} (cos {best[1]:.5f})")
    assert best[0] > kl[0] and best[1] > kl[1]


def test_best_weights_provably_fit_ncnn_winograd(shared):
    """Every 3x3 stride-1 layer's int8 weights under `best` can never overflow ncnn's int8
    Winograd F(4,3) (int16 kernels, int32 sums) — and they are wider than ncnn's 6 bits."""
    widened = 0
    for layer in _model().layers:
        if not is_winograd_6bit(layer):
            continue
        scales = winograd_safe_scales(layer)
        w = np.asarray(layer.weights["weight"], np.float32).reshape(len(scales), -1)
        q = np.clip(np.trunc(w * scales[:, None] + np.copysign(np.float32(0.5), w)), -127, 127)
        assert winograd_fits(q.reshape(len(scales), -1, 3, 3)).all(), layer.name
        widened += int((np.abs(q).max(axis=1) > 31).sum())
    assert widened > 1000


def test_wide_winograd_weights_run_exactly_in_ncnn(shared, tmp_path):
    """ncnn's int8 Winograd is exact unless it overflows: with `best` scales, winograd on and off
    must give bit-identical outputs."""
    table = calibrate(_model(), _halves()[0][:20], "best", specs=[SPEC], threads=2)
    int8, _ = quantize(_model(), table)
    save_int8(int8, tmp_path / "q.param", tmp_path / "q.bin")
    tensors, _ = _held_out()
    on = make_ncnn_net(tmp_path / "q.param", tmp_path / "q.bin", winograd=True)
    off = make_ncnn_net(tmp_path / "q.param", tmp_path / "q.bin", winograd=False)
    for x in tensors[:20]:
        a = run_ncnn_net(on, {"data": x}, ["pool10"])["pool10"]
        b = run_ncnn_net(off, {"data": x}, ["pool10"])["pool10"]
        assert np.array_equal(a, b)
