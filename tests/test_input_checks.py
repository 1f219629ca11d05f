"""Mistakes in API calls and options that used to be accepted and fail later, or silently do
something else, are refused where they are made."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ncnnq
import tinynet

PARAM, BIN = tinynet.model_files()
SPEC = ncnnq.InputSpec((32, 32, 3), "BGR", (127.5, 127.5, 127.5), (0.0078125, 0.0078125, 0.0078125))


@pytest.mark.parametrize("single", ["x.jpg", tinynet.image_files()[0], {"data": "x.jpg"}])
def test_calibrate_refuses_a_single_sample(single):
    with pytest.raises(ncnnq.InputError, match="wrap it in a list"):
        ncnnq.calibrate(ncnnq.Model.load(PARAM, BIN), single, specs=[SPEC])  # type: ignore[arg-type]


def test_set_param_checks_the_type_the_layer_reads():
    model = ncnnq.Model.load(PARAM, BIN)
    conv = model.layer("conv1")
    with pytest.raises(ncnnq.LayerError, match=r"parameter 0 \(num_output\) is an int \(got: string\)"):
        conv.set_param(0, "abc")
    with pytest.raises(ncnnq.LayerError, match="is an int"):
        conv.set_param(0, 2.5)
    with pytest.raises(ncnnq.LayerError, match="has no parameter 25"):
        conv.set_param(25, 1)
    conv.set_param(0, 16)
    bn = model.layer("bn1")
    bn.set_param(1, 1)  # an int for a float parameter is that float
    assert bn.params[1] == 1.0 and isinstance(bn.params[1], float)


@pytest.mark.parametrize("pixel,mean,message", [
    ("BGR", (1.0, 2.0, 3.0, 4.0), "mean has 4 values but pixel=BGR gives 3 channels"),
    ("GRAY", (1.0, 2.0, 3.0), "mean has 3 values but pixel=GRAY gives 1 channel"),
    ("RGBA", (1.0, 2.0, 3.0), "mean has 3 values but pixel=RGBA gives 4 channels"),
    ("XYZ", (), "pixel=XYZ: must be one of"),
])
def test_input_spec_checks_mean_against_the_pixel_format(pixel, mean, message):
    with pytest.raises(ncnnq.InputError, match=message):
        ncnnq.InputSpec((32, 32, 3), pixel, mean)


def test_from_pixels_refuses_extra_mean_values():
    rgb = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ncnnq.InputError, match="mean has 4 values but the image has 3 channels"):
        ncnnq.from_pixels(rgb, "RGB", "BGR", 4, 4, [1, 2, 3, 4], [])


def test_cli_refuses_four_means_for_three_channels_before_calibrating(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "ncnnq.cli", "table", str(PARAM), str(BIN), str(tinynet.image_files()[0].parent),
         str(tmp_path / "t.table"), "mean=[1,2,3,4]", "norm=[1,1,1]", "shape=[32,32,3]", "pixel=BGR"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "mean has 4 values but pixel=BGR gives 3 channels" in r.stderr
    assert "calibration" not in r.stdout and not (tmp_path / "t.table").exists()
