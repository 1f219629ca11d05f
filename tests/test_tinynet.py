"""The test fixture tinynet (tests/tinynet): complete, small, accurate, and the same in ncnnq and ncnn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ncnnq
import tinynet
from reference import assert_close, make_ncnn_net, run_ncnn_net

pytestmark = pytest.mark.emulated  # CI runs these on the aarch64 wheel under qemu too


def _input(path: Path) -> np.ndarray:
    """What ncnn2table feeds the model for this image with the documented mean/norm/pixel/shape."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    assert rgb.shape == (tinynet.SHAPE[1], tinynet.SHAPE[0], tinynet.SHAPE[2]), path
    assert tinynet.PIXEL == "BGR"
    bgr = rgb[..., ::-1]
    x = (bgr - np.array(tinynet.MEAN, np.float32)) * np.array(tinynet.NORM, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _accuracy(probs: dict[str, np.ndarray]) -> float:
    truth = tinynet.labels()
    return sum(int(np.argmax(p)) == truth[name] for name, p in probs.items()) / len(probs)


@pytest.fixture(scope="module")
def ncnn_probs() -> dict[str, np.ndarray]:
    net = make_ncnn_net(*tinynet.model_files())
    return {f.name: run_ncnn_net(net, {tinynet.INPUT: _input(f)}, [tinynet.OUTPUT])[tinynet.OUTPUT]
            for f in tinynet.image_files()}


def test_shipped_files_are_complete_and_small():
    param, bin_path = tinynet.model_files()
    images = tinynet.image_files()
    truth = tinynet.labels()
    assert param.is_file() and bin_path.is_file()
    assert len(images) >= 40
    assert {f.name for f in images} == set(truth)
    assert set(truth.values()) == set(range(len(tinynet.CLASS_NAMES))), "every class has sample images"
    total = sum(f.stat().st_size for f in [param, bin_path, *images, images[0].parent / "labels.txt"])
    assert total < 300 * 1024


def test_model_has_the_documented_interface_and_layers():
    model = ncnnq.Model.load(*tinynet.model_files())
    assert model.has_weights and not model.warnings
    assert model.inputs == [tinynet.INPUT] and model.outputs == [tinynet.OUTPUT]
    types = [layer.type for layer in model.layers]
    # the structure the pipeline is meant to exercise: BN and ReLU left to fuse, a Split into two
    # convolutions joined by Concat, a depthwise convolution, a Softmax output
    for t in ["BatchNorm", "ReLU", "Split", "Concat", "ConvolutionDepthWise", "InnerProduct", "Softmax"]:
        assert t in types, t
    assert types.index("BatchNorm") == types.index("Convolution") + 1
    assert model.layer("fc").param(0) == len(tinynet.CLASS_NAMES)
    assert {s for layer in model.layers for _, s in layer.weight_storage} == {"fp32"}


def test_ncnn_classifies_the_shipped_images(ncnn_probs):
    for name, p in ncnn_probs.items():
        assert p.shape == (len(tinynet.CLASS_NAMES),), name
        assert abs(float(p.sum()) - 1) < 1e-4, name
    assert _accuracy(ncnn_probs) >= 0.9


def test_ncnnq_matches_ncnn_on_the_shipped_images(ncnn_probs):
    try:
        net = ncnnq.Net(*tinynet.model_files())
    except ncnnq.UnsupportedLayerError as e:
        pytest.skip(f"the engine cannot run tinynet yet: {e}")
    ours = {}
    for f in tinynet.image_files():
        ours[f.name] = net.run({tinynet.INPUT: _input(f)}, [tinynet.OUTPUT])[tinynet.OUTPUT]
        assert_close(ours[f.name], ncnn_probs[f.name], f.name)
    assert _accuracy(ours) >= 0.9
