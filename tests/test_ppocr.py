"""PP-OCRv4's text detector as today's pnnx exports it (``models/ppocrv4_det.ncnn``: shape
expressions, Reshapes on ncnn's batch path, HardSwish, squeeze-excitation blocks as InnerProduct,
Deconvolution, Interp), against real ncnn: the fp32 engine, ``optimize`` and ``quantize``.

Most shared ImageNet images hold no text, so the probability map is ~0 there; the images below
include the ones where the fp32 model finds the most text. Besides ``out0`` the logits before the
final Sigmoid are compared, which is where differences would show on text-free images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ncnnq
from ncnnq.images import InputSpec, image_tensor
from reference import assert_close, make_ncnn_net, run_ncnn_net

SPEC = InputSpec((640, 640, 3), "RGB", (123.675, 116.28, 103.53), (0.017125, 0.017507, 0.017429))
IMAGES = [
    "n04200800_shoe_shop.JPEG",
    "n02871525_bookshop.JPEG",
    "n02977058_cash_machine.JPEG",
    "n01440764_tench.JPEG",
]


def _files(shared: Path) -> tuple[Path, Path]:
    param, bin_path = shared / "models" / "ppocrv4_det.ncnn.param", shared / "models" / "ppocrv4_det.ncnn.bin"
    if not param.is_file():
        pytest.skip(f"{param} is absent")
    return param, bin_path


def _outputs(model: ncnnq.Model) -> list[str]:
    """out0 and the logits the final Sigmoid reads."""
    sigmoid = next(layer for layer in model.layers if layer.tops == ["out0"])
    assert sigmoid.type == "Sigmoid"
    return ["out0", sigmoid.bottoms[0]]


def _inputs(shared: Path) -> list[dict[str, np.ndarray]]:
    return [{"in0": image_tensor(shared / "imagenet-sample" / name, SPEC)} for name in IMAGES]


def test_fp32_matches_ncnn_on_real_images(shared):
    param, bin_path = _files(shared)
    model = ncnnq.Model.load(param, bin_path)
    outputs = _outputs(model)
    ours, theirs = ncnnq.Net(model, threads=2), make_ncnn_net(param, bin_path, threads=2)
    for name, x in zip(IMAGES, _inputs(shared)):
        a, b = ours.run(x, outputs), run_ncnn_net(theirs, x, outputs)
        assert a["out0"].shape == (1, 640, 640)
        for blob in outputs:
            assert_close(a[blob], b[blob], f"{name} {blob}", cos=0.99999)
    # The shoe shop's sign is text: the map is not empty, so the comparison above is not vacuous.
    assert float(ours.run(_inputs(shared)[0], ["out0"])["out0"].max()) > 0.9


def test_optimize_keeps_the_outputs_in_ncnn(shared, tmp_path):
    param, bin_path = _files(shared)
    model = ncnnq.Model.load(param, bin_path)
    optimized, _ = ncnnq.optimize(model, fp16=False)
    opt_param, opt_bin = tmp_path / "opt.param", tmp_path / "opt.bin"
    optimized.save(opt_param, opt_bin)
    text = opt_param.read_text()
    assert '6="1,1,//(96,0n),0n" 12=0 13=0' in text, "the expressions and batch axes are written as read"
    outputs = _outputs(model)
    before, after = make_ncnn_net(param, bin_path, threads=2), make_ncnn_net(opt_param, opt_bin, threads=2)
    for name, x in zip(IMAGES, _inputs(shared)):
        a, b = run_ncnn_net(after, x, outputs), run_ncnn_net(before, x, outputs)
        for blob in outputs:
            assert_close(a[blob], b[blob], f"optimized {name} {blob}", cos=0.99999)
