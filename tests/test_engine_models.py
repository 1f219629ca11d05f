"""The fp32 engine against real ncnn on whole networks: the shared real models on shared images,
and every benchmark architecture with seeded random weights. ncnn runs with fp16/bf16 off and
its default fast paths (Winograd, sgemm, packing) on.

Bar: every output blob has cosine >= 0.99999 and max abs error <= 1e-3 of its max magnitude;
detection outputs have the same boxes, labels and scores within 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ncnnq
from ncnnq.images import InputSpec, image_tensor
from reference import (
    DETECTION_LAYERS,
    SHARED,
    assert_close,
    assert_same_detections,
    input_shape,
    make_ncnn_net,
    run_ncnn_net,
)

REAL_MODELS = {
    "squeezenet_v1.1": InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0)),
    "mnet.25-opt": InputSpec((320, 320, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0)),
    "nanodet_m": InputSpec((320, 320, 3), "BGR", (103.53, 116.28, 123.675), (0.017429, 0.017507, 0.017125)),
}
IMAGES = 20


def _benchmark_params() -> list[Path]:
    """The fp32 architectures (the *_int8 ones are the int8 engine's: tests/test_int8_engine.py)."""
    d = SHARED / "benchmark-params"
    return sorted(p for p in d.glob("*.param") if not p.stem.endswith("_int8")) if d.is_dir() else []


def _detection_blobs(model: ncnnq.Model) -> set[str]:
    return {t for layer in model.layers if layer.type in DETECTION_LAYERS for t in layer.tops}


def _compare(model: ncnnq.Model, ours: dict, theirs: dict, what: str) -> None:
    detections = _detection_blobs(model)
    for name in theirs:
        if name in detections:
            assert_same_detections(ours[name], theirs[name], f"{what} {name}")
        else:
            assert_close(ours[name], theirs[name], f"{what} {name}")


@pytest.mark.parametrize("name", list(REAL_MODELS))
def test_real_model_matches_ncnn_on_shared_images(shared, name):
    param, bin_path = shared / "models" / f"{name}.param", shared / "models" / f"{name}.bin"
    model = ncnnq.Model.load(param, bin_path)
    ours_net = ncnnq.Net(model)
    theirs_net = make_ncnn_net(param, bin_path)
    images = sorted((shared / "imagenet-sample").glob("*.JPEG"))[:IMAGES]
    for path in images:
        x = {model.inputs[0]: image_tensor(path, REAL_MODELS[name])}
        _compare(
            model, ours_net.run(x, model.outputs), run_ncnn_net(theirs_net, x, model.outputs), f"{name} {path.name}"
        )


@pytest.mark.parametrize("param", _benchmark_params(), ids=[p.stem for p in _benchmark_params()])
def test_benchmark_architecture_matches_ncnn(shared, tmp_path, param):
    model = ncnnq.Model.load(param).with_random_weights(seed=1)
    bin_path = tmp_path / "w.bin"
    bin_path.write_bytes(model.bin_bytes())
    rng = np.random.default_rng(0)
    x = {model.inputs[0]: rng.uniform(-1, 1, size=input_shape(model, param.stem)).astype(np.float32)}
    ours = ncnnq.Net(model).run(x, model.outputs)
    theirs = run_ncnn_net(make_ncnn_net(param, bin_path), x, model.outputs)
    _compare(model, ours, theirs, param.stem)
