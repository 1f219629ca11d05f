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


DEMO_OPTIONS = [f"mean=[{','.join(map(str, demo.MEAN))}]", f"norm=[{','.join(map(str, demo.NORM))}]",
                f"shape=[{','.join(map(str, demo.SHAPE))}]", f"pixel={demo.PIXEL}", "thread=2"]


def test_quantize_is_optimize_table_int8_in_one_step(tmp_path):
    """A folder of images in, the int8 files out: the same bytes as the three commands run one
    after the other on a list of that folder's images."""
    param, bin_path = (str(p) for p in demo.model_files())
    folder = demo.image_files()[0].parent
    out = tmp_path / "one"
    out.mkdir()
    assert main(["quantize", param, bin_path, str(folder), str(out / "i8.param"), str(out / "i8.bin"),
                 *DEMO_OPTIONS, f"table={out / 't.table'}"]) == 0

    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "list.txt").write_text("".join(f"{p}\n" for p in demo.image_files()))
    assert main(["optimize", param, bin_path, str(steps / "o.param"), str(steps / "o.bin")]) == 0
    assert main(["table", str(steps / "o.param"), str(steps / "o.bin"), str(steps / "list.txt"),
                 str(steps / "t.table"), *DEMO_OPTIONS]) == 0
    assert main(["int8", str(steps / "o.param"), str(steps / "o.bin"), str(steps / "i8.param"),
                 str(steps / "i8.bin"), str(steps / "t.table")]) == 0
    for name in ("t.table", "i8.param", "i8.bin"):
        assert (out / name).read_bytes() == (steps / name).read_bytes(), name
    make_ncnn_net(out / "i8.param", out / "i8.bin")


def test_quantize_without_optimizing_calibrates_the_model_as_given(tmp_path):
    model = ncnnq.Model.load(*demo.model_files())
    spec = ncnnq.InputSpec(demo.SHAPE, demo.PIXEL, demo.MEAN, demo.NORM)
    result = ncnnq.quantize_model(model, demo.image_files()[:8], specs=[spec], optimize_first=False, threads=1)
    assert result.optimize is None and result.optimized is model
    assert len(result.model.layers) == len(model.layers)
    assert set(result.table.activations) == {layer.name for layer in model.layers
                                             if layer.type in ("Convolution", "ConvolutionDepthWise", "InnerProduct")}


@pytest.mark.parametrize("extra, message", [
    (["optimize=2"], "optimize=2"),
    (["colour=BGR"], "colour"),
])
def test_quantize_bad_options_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    param, bin_path = (str(p) for p in demo.model_files())
    args = ["quantize", param, bin_path, str(demo.image_files()[0].parent), str(tmp_path / "i8.param"),
            str(tmp_path / "i8.bin"), *DEMO_OPTIONS, *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_quantize_from_a_folder_without_images_is_an_error(tmp_path, capsys):
    param, bin_path = (str(p) for p in demo.model_files())
    (tmp_path / "empty").mkdir()
    assert main(["quantize", param, bin_path, str(tmp_path / "empty"), str(tmp_path / "i8.param"),
                 str(tmp_path / "i8.bin"), *DEMO_OPTIONS]) == 2
    assert "holds no image files" in capsys.readouterr().err
    assert not (tmp_path / "i8.param").exists()


@pytest.mark.parametrize("method", ["kl", "aciq"])
def test_api_cli_and_quantize_model_write_identical_files(tmp_path, method):
    """One rounding of the scales for every path: the step-by-step API, ``quantize_model`` and the
    command line quantize with the values the table file stores, so all three write the same bytes."""
    param, bin_path = demo.model_files()
    images = demo.image_files()[:16]
    spec = ncnnq.InputSpec(demo.SHAPE, demo.PIXEL, demo.MEAN, demo.NORM)
    model = ncnnq.Model.load(param, bin_path)

    api = tmp_path / "api"
    api.mkdir()
    optimized, _ = ncnnq.optimize(model)
    table = ncnnq.calibrate(optimized, images, method, specs=[spec], threads=2)
    assert ncnnq.Table.parse(table.text()).activations == table.activations, "the table is what its text stores"
    int8, _ = ncnnq.quantize(optimized, table)
    ncnnq.save_int8(int8, api / "i8.param", api / "i8.bin")

    one_call = tmp_path / "one_call"
    one_call.mkdir()
    result = ncnnq.quantize_model(model, images, method, specs=[spec], threads=2)
    ncnnq.save_int8(result.model, one_call / "i8.param", one_call / "i8.bin")

    cli = tmp_path / "cli"
    (cli / "images").mkdir(parents=True)
    for image in images:
        (cli / "images" / image.name).write_bytes(image.read_bytes())
    options = [*DEMO_OPTIONS, f"method={method}"]
    assert main(["quantize", str(param), str(bin_path), str(cli / "images"), str(cli / "i8.param"),
                 str(cli / "i8.bin"), *options]) == 0

    for name in ("i8.param", "i8.bin"):
        assert (api / name).read_bytes() == (cli / name).read_bytes(), f"API and CLI differ in {name}"
        assert (one_call / name).read_bytes() == (cli / name).read_bytes(), f"quantize_model and CLI differ in {name}"
