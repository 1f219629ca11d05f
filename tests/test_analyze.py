"""``ncnnq analyze``: the per-layer figures find the layer that breaks int8, come out as JSON of a
fixed schema and as a PNG, and the command line reads ncnn2table's arguments."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

import ncnnq
from fragile_model import LAYERS, fragile_inputs, fragile_model
from ncnnq.analysis_plot import render_png
from ncnnq.analyze import SCHEMA, analysis_json, analysis_samples, analyze, run_costs
from ncnnq.cli import main
from ncnnq.errors import InputError
from ncnnq.evaluate import compare
from ncnnq.table import Table
from ncnnq.validation import Config, Validation


@pytest.fixture(scope="module")
def fragile_analysis():
    return analyze(fragile_model(), fragile_inputs(), "kl", validation=0.5, threads=2)


def test_the_fragile_layer_is_ranked_worst(fragile_analysis):
    a = fragile_analysis
    assert [r.name for r in a.layers] == LAYERS
    worst = a.worst(1)[0]
    assert worst.name == "conv2"
    others = [r for r in a.layers if r.name != "conv2"]
    assert worst.isolated.sqnr_db < 10 < min(r.isolated.sqnr_db for r in others) - 20
    # Only keeping conv2 float helps, and it recovers what the others allow.
    gains = {r.name: a.float_gain(r) for r in a.layers}
    assert max(gains, key=gains.__getitem__) == "conv2" and gains["conv2"] > 20
    assert all(abs(g) < 1 for name, g in gains.items() if name != "conv2")
    # The cumulative curve drops at conv2 and stays down.
    cumulative = [r.cumulative.sqnr_db for r in a.layers]
    assert cumulative[0] > 30 and max(cumulative[1:]) < 10
    assert a.all_int8.sqnr_db == pytest.approx(cumulative[-1])
    # conv2's input is where the outlier channel is clipped (kl) and its scales are the table's.
    conv2 = a.layers[1]
    assert conv2.clipped > 0.01 and max(r.clipped for r in others) < 0.02
    assert conv2.threshold == pytest.approx(127 / conv2.activation_scale)
    assert sum(r.mac_share for r in a.layers) == pytest.approx(1.0)
    assert a.analysed_samples <= a.validation_samples == 20 and a.calibration_samples == 20


def test_figures_are_those_of_the_written_files(fragile_analysis, tmp_path):
    """The isolated figure of conv3 is what the int8 file with only conv3's lines runs to."""
    model = fragile_model()
    inputs = fragile_inputs()
    _, held = inputs[0::2], inputs[1::2]
    table = ncnnq.calibrate(model, inputs[0::2], "kl")
    table = Table.parse(table.text())
    lines = [line if line.startswith("conv3") else "#" + line for line in table.text().splitlines()]
    (tmp_path / "t.table").write_text("\n".join(lines) + "\n")
    model.save(tmp_path / "f.param", tmp_path / "f.bin")
    args = [str(tmp_path / n) for n in ("f.param", "f.bin", "q.param", "q.bin", "t.table")]
    assert main(["int8", *args]) == 0
    int8 = ncnnq.Net(tmp_path / "q.param", tmp_path / "q.bin")
    fp32 = ncnnq.Net(model)
    n = fragile_analysis.analysed_samples
    chosen = [held[int(k * len(held) / n)] for k in range(n)]
    want = compare([fp32.run({"data": x}, ["fc"]) for x in chosen], [int8.run({"data": x}, ["fc"]) for x in chosen],
                   ["fc"])
    assert fragile_analysis.layers[2].isolated.sqnr_db == want.sqnr_worst
    assert fragile_analysis.layers[2].isolated.cosine == want.cosine_mean


def test_runs_fed_at_cached_blobs_equal_whole_runs():
    model = fragile_model()
    inputs = fragile_inputs(6)
    table = Table.parse(ncnnq.calibrate(model, inputs, "kl").text())
    check = Validation(model, [{"data": x} for x in inputs], threads=2)
    base = Config(table.weights, table.activations, frozenset(LAYERS))
    configs = [base, base.with_int8(["conv4"]), base.with_int8(["conv3", "fc"]), base.with_int8([])]
    for config, quality in zip(configs, check.measure(configs)):
        net = check.net(config)
        whole = compare(check.reference, [net.run({"data": x}, ["fc"]) for x in inputs], ["fc"])
        assert quality == whole
    assert check.start(configs[1]) == 4 and check.start(configs[3]) == len(model.layers)


def test_json_schema(fragile_analysis):
    doc = json.loads(analysis_json(fragile_analysis))
    assert doc["schema"] == SCHEMA and doc["outputs"] == ["fc"] and doc["method"] == "kl"
    assert set(doc["samples"]) == {"calibration", "validation", "analysed"}
    figures = {"sqnr_db", "cosine", "cosine_min", "top1"}
    assert set(doc["all_int8"]) == figures
    row = doc["layers"][1]
    assert set(row) == {
        "name", "type", "macs", "mac_share", "activation_scale", "threshold", "clipped", "weight_scale_min",
        "weight_scale_max", "weight_sqnr_db", "six_bit", "weight_sqnr_db_8bit", "isolated", "cumulative",
        "float_kept", "float_gain_db",
    }
    assert row["name"] == "conv2" and row["type"] == "Convolution" and isinstance(row["macs"], int)
    assert all(set(row[k]) == figures for k in ("isolated", "cumulative", "float_kept"))
    assert doc["layers"][0]["six_bit"] is True and doc["layers"][0]["weight_sqnr_db_8bit"] > row["weight_sqnr_db"] - 30
    assert row["six_bit"] is False and row["weight_sqnr_db_8bit"] is None
    assert row["float_gain_db"] == pytest.approx(fragile_analysis.float_gain(fragile_analysis.layers[1]))


def test_identical_outputs_are_null_in_json_and_exact_in_the_plot():
    a = analyze(fragile_model(), fragile_inputs(8), "kl", validation=0.5, threads=1, samples=2)
    forced = a.layers[0].isolated.__class__(math.inf, 1.0, 1.0, 1.0)
    import dataclasses

    b = dataclasses.replace(a, layers=(dataclasses.replace(a.layers[0], isolated=forced), *a.layers[1:]))
    doc = json.loads(analysis_json(b))
    assert doc["layers"][0]["isolated"]["sqnr_db"] is None
    Image.open(io.BytesIO(render_png(b))).verify()


def test_the_plot_is_a_png_with_a_bar_per_layer_and_the_worst_in_red(fragile_analysis):
    png = render_png(fragile_analysis, "fragile", target_db=30)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = img.size
    assert w >= 760 and h >= 400
    pixels = np.asarray(img)
    red = (pixels[..., 0] > 190) & (pixels[..., 1] < 100) & (pixels[..., 2] < 90)
    blue = (pixels[..., 0] < 130) & (pixels[..., 1] > 140) & (pixels[..., 2] > 190)
    assert red.sum() > 100 and blue.sum() > 1000
    # The worst bar (conv2, second of five) is red and left of the others' blue bars' middle.
    columns = np.nonzero(red.any(axis=0))[0]
    assert columns.min() < w / 2


def test_sample_budget():
    # 250 images, 200 calibrated: 5 tables = 1500 runs, of which 80 % are planned: 240 for
    # calibration, the rest per sample.
    costs = [1.0] * 100
    assert analysis_samples(250, 200, 50, costs) == (0.8 * 5 * 1.2 * 250 - 1.2 * 200) // 102 == 9
    assert analysis_samples(250, 200, 50, costs, budget=5.0) == (5 * 1.2 * 250 - 1.2 * 200) // 102 == 12
    assert analysis_samples(250, 200, 5, costs) == 5
    assert analysis_samples(10, 8, 2, [1.0] * 500) == 2
    macs = {"a": 10, "b": 30, "c": 60}
    costs = run_costs(["a", "b", "c"], macs)
    assert costs == [1.0, 1.0, 0.9, 0.6, 1.0, 1.0, 1.0, 0.9, 1.0, 1.0]


def test_errors():
    model = fragile_model()
    with pytest.raises(InputError, match="none for validation"):
        analyze(model, fragile_inputs(4), validation=0.0)
    with pytest.raises(InputError, match="covers none"):
        analyze(model, fragile_inputs(4), table=Table(), validation=0.5)
    with pytest.raises(InputError, match="samples=0"):
        analyze(model, fragile_inputs(4), validation=0.5, samples=0)


def test_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    model = fragile_model()
    model.save(tmp_path / "f.param", tmp_path / "f.bin")
    folder = tmp_path / "npy"
    folder.mkdir()
    for k, x in enumerate(fragile_inputs(12)):
        np.save(folder / f"{k:02}.npy", x)
    args = [str(tmp_path / "f.param"), str(tmp_path / "f.bin"), str(folder)]
    common = ["shape=[16,16,3]", "type=1", "thread=1"]
    chosen = ["val=0.5", "samples=3"]
    out_json, out_png = tmp_path / "a.json", tmp_path / "a.png"
    assert main(["analyze", *args, *common, *chosen, f"json={out_json}", f"plot={out_png}"]) == 0
    text = capsys.readouterr().out
    assert "conv2" in text and "all layers int8" in text and "a.json" in text
    doc = json.loads(out_json.read_text())
    assert doc["samples"]["analysed"] == 3 and len(doc["layers"]) == 5
    with Image.open(out_png) as png:
        assert png.size[0] >= 760
    # An existing table instead of calibrating.
    table = tmp_path / "t.table"
    Table.parse(ncnnq.calibrate(model, fragile_inputs(12)[0::2], "kl").text()).save(table)
    assert main(["analyze", *args, str(table), *common, *chosen]) == 0
    assert "method table" in capsys.readouterr().out
    # Bad options exit 2 naming them; nothing is written.
    for bad, message in [("val=1.5", "val=1.5"), ("samples=0", "samples=0"), ("fp32=2", "fp32=2"),
                         ("json=/nowhere/a.json", "/nowhere"), ("val=0.5 val=0.5", "val given twice")]:
        assert main(["analyze", *args, *common, *bad.split()]) == 2
        assert message in capsys.readouterr().err
