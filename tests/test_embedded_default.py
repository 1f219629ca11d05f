"""The test fixture tinynet (tests/tinynet) through the command line end to end, the demo model
shipped in the package, and this build's CPU dispatch.

Marked ``emulated`` (as is test_tinynet.py, which runs tinynet against real ncnn): CI also runs
these (``pytest -m emulated``) with the aarch64 wheel in an aarch64 CPython under qemu, once on a CPU
with dotprod and once without (scripts/test-aarch64.sh), where ``NCNNQ_EXPECT_<FEATURE>=1|0`` and
``NCNNQ_EXPECT_PATHS=family=path,...`` say what the emulated CPU has and which kernel path each
family must pick. Mark a test ``emulated`` when it covers loading,
running, calibrating (table) or int8 on tinynet, and keep it fast: emulation is slow.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ncnnq
import tinynet
from ncnnq import _native, demo
from ncnnq.table import Table
from reference import make_ncnn_net, run_ncnn_net

pytestmark = pytest.mark.emulated


def _expected_features() -> dict[str, bool]:
    prefix = "NCNNQ_EXPECT_"
    return {k[len(prefix):].lower(): v == "1" for k, v in os.environ.items()
            if k.startswith(prefix) and k != "NCNNQ_EXPECT_PATHS"}


def _expected_paths() -> dict[str, str]:
    spec = os.environ.get("NCNNQ_EXPECT_PATHS", "")
    return dict(item.split("=", 1) for item in spec.split(",") if item.strip())


def test_kernel_dispatch_matches_the_cpu():
    info = ncnnq.kernel_info()
    assert info["arch"] == platform.machine()
    for feature, present in _expected_features().items():
        assert (feature in info["features"]) == present, f"{feature}: detected {info['features']}"
    if info["arch"] == "aarch64":
        assert "neon" in info["features"]
    forced = any(k.startswith("NCNNQ_KERNEL") for k in os.environ)
    for family, d in info["families"].items():
        available = [p["name"] for p in d["paths"] if p["available"]]
        assert d["chosen"] in available, f"{family} runs {d['chosen']}, which this CPU cannot"
        assert d["paths"][-1]["needs"] == [], f"{family}: the last path must be portable"
        if not forced:
            assert d["chosen"] == available[0], f"{family} runs {d['chosen']} though {available[0]} is available"
    for family, path in _expected_paths().items():
        assert info["families"][family]["chosen"] == path


def test_load_and_save_tinynet(tmp_path):
    param, bin_path = tinynet.model_files()
    model = ncnnq.Model.load(param, bin_path)
    assert model.has_weights and model.inputs and model.outputs
    assert model.bin_bytes() == bin_path.read_bytes()
    model.save(tmp_path / "m.param", tmp_path / "m.bin")
    again = ncnnq.Model.load(tmp_path / "m.param", tmp_path / "m.bin")
    assert again.param_text() == model.param_text() and again.bin_bytes() == model.bin_bytes()


def test_cli_info_on_the_demo_model():
    # A subprocess of sys.executable: under qemu this checks that the emulated interpreter can
    # start itself again (pip's entry points and the CLI tests depend on it).
    r = subprocess.run([sys.executable, "-m", "ncnnq.cli", "info"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    model = ncnnq.Model.from_bytes(*demo.model_bytes())
    assert f"outputs: {', '.join(model.outputs)}" in r.stdout


def _tinynet_input(path: Path) -> np.ndarray:
    """What ncnn2table feeds tinynet for this image (tests/tinynet/README.md)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    bgr = rgb[..., ::-1] if tinynet.PIXEL == "BGR" else rgb
    x = (bgr - np.array(tinynet.MEAN, np.float32)) * np.array(tinynet.NORM, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncnnq.cli", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def tinynet_table(tmp_path_factory) -> Path:
    """``ncnnq table`` on tinynet and its images, with the documented preprocessing.
    Once per module: under qemu each ``ncnnq`` process costs seconds."""
    tmp_path = tmp_path_factory.mktemp("table")
    param, bin_path = tinynet.model_files()
    (tmp_path / "list.txt").write_text("".join(f"{f}\n" for f in tinynet.image_files()))
    fmt = ",".join
    r = _cli("table", param, bin_path, tmp_path / "list.txt", tmp_path / "tinynet.table",
             f"mean=[{fmt(map(str, tinynet.MEAN))}]", f"norm=[{fmt(map(str, tinynet.NORM))}]",
             f"shape=[{fmt(map(str, tinynet.SHAPE))}]", f"pixel={tinynet.PIXEL}", "method=kl")
    assert r.returncode == 0, r.stderr
    return tmp_path / "tinynet.table"


def test_table_on_tinynet(tinynet_table):
    table = Table.load(tinynet_table)
    model = ncnnq.Model.load(*tinynet.model_files())
    calibrated = [
        layer for layer in model.layers if layer.type in ("Convolution", "ConvolutionDepthWise", "InnerProduct")
    ]
    assert calibrated and list(table.activations) == [layer.name for layer in calibrated]
    for layer in calibrated:
        scale = table.activations[layer.name]
        assert np.isfinite(scale) and scale > 0, layer.name
        # Per output channel (per group when depthwise), max|w| maps to the int8 limit: 127, or 31
        # where ncnn quantizes 3x3 convolutions to 6 bits for int8 Winograd.
        groups = layer.param(7) if layer.type == "ConvolutionDepthWise" else layer.param(0)
        absmax = np.abs(layer.weights["weight"].astype(np.float64).reshape(groups, -1)).max(axis=1)
        limits = table.weight_scales(layer.name) * absmax
        assert np.allclose(limits, 127, rtol=1e-5) or np.allclose(limits, 31, rtol=1e-5), (layer.name, limits)


def test_int8_on_tinynet(tmp_path, tinynet_table):
    param, bin_path = tinynet.model_files()
    r = _cli("int8", param, bin_path, tmp_path / "int8.param", tmp_path / "int8.bin", tinynet_table)
    assert r.returncode == 0, r.stderr
    net = ncnnq.Net(tmp_path / "int8.param", tmp_path / "int8.bin")
    images, truth = tinynet.image_files(), tinynet.labels()
    before = dict(((kind, path), n) for kind, path, n in _native.kernel_calls())
    ours = {f.name: net.run({tinynet.INPUT: _tinynet_input(f)}, [tinynet.OUTPUT])[tinynet.OUTPUT] for f in images}
    ran = {(kind, path): n - before.get((kind, path), 0) for kind, path, n in _native.kernel_calls()}
    # The int8 layers ran on this process's int8 path, and only on it (under CI's emulated CPUs:
    # dotprod on -cpu max, neon on the Cortex-A72, as NCNNQ_EXPECT_PATHS says).
    chosen = _native.int8_kernel()
    assert {path for (_, path), n in ran.items() if n} == {chosen}, ran
    assert all(ran.get((kind, chosen), 0) >= len(images) for kind in ("gemm", "depthwise", "gemv")), ran
    if "i8" in _expected_paths():
        assert chosen == _expected_paths()["i8"]
    assert sum(int(np.argmax(p)) == truth[name] for name, p in ours.items()) >= 0.9 * len(images)
    pytest.importorskip("ncnn", reason="real ncnn is the referee for the int8 outputs")
    ref = make_ncnn_net(tmp_path / "int8.param", tmp_path / "int8.bin")
    theirs = {f.name: run_ncnn_net(ref, {tinynet.INPUT: _tinynet_input(f)}, [tinynet.OUTPUT])[tinynet.OUTPUT]
              for f in images}
    same = sum(int(np.argmax(ours[n])) == int(np.argmax(theirs[n])) for n in ours)
    assert same >= 0.95 * len(images), f"ncnnq's int8 and ncnn's agree on {same} of {len(images)} images"
