"""The fp32 engine against real ncnn on real models."""

from __future__ import annotations

import numpy as np

import ncnnq
from reference import assert_close, run_ncnn


def test_squeezenet_matches_ncnn(shared):
    param = shared / "models" / "squeezenet_v1.1.param"
    bin_path = shared / "models" / "squeezenet_v1.1.bin"
    rng = np.random.default_rng(0)
    x = rng.uniform(-100, 150, size=(3, 227, 227)).astype(np.float32)
    ours = ncnnq.Net(param, bin_path).run({"data": x}, ["prob", "pool10"])
    theirs = run_ncnn(param, bin_path, {"data": x}, ["prob", "pool10"])
    for name in ours:
        assert_close(ours[name], theirs[name], name)
