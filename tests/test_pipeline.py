"""The README's first command: ``ncnnq demo`` runs optimize, table, int8 and the fp32-vs-int8 check on
the embedded model, and what it writes is what real ncnn loads and runs."""

from __future__ import annotations

import numpy as np
import pytest

import ncnnq
from ncnnq import demo
from ncnnq.cli import main
from ncnnq.images import image_tensor
from ncnnq.pipeline import run_demo
from reference import agreement, make_ncnn_net, run_ncnn_net


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("demo"), threads=2)


def test_every_step_wrote_its_file(result):
    for what, path in result.files.items():
        assert path.is_file() and path.stat().st_size > 0, what
    assert ncnnq.Table.load(result.files["table"]).text() == result.table.text()


def test_the_int8_model_is_int8_and_keeps_the_accuracy(result):
    assert result.optimize.after.layers < result.optimize.before.layers
    assert result.quantize.quantized and not result.quantize.kept_float
    int8 = ncnnq.Model.load(result.files["int8 param"], result.files["int8 bin"])
    assert any(layer.params.get(8, 0) in (1, 2, 101, 102) for layer in int8.layers if layer.type == "Convolution")
    assert result.agreement.count == len(demo.image_files()) // 2
    assert result.agreement.top1 >= 0.95 and result.agreement.cosine_min >= 0.99
    assert result.int8_accuracy >= result.fp32_accuracy - 0.05


def test_real_ncnn_runs_the_int8_model_as_ncnnq_does(result):
    ncnn_net = make_ncnn_net(result.files["int8 param"], result.files["int8 bin"])
    ours = ncnnq.Net(result.files["int8 param"], result.files["int8 bin"])
    for image in demo.image_files()[1::8]:
        x = image_tensor(image, ncnnq.InputSpec(demo.SHAPE, demo.PIXEL, demo.MEAN, demo.NORM))
        theirs = run_ncnn_net(ncnn_net, {demo.INPUT: x}, [demo.OUTPUT])[demo.OUTPUT]
        mine = ours.run({demo.INPUT: x}, [demo.OUTPUT])[demo.OUTPUT]
        assert np.argmax(mine) == np.argmax(theirs), image.name
        assert agreement(mine.ravel(), theirs.ravel()).cosine >= 0.999, image.name


def test_cli_demo_prints_the_pipeline(tmp_path, capsys):
    assert main(["demo", "--workdir", str(tmp_path)]) in (0, None)
    out = capsys.readouterr().out
    for step in ("optimize", "table", "int8", "agreement"):
        assert step in out, out
    assert (tmp_path / "tinynet-int8.param").is_file()
