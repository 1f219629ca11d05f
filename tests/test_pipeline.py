"""``ncnnq quantize`` and ``quantize_model``: optimize, table and int8 in one step, on the test fixture
tinynet, giving the same files as the three steps and as the step-by-step API."""

from __future__ import annotations

import pytest

import ncnnq
import tinynet
from ncnnq.cli import main
from reference import make_ncnn_net

TINYNET_OPTIONS = [f"mean=[{','.join(map(str, tinynet.MEAN))}]", f"norm=[{','.join(map(str, tinynet.NORM))}]",
                f"shape=[{','.join(map(str, tinynet.SHAPE))}]", f"pixel={tinynet.PIXEL}", "thread=2"]


def test_quantize_is_optimize_table_int8_in_one_step(tmp_path):
    """A folder of images in, the int8 files out: the same bytes as the three commands run one
    after the other on a list of that folder's images."""
    param, bin_path = (str(p) for p in tinynet.model_files())
    folder = tinynet.image_files()[0].parent
    out = tmp_path / "one"
    out.mkdir()
    assert main(["quantize", param, bin_path, str(folder), str(out / "i8.param"), str(out / "i8.bin"),
                 *TINYNET_OPTIONS, f"table={out / 't.table'}"]) == 0

    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "list.txt").write_text("".join(f"{p}\n" for p in tinynet.image_files()))
    assert main(["optimize", param, bin_path, str(steps / "o.param"), str(steps / "o.bin")]) == 0
    assert main(["table", str(steps / "o.param"), str(steps / "o.bin"), str(steps / "list.txt"),
                 str(steps / "t.table"), *TINYNET_OPTIONS]) == 0
    assert main(["int8", str(steps / "o.param"), str(steps / "o.bin"), str(steps / "i8.param"),
                 str(steps / "i8.bin"), str(steps / "t.table")]) == 0
    for name in ("t.table", "i8.param", "i8.bin"):
        assert (out / name).read_bytes() == (steps / name).read_bytes(), name
    make_ncnn_net(out / "i8.param", out / "i8.bin")


def test_quantize_without_optimizing_calibrates_the_model_as_given(tmp_path):
    model = ncnnq.Model.load(*tinynet.model_files())
    spec = ncnnq.InputSpec(tinynet.SHAPE, tinynet.PIXEL, tinynet.MEAN, tinynet.NORM)
    result = ncnnq.quantize_model(model, tinynet.image_files()[:8], specs=[spec], optimize_first=False, threads=1)
    assert result.optimize is None and result.optimized is model
    assert len(result.model.layers) == len(model.layers)
    assert set(result.table.activations) == {layer.name for layer in model.layers
                                             if layer.type in ("Convolution", "ConvolutionDepthWise", "InnerProduct")}


@pytest.mark.parametrize("extra, message", [
    (["optimize=2"], "optimize=2"),
    (["colour=BGR"], "colour"),
])
def test_quantize_bad_options_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    param, bin_path = (str(p) for p in tinynet.model_files())
    args = ["quantize", param, bin_path, str(tinynet.image_files()[0].parent), str(tmp_path / "i8.param"),
            str(tmp_path / "i8.bin"), *TINYNET_OPTIONS, *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_quantize_from_a_folder_without_images_is_an_error(tmp_path, capsys):
    param, bin_path = (str(p) for p in tinynet.model_files())
    (tmp_path / "empty").mkdir()
    assert main(["quantize", param, bin_path, str(tmp_path / "empty"), str(tmp_path / "i8.param"),
                 str(tmp_path / "i8.bin"), *TINYNET_OPTIONS]) == 2
    assert "holds no image files" in capsys.readouterr().err
    assert not (tmp_path / "i8.param").exists()


@pytest.mark.parametrize("method", ["kl", "aciq"])
def test_api_cli_and_quantize_model_write_identical_files(tmp_path, method):
    """One rounding of the scales for every path: the step-by-step API, ``quantize_model`` and the
    command line quantize with the values the table file stores, so all three write the same bytes."""
    param, bin_path = tinynet.model_files()
    images = tinynet.image_files()[:16]
    spec = ncnnq.InputSpec(tinynet.SHAPE, tinynet.PIXEL, tinynet.MEAN, tinynet.NORM)
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
    options = [*TINYNET_OPTIONS, f"method={method}"]
    assert main(["quantize", str(param), str(bin_path), str(cli / "images"), str(cli / "i8.param"),
                 str(cli / "i8.bin"), *options]) == 0

    for name in ("i8.param", "i8.bin"):
        assert (api / name).read_bytes() == (cli / name).read_bytes(), f"API and CLI differ in {name}"
        assert (one_call / name).read_bytes() == (cli / name).read_bytes(), f"quantize_model and CLI differ in {name}"
