"""The embedded default model end to end, and this build's CPU dispatch.

Marked ``emulated``: CI also runs these (``pytest -m emulated``) with the aarch64 wheel in an aarch64
CPython under qemu, once on a CPU with dotprod and once without (scripts/test-aarch64.sh), where
``NCNNQ_EXPECT_<FEATURE>=1|0`` and ``NCNNQ_EXPECT_PATHS=family=path,...`` say what the emulated CPU
has and which kernel path each family must pick. Mark a test ``emulated`` when it covers loading,
running, calibrating (table) or int8 on the embedded default, and keep it fast: emulation is slow.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import ncnnq
from ncnnq import demo
from reference import assert_close, input_shape, run_ncnn

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


def test_load_and_save_the_embedded_default(tmp_path):
    param, bin_path = demo.model_files()
    model = ncnnq.Model.load(param, bin_path)
    assert model.has_weights and model.inputs and model.outputs
    assert model.bin_bytes() == bin_path.read_bytes()
    model.save(tmp_path / "m.param", tmp_path / "m.bin")
    again = ncnnq.Model.load(tmp_path / "m.param", tmp_path / "m.bin")
    assert again.param_text() == model.param_text() and again.bin_bytes() == model.bin_bytes()


def test_cli_info_on_the_embedded_default():
    # A subprocess of sys.executable: under qemu this checks that the emulated interpreter can
    # start itself again (pip's entry points and the CLI tests depend on it).
    r = subprocess.run([sys.executable, "-m", "ncnnq.cli", "info"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    model = ncnnq.Model.load(*demo.model_files())
    assert f"outputs: {', '.join(model.outputs)}" in r.stdout


def test_run_the_embedded_default():
    param, bin_path = demo.model_files()
    model = ncnnq.Model.load(param, bin_path)
    try:
        net = ncnnq.Net(model)
    except ncnnq.UnsupportedLayerError as e:
        pytest.skip(f"the engine cannot run the embedded default yet: {e}")
    x = np.random.default_rng(0).uniform(-1, 1, size=input_shape(model, param.stem)).astype(np.float32)
    ours = net.run({model.inputs[0]: x}, model.outputs)
    threaded = ncnnq.Net(model, threads=2).run({model.inputs[0]: x}, model.outputs)
    for name, value in ours.items():
        assert np.all(np.isfinite(value)), name
        assert_close(threaded[name], value, f"{name} with 2 threads")
    pytest.importorskip("ncnn", reason="real ncnn is the referee for the values")
    theirs = run_ncnn(param, bin_path, {model.inputs[0]: x}, model.outputs)
    for name in ours:
        assert_close(ours[name], theirs[name], name)
