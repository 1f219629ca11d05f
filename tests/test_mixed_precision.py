"""Automatic mixed precision (``target=``): the fragile layer, and only it, is kept float; the
table comments out exactly its lines and ncnnq int8 of that table is the result; targets, metrics
and options are checked before any work; ``verify=1`` runs the files in real ncnn."""

from __future__ import annotations

import math
from io import StringIO

import numpy as np
import pytest
from rich.console import Console

import ncnnq
from fragile_model import LAYERS, fragile_inputs, fragile_model
from ncnnq.calibrate import calibrate, calibrate_many
from ncnnq.cli import main, render
from ncnnq.cli.ncnn_args import parse_quantize_args
from ncnnq.errors import InputError
from ncnnq.evaluate import compare, flip_probability
from ncnnq.mixed_precision import TARGET_METHOD, VARIANT_METHODS, variants
from ncnnq.pipeline import quantize_model
from ncnnq.recipes import MAX_VALIDATION
from ncnnq.table import Table
from ncnnq.verify import agree


@pytest.fixture(scope="module")
def fragile_result():
    return quantize_model(fragile_model(), fragile_inputs(), "kl", target="sqnr:30", optimize_first=False,
                          threads=2, validation=0.5)


def test_target_keeps_exactly_the_fragile_layer_float(fragile_result):
    r = fragile_result
    assert r.mixed is not None
    search = r.mixed.search
    assert search.float_layers == ("conv2",) and search.met and search.value >= 30 > search.all_int8_value
    assert [name for name, _ in r.quantize.kept_float] == ["conv2"]
    assert sorted(name for name, _ in r.quantize.quantized) == sorted(n for n in LAYERS if n != "conv2")
    macs = {"conv1": 16 * 16 * 216, "conv2": 16 * 16 * 64, "conv3": 16 * 16 * 576, "conv4": 16 * 16 * 64, "fc": 80}
    assert search.int8_mac_share == pytest.approx(1 - macs["conv2"] / sum(macs.values()))
    # Every configuration judged is on record: all int8 fails, conv2 float meets the target, and
    # pruning tried conv2 int8 again.
    assert search.steps[0].float_layers == () and not search.steps[0].met
    assert any(s.float_layers == ("conv2",) and s.met for s in search.steps)
    assert search.steps[-1].action.startswith("int8 again conv2") and not search.steps[-1].met
    assert {d.name: d.precision for d in search.decisions}["conv2"] == "float"


def test_table_comments_out_the_float_layers_and_int8_of_it_is_the_result(fragile_result, tmp_path):
    r = fragile_result
    lines = r.table_text.splitlines()
    commented = [line for line in lines if line.startswith("#")]
    assert sorted(line.split()[0] for line in commented) == ["#conv2", "#conv2_param_0"]
    assert len(lines) == 2 * len(LAYERS)
    model = fragile_model()
    model.save(tmp_path / "f.param", tmp_path / "f.bin")
    (tmp_path / "t.table").write_text(r.table_text)
    args = [str(tmp_path / n) for n in ("f.param", "f.bin", "q.param", "q.bin", "t.table")]
    assert main(["int8", *args]) == 0
    assert (tmp_path / "q.param").read_text() == r.model.param_text()
    # ... and it reaches on the validation samples what the search measured.
    check = r.mixed.validation
    net = ncnnq.Net(tmp_path / "q.param", tmp_path / "q.bin")
    got = compare(check.reference, [net.run(s, ["fc"]) for s in check.samples], ["fc"])
    assert got.sqnr_worst_lower == pytest.approx(r.mixed.search.value, abs=1e-9)
    assert got.sqnr_worst == pytest.approx(r.mixed.search.quality.sqnr_worst, abs=1e-9)


def test_a_task_metric_decides(fragile_result):
    def argmax_distance(fp32, int8):
        return -float(np.mean([abs(float(a["fc"].max()) - float(b["fc"].max())) for a, b in zip(fp32, int8)]))

    r = quantize_model(fragile_model(), fragile_inputs(), "kl", target=-1e-3, metric=argmax_distance,
                       optimize_first=False, threads=2, validation=0.5)
    assert r.mixed is not None and r.mixed.search.met and r.mixed.search.value >= -1e-3
    assert r.mixed.search.float_layers == ("conv2",)
    assert r.mixed.search.target == "metric ≥ -0.001"


def test_a_met_target_changes_nothing():
    r = quantize_model(fragile_model(), fragile_inputs(), "kl", target="sqnr:1", optimize_first=False, threads=1)
    assert r.mixed is not None and r.mixed.search.float_layers == () and len(r.mixed.search.steps) == 1
    plain = quantize_model(fragile_model(), fragile_inputs(), "kl", optimize_first=False)
    assert r.mixed.search.met and plain.mixed is None


def _judged_again(r):
    """The written int8 model run by ncnnq on the validation samples: the figure the search gave it."""
    check = r.mixed.validation
    net = ncnnq.Net(r.model)
    return compare(check.reference, [net.run(s, ["fc"]) for s in check.samples], ["fc"])


def test_target_starts_from_the_recipe(fragile_result):
    # cle moves conv1's outlier channel into conv2's weights: from kl+cle, every layer stays int8,
    # where kl alone needs conv2 float.
    r = quantize_model(fragile_model(), fragile_inputs(), "kl+cle", target="sqnr:30", optimize_first=False,
                       threads=2, validation=0.5)
    assert r.mixed is not None and r.calibration is not None and r.calibration.equalization is not None
    search = r.mixed.search
    assert search.float_layers == () and search.met and search.int8_mac_share == 1.0
    assert search.all_int8_value > fragile_result.mixed.search.all_int8_value + 10
    assert search.steps[0].action == "all int8 (kl+cle)"
    assert sorted(name for name, _ in r.quantize.quantized) == sorted(LAYERS)
    assert _judged_again(r).sqnr_worst_lower == pytest.approx(search.value, abs=1e-9)


def test_a_recipe_base_is_made_again_around_the_float_layers():
    # bias correction does not fix conv2; the layers after it are corrected again with it float,
    # and the file written is the configuration judged.
    r = quantize_model(fragile_model(), fragile_inputs(), "kl+bc", target="sqnr:30", optimize_first=False,
                       threads=2, validation=0.5)
    assert r.mixed is not None and r.calibration is not None
    search = r.mixed.search
    assert search.float_layers == ("conv2",) and search.met
    assert "conv2" not in search.config.biases and set(search.config.biases) <= set(LAYERS) - {"conv2"}
    assert not np.array_equal(search.config.biases["conv3"], r.calibration.overrides.biases["conv3"])
    assert [name for name, _ in r.quantize.kept_float] == ["conv2"]
    assert _judged_again(r).sqnr_worst_lower == pytest.approx(search.value, abs=1e-9)


def test_a_target_defaults_to_the_strongest_recipe_and_keeps_validation_bounded():
    r = quantize_model(fragile_model(), fragile_inputs(230), target="sqnr:30", optimize_first=False, threads=2,
                       validation=0.5)
    assert r.mixed is not None and r.calibration is not None and r.calibration.method == TARGET_METHOD
    assert r.mixed.search.steps[0].action == f"all int8 ({TARGET_METHOD})"
    assert len(r.mixed.validation.samples) == MAX_VALIDATION < 115
    files = ["a.param", "a.bin", "l.txt", "o.param", "o.bin"]
    assert parse_quantize_args([*files, "target=sqnr:30"]).options.method == TARGET_METHOD
    assert parse_quantize_args([*files, "target=sqnr:30", "method=kl"]).options.method == "kl"


def test_calibrate_many_equals_one_method_at_a_time():
    model, inputs = fragile_model(), fragile_inputs(12)
    many = calibrate_many(model, inputs, list(VARIANT_METHODS), threads=2)
    for method in VARIANT_METHODS:
        one = calibrate(model, inputs, method, threads=2)
        assert many[method].text() == one.text(), method


def test_variants_are_distinct_and_include_absmax():
    model, inputs = fragile_model(), fragile_inputs(12)
    tables = calibrate_many(model, inputs, ["kl", "aciq", "mse"], threads=1)
    found = variants(tables, "conv2")
    keys = {(v.activation, v.weights.tobytes()) for v in found}
    assert len(keys) == len(found) and found[0].name == "kl"
    absmax = next(v for v in found if v.name == "absmax")
    report = {r.layer: r for r in tables["kl"].report}["conv2"]
    assert absmax.activation == pytest.approx(127 / report.absmax, rel=1e-6)


def test_targets_and_options_are_checked_first(tmp_path, capsys):
    model = fragile_model()
    with pytest.raises(InputError, match="expected sqnr"):
        quantize_model(model, fragile_inputs(), target="psnr:3")
    with pytest.raises(InputError, match="metric"):
        quantize_model(model, fragile_inputs(), target=30.0)
    with pytest.raises(InputError, match="number the metric must reach"):
        quantize_model(model, fragile_inputs(), target="sqnr:30", metric=lambda a, b: 0.0)
    with pytest.raises(InputError, match="none to validate"):
        quantize_model(model, fragile_inputs(), target="sqnr:30", validation=0.0)
    model.save(tmp_path / "f.param", tmp_path / "f.bin")
    folder = tmp_path / "npy"
    folder.mkdir()
    for k, x in enumerate(fragile_inputs(6)):
        np.save(folder / f"{k}.npy", x)
    base = ["quantize", str(tmp_path / "f.param"), str(tmp_path / "f.bin"), str(folder), str(tmp_path / "q.param"),
            str(tmp_path / "q.bin"), "shape=[16,16,3]", "type=1"]
    for bad, message in [("target=sqnr", "expected sqnr"), ("target=cos:2", "between 0 and 1"),
                         ("verify=1", "needs target="), ("val=0.3", "needs target="),
                         ("target=top1:0.9 val=1", "val=1"), ("target=top1:0.9 verify=2", "verify=2"),
                         ("target=top1:0.9 target=top1:0.8", "given twice")]:
        assert main([*base, *bad.split()]) == 2, bad
        assert message in capsys.readouterr().err, bad
        assert not (tmp_path / "q.param").exists()


def test_agreement_within_noise():
    assert agree("sqnr", 30.0, 30.9, 10) and not agree("sqnr", 30.0, 25.0, 10)
    assert agree("sqnr", math.inf, math.inf, 10)
    assert agree("top1", 0.9, 0.8, 10) and not agree("top1", 0.9, 0.7, 10)
    assert agree("cos", 0.999, 0.9991, 10) and not agree("cos", 0.999, 0.99, 10)


def test_verify_runs_the_files_in_real_ncnn(tmp_path, capsys):
    pytest.importorskip("ncnn", reason="real ncnn (pip install ncnn) is the referee for verify=1")
    model = fragile_model()
    model.save(tmp_path / "f.param", tmp_path / "f.bin")
    folder = tmp_path / "npy"
    folder.mkdir()
    for k, x in enumerate(fragile_inputs(20)):
        np.save(folder / f"{k:02}.npy", x)
    args = ["quantize", str(tmp_path / "f.param"), str(tmp_path / "f.bin"), str(folder), str(tmp_path / "q.param"),
            str(tmp_path / "q.bin"), "shape=[16,16,3]", "type=1", "thread=1", "optimize=0", "method=kl",
            "target=sqnr:30", "val=0.5", "verify=1", f"table={tmp_path / 'q.table'}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "conv2" in out and "float" in out and "target sqnr:30 met" in out
    assert "verify in real ncnn on 10 validation samples" in out and "agree" in out and "disagree" not in out
    assert (tmp_path / "q.table").read_text().count("#conv2") == 2


GROUPED = """7767517
5 5
Input                data 0 1 data 0=8 1=8 2=16
ConvolutionDepthWise gdw 1 1 data g 0=16 1=3 4=1 5=1 6=1152 7=2
Pooling              pool 1 1 g pool 0=1 4=1
InnerProduct         fc 1 1 pool fc 0=10 1=1 2=160
Noop                 out 1 1 fc out
"""
"""A grouped int8 ConvolutionDepthWise with 8 outputs per group and float output: real ncnn
1.0.20261020 returns uninitialized memory there (README, int8 inference)."""


def test_verify_names_the_first_layer_where_the_engines_diverge(tmp_path):
    pytest.importorskip("ncnn", reason="real ncnn (pip install ncnn) is the referee for verify=1")
    from ncnnq.verify import verify

    rng = np.random.default_rng(0)
    for text, agrees in [(GROUPED, False), (GROUPED.replace("7=2", "7=16").replace("6=1152", "6=144"), True)]:
        model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(5)
        inputs = [{"data": rng.standard_normal((16, 8, 8)).astype(np.float32)} for _ in range(4)]
        table = Table.parse(calibrate(model, [x["data"] for x in inputs], "kl").text())
        int8, _ = ncnnq.quantize(model, table)
        ncnnq.save_int8(int8, tmp_path / "q.param", tmp_path / "q.bin")
        fp32 = ncnnq.Net(model)
        reference = [fp32.run(x, ["out"]) for x in inputs]
        v = verify(tmp_path / "q.param", tmp_path / "q.bin", inputs, reference, ["out"], "sqnr")
        assert v.agree == agrees
        if agrees:
            assert v.divergence is None and v.ncnn_value == pytest.approx(v.ncnnq_value, abs=0.5)
        else:
            assert v.divergence is not None and (v.divergence.layer, v.divergence.blob) == ("gdw", "g")
            assert v.ncnnq_value > 20 and not v.ncnn_value > 20


def test_the_float_prefix_search_finds_the_smallest_prefix():
    from ncnnq.mixed_precision import _smallest_prefix, noise_order, predicted_prefix

    tried: list[int] = []
    for need in (1, 3, 7, 8, 20):

        def trial(k: int, need: int = need) -> tuple[bool, float, object]:
            tried.append(k)
            return k >= need, float(k), None

        for start in (1, 5, 30):
            tried.clear()
            k, value, _ = _smallest_prefix(trial, start, 20, (0.0, None))  # type: ignore[arg-type]
            assert k == need and value == need
            assert len(tried) <= 2 * 5 + 2
    k, value, _ = _smallest_prefix(lambda k: (False, -1.0, None), 1, 6, (0.0, None))  # type: ignore[arg-type,return-value]
    assert k == 6 and value == -1.0
    # Independent noise: a alone 20 dB (noise 1 %), b 23 dB (0.5 %), c 30 dB (0.1 %).
    isolated = {"a": 20.0, "b": 10 * math.log10(200), "c": 30.0}
    assert predicted_prefix(["a", "b", "c"], isolated, 15.0) == 1  # 1.6 % allowed: nothing float, start at 1
    assert predicted_prefix(["a", "b", "c"], isolated, 22.0) == 1  # 0.63 %: b and c stay int8
    assert predicted_prefix(["a", "b", "c"], isolated, 27.0) == 2  # 0.2 %
    assert predicted_prefix(["a", "b", "c"], isolated, 35.0) == 3
    assert predicted_prefix(["a", "b", "c"], isolated, None) == 1
    # By noise per MAC: b (0.5 %) and c (0.1 %) on one MAC each before a (1 % on 100); exact layers last.
    macs = {"a": 100, "b": 1, "c": 1, "d": 1}
    assert noise_order(["a", "b", "c", "d"], {**isolated, "d": math.inf}, macs) == ["b", "c", "a", "d"]


def test_the_float_order_buys_noise_on_the_outputs_below_the_target():
    """An SQNR target is the worst output's: with 0.5 % noise allowed, output 0 receives 0.55 %
    (from "small" and "cheap") and output 1 exactly 0.5 % (from "big"), so "small" (the most
    excess removed per MAC) goes float first and alone meets it, though "big" is the noisiest
    per MAC (first by :func:`noise_order`); then, with the allowance halved, "big" before
    "cheap"."""
    from ncnnq.mixed_precision import isolated_noise, noise_order, output_noise_order, output_noise_prefix

    noise = {"big": (0.0, 0.005), "small": (0.004, 0.0), "cheap": (0.0015, 0.0)}
    macs = {"big": 1, "small": 1, "cheap": 2}
    order = output_noise_order(list(noise), noise, macs, 0.005)
    assert order == ["small", "big", "cheap"]
    assert output_noise_prefix(order, noise, 0.005) == 1
    assert output_noise_prefix(order, noise, 0.001) == 3
    worst = {n: -10 * math.log10(max(v)) for n, v in noise.items()}
    assert noise_order(list(noise), worst, macs)[0] == "big"
    # Layers exact in int8 (no noise on any output) come last, in their order.
    exact = {**noise, "exact": (0.0, 0.0)}
    assert output_noise_order(["exact", *noise], exact, {**macs, "exact": 1}, 0.005)[-1] == "exact"
    assert isolated_noise(math.inf) == 0.0


def test_a_weak_layer_s_threshold_is_refined_on_the_model_output():
    """conv3's only candidate clips its input at half its absmax: the refinement tries it 1.4×
    looser and tighter, and the model's output, judged with only conv3 int8, takes the looser."""
    from ncnnq.mixed_precision import Variant, choose_variants
    from ncnnq.progress import NoProgress
    from ncnnq.validation import Config, Validation

    model, inputs = fragile_model(), fragile_inputs(12)
    table = calibrate(model, inputs[:8], "kl", threads=1)
    report = {r.layer: r for r in table.report}["conv3"]
    tight = Variant("kl", float(127 / (report.absmax / 2)), np.asarray(table.weights["conv3_param_0"]))
    check = Validation(model, [{"data": x} for x in inputs[8:]], threads=1)
    base = Config(dict(table.weights), dict(table.activations), frozenset(LAYERS))
    chosen, isolated, first = choose_variants(check, ["conv3"], {"conv3": [tight]}, base, 200.0, NoProgress())
    assert chosen["conv3"].name == "klx0.7"
    assert chosen["conv3"].activation == pytest.approx(tight.activation * 0.7, rel=1e-6)
    as_given = Config(dict(table.weights), {**table.activations, "conv3": tight.activation}, frozenset(["conv3"]))
    assert isolated["conv3"] > check.measure([as_given])[0].sqnr_worst + 1.0
    assert first["conv3"] == pytest.approx(check.measure([as_given])[0].sqnr_worst)
    # A layer far above the target (here −1000 dB) is neither given alternatives nor refined.
    chosen, _, _ = choose_variants(check, ["conv3"], {"conv3": [tight]}, base, -1e3, NoProgress())
    assert chosen["conv3"] is tight


def test_a_starting_configuration_s_overrides_stay_with_their_scales():
    """search(base=...) starts from int8 biases of its own (as learned rounding or bias correction
    make them): the figures include them, the result keeps them on layers that keep their scales,
    and a layer given other scales loses them (they were made for the old ones)."""
    from ncnnq.mixed_precision import Variant, _with_variant, search
    from ncnnq.validation import Config, Validation, layer_macs

    model, inputs = fragile_model(), fragile_inputs(24)
    tables = calibrate_many(model, inputs[:12], list(VARIANT_METHODS), threads=1)
    check = Validation(model, [{"data": x} for x in inputs[12:]], threads=1)
    kl = tables["kl"]
    bias = np.asarray(model.layer("conv4").weights["bias"], dtype=np.float32) + np.float32(0.01)
    base = Config(dict(kl.weights), dict(kl.activations), frozenset(LAYERS), biases={"conv4": bias})
    plain = Config(dict(kl.weights), dict(kl.activations), frozenset(LAYERS))
    macs = layer_macs(model, check.samples[0], LAYERS)
    r = search(check, check, tables, "kl", macs, ncnnq.evaluate.Target.parse("sqnr:30"), base=base)
    assert r.steps[0].value == pytest.approx(check.measure([base])[0].sqnr_worst_lower)
    assert r.steps[0].value != pytest.approx(check.measure([plain])[0].sqnr_worst_lower)
    assert r.float_layers == ("conv2",) and r.met and "conv2" not in r.config.int8
    kept = {d.name: d.variant == "kl" for d in r.decisions}["conv4"]
    assert ("conv4" in r.config.biases) == kept
    assert not kept or np.array_equal(r.config.biases["conv4"], bias)
    met = search(check, check, tables, "kl", macs, ncnnq.evaluate.Target.parse("sqnr:1"), base=base)
    assert met.float_layers == () and np.array_equal(met.config.biases["conv4"], bias)
    moved = _with_variant(base, "conv4", Variant("aciq", kl.activations["conv4"] * 0.5, kl.weights["conv4_param_0"]))
    assert "conv4" not in moved.biases and moved.activations["conv4"] == kl.activations["conv4"] * 0.5
    same = Variant("kl", kl.activations["conv4"], kl.weights["conv4_param_0"])
    assert _with_variant(base, "conv4", same) is base


def test_scale_choices_that_lose_together_are_reverted_with_their_overrides(monkeypatch):
    """Each layer's scales are chosen alone; together they can lose. Here conv3's choice clips its
    input to a twentieth (as if it had won alone by noise) and conv4's is near its own: after the
    float search, the starting scales are judged again (for all choices, and for those that lose
    in company) and a layer made float on its chosen scales is tried int8 at its own, so conv3
    ends int8 at the starting scales, and every layer at the starting scales has the starting
    configuration's bias again (made for those scales)."""
    from ncnnq import mixed_precision
    from ncnnq.mixed_precision import Variant, search
    from ncnnq.validation import Config, Validation, layer_macs

    model, inputs = fragile_model(), fragile_inputs(24)
    tables = calibrate_many(model, inputs[:12], list(VARIANT_METHODS), threads=1)
    check = Validation(model, [{"data": x} for x in inputs[12:]], threads=1)
    kl = tables["kl"]
    biases = {n: np.asarray(model.layer(n).weights["bias"], dtype=np.float32) + np.float32(1e-3)
              for n in ("conv3", "conv4")}
    base = Config(dict(kl.weights), dict(kl.activations), frozenset(LAYERS), biases=biases)
    choose = mixed_precision.choose_variants

    def alone_but_not_together(*args, **kwargs):
        chosen, best, first = choose(*args, **kwargs)
        chosen["conv3"] = Variant("clipping", kl.activations["conv3"] * 20, kl.weights["conv3_param_0"])
        chosen["conv4"] = Variant("near", kl.activations["conv4"] * 1.02, kl.weights["conv4_param_0"])
        return chosen, {**best, "conv3": first["conv3"] + 1}, first

    monkeypatch.setattr(mixed_precision, "choose_variants", alone_but_not_together)
    macs = layer_macs(model, check.samples[0], LAYERS)
    r = search(check, check, tables, "kl", macs, ncnnq.evaluate.Target.parse("sqnr:30"), base=base)
    actions = [s.action for s in r.steps]
    assert "all int8, scales chosen per layer" in actions
    assert any("starting scales" in a for a in actions)
    assert r.met and r.float_layers == ("conv2",) and "conv3" in r.config.int8
    variant = {d.name: d.variant for d in r.decisions}
    assert variant["conv3"] == "kl" and r.config.activations["conv3"] == kl.activations["conv3"]
    for name in ("conv3", "conv4"):
        own = variant[name] == "kl"
        assert own == (r.config.activations[name] == kl.activations[name])
        assert (name in r.config.biases) == own
        assert not own or np.array_equal(r.config.biases[name], biases[name])
    assert _judged_again_config(check, r.config) == pytest.approx(r.value, abs=1e-9)


def _judged_again_config(check, config):
    return check.measure([config])[0].sqnr_worst_lower


def test_the_layer_by_layer_pass_decides_again_only_after_the_first_change(monkeypatch):
    """The search runs the recipe's layer-by-layer pass for every set of float layers it judges: a
    layer whose inputs are those of an earlier pass (every layer before the first one whose
    precision changed) keeps that pass's decision instead of being rounded and corrected again,
    and every pass gives what a pass from scratch gives."""
    from ncnnq import mixed_precision
    from ncnnq.mixed_precision import _recipe_finish
    from ncnnq.progress import NoProgress
    from ncnnq.recipes import calibrate_model
    from ncnnq.samples import Sample

    samples = [Sample({"data": x}) for x in fragile_inputs(16)]
    calibration = calibrate_model(fragile_model(), samples, "kl+round+bc", validation=0.0, threads=1)
    visited: list[str] = []
    refine = mixed_precision.refine_layer

    def counted(inputs, rounding, bias):
        visited.append(inputs.name)
        return refine(inputs, rounding, bias)

    monkeypatch.setattr(mixed_precision, "refine_layer", counted)
    finish = _recipe_finish(calibration, samples, {}, "image", 1, NoProgress())
    every = calibration.config().with_int8(LAYERS)
    configs = [every, every.with_int8([n for n in LAYERS if n != "fc"]),
               every.with_int8([n for n in LAYERS if n != "conv3"]), every]
    made = []
    for config in configs:
        visited.clear()
        made.append((finish(config), list(visited)))
    assert made[0][1] == LAYERS
    assert made[1][1] == []  # conv1..conv4 see what they saw with fc int8
    assert made[2][1] == ["conv4", "fc"]  # conv3 float: the layers after it receive other inputs
    assert made[3][1] == []
    for config, (done, _) in zip(configs, made):
        fresh = _recipe_finish(calibration, samples, {}, "image", 1, NoProgress())(config)
        assert set(done.biases) == set(fresh.biases) and set(done.int8_weights) == set(fresh.int8_weights)
        for name in fresh.biases:
            assert np.array_equal(done.biases[name], fresh.biases[name])
        for name in fresh.int8_weights:
            assert np.array_equal(done.int8_weights[name], fresh.int8_weights[name])
    assert not np.array_equal(made[2][0].biases["conv4"], made[0][0].biases["conv4"])


TIE = """7767517
3 3
Input        data 0 1 data 0=16
InnerProduct fc1 1 1 data h 0=16 1=1 2=256 9=1
InnerProduct fc2 1 1 h out 0=10 1=1 2=160
"""


def _clear_samples_and_one_near_tie() -> tuple[ncnnq.Model, list[np.ndarray]]:
    """A small classifier and 40 inputs: the even ones calibrate (validation=0.5), the odd ones
    are 19 samples whose arg-max kl's int8 model cannot move (flip probability < 1e-4) and one
    near a tie between two classes, which it keeps but might well not (0.1-0.2)."""
    model = ncnnq.Model.from_bytes(TIE.encode(), name="tie.param").with_random_weights(7)
    rng = np.random.default_rng(1)
    calibration = [rng.standard_normal(16).astype(np.float32) for _ in range(20)]
    int8, _ = ncnnq.quantize(model, Table.parse(calibrate(model, calibration, "kl").text()))
    fp32, q = ncnnq.Net(model), ncnnq.Net(int8)

    def outputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fp32.run({"data": x}, ["out"])["out"].ravel(), q.run({"data": x}, ["out"])["out"].ravel()

    clear: list[np.ndarray] = []
    while len(clear) < 19:
        x = rng.standard_normal(16).astype(np.float32)
        if flip_probability(*outputs(x)) < 1e-4:
            clear.append(x)
    a = clear[0]
    b = next(x for x in clear if np.argmax(outputs(x)[0]) != np.argmax(outputs(a)[0]))
    lo, hi = 0.0, 1.0  # the fp32 class boundary between a and b
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.argmax(outputs((1 - mid) * a + mid * b)[0]) == np.argmax(outputs(a)[0]) else (lo, mid)
    for t in np.linspace(lo, lo - 0.2, 401):  # back from the boundary until a flip is a 0.1-0.2 chance
        tie = ((1 - t) * a + t * b).astype(np.float32)
        r, c = outputs(tie)
        if np.argmax(r) == np.argmax(c) and 0.1 < flip_probability(r, c) < 0.2:
            break
    else:
        raise AssertionError("no near tie found")
    validation = [*clear[1:10], tie, *clear[10:]]
    return model, [x for pair in zip(calibration, [*validation, clear[0]][:20]) for x in pair]


def test_a_top1_target_is_judged_by_a_lower_bound_not_by_luck():
    """All int8 flips none of the 20 validation samples and its expected agreement reaches 99 %,
    but one near tie in 20 says little about the next images: top1:0.99 keeps layers float; a
    target the bound reaches keeps every layer int8."""
    model, inputs = _clear_samples_and_one_near_tie()
    strict = quantize_model(model, inputs, "kl", target="top1:0.99", optimize_first=False, threads=1,
                            validation=0.5)
    assert strict.mixed is not None
    check = strict.mixed.validation
    assert len(check.samples) == 20
    all_int8 = ncnnq.Net(strict.mixed.all_int8)
    q = compare(check.reference, [all_int8.run(s, ["out"]) for s in check.samples], ["out"])
    # What the expected agreement alone would have accepted:
    assert q.top1 == 1.0 and q.value("top1") >= 0.99 and 0.99 - q.top1_lower > 0.001
    search = strict.mixed.search
    assert search.steps[0].value == pytest.approx(q.top1_lower) and not search.steps[0].met
    assert search.float_layers and search.int8_mac_share < 1.0
    assert search.met and search.value == pytest.approx(min(search.quality.top1, search.quality.top1_lower))
    shown = StringIO()
    render.mixed_precision_report(Console(file=shown, width=200), search, {"result": 1e-3}, 1)
    assert (f"{search.value:.1%} (lower bound; counted {search.quality.top1:.1%}, expected "
            f"{search.quality.top1_expected:.1%})") in shown.getvalue()
    loose = quantize_model(model, inputs, "kl", target=f"top1:{q.top1_lower - 0.001}", optimize_first=False,
                           threads=1, validation=0.5)
    assert loose.mixed is not None and loose.mixed.search.float_layers == () and loose.mixed.search.met


def test_a_target_from_a_shifted_model_keeps_its_float_layers_fp32(tmp_path):
    """``shift`` lowers conv1's outputs by c and adds c·Σw to its readers' fp32 biases: stored as
    fp16, a float reader's weights no longer sum to what its bias compensates, and with conv1's
    outlier channel (c ~ 10⁴) even the all-float file is ~10 dB from fp32. A target from such a
    recipe stores the float arrays as fp32 unless told, so float layers are float again."""
    model, inputs = fragile_model(), fragile_inputs()
    r = quantize_model(model, inputs, "kl+shift", target="sqnr:60", optimize_first=False, threads=2,
                       validation=0.5)
    assert r.mixed is not None and r.fp32_storage
    assert r.mixed.search.met and r.mixed.search.value >= 60 and r.mixed.search.float_layers
    r.save(tmp_path / "q.param", tmp_path / "q.bin")
    assert (tmp_path / "q.bin").read_bytes() == r.model.bin_bytes("fp32")
    fp16 = quantize_model(model, inputs, "kl+shift", target="sqnr:60", optimize_first=False, threads=2,
                          validation=0.5, fp32_storage=False)
    assert fp16.mixed is not None and not fp16.fp32_storage
    assert not fp16.mixed.search.met and max(s.value for s in fp16.mixed.search.steps) < 30
    plain = quantize_model(model, inputs, "kl", target="sqnr:30", optimize_first=False, threads=2, validation=0.5)
    assert not plain.fp32_storage
    files = ["a.param", "a.bin", "l.txt", "o.param", "o.bin"]
    assert parse_quantize_args([*files, "target=sqnr:30"]).fp32 is None
    assert parse_quantize_args([*files, "target=sqnr:30", "fp32=0"]).fp32 is False


TWO_OUTPUTS = """7767517
9 10
Input        data 0 1 data 0=16 1=16 2=3
Split        split 1 2 data d0 d1
Convolution  conv1 1 1 d0 c1 0=8 1=3 4=1 5=1 6=216 9=1
Convolution  conv2 1 1 c1 c2 0=8 1=1 5=1 6=64 9=1
Convolution  conv3 1 1 c2 c3 0=8 1=3 4=1 5=1 6=576 9=1
Convolution  conv4 1 1 c3 c4 0=8 1=1 5=1 6=64 9=1
Pooling      pool 1 1 c4 pool 0=1 4=1
InnerProduct fc 1 1 pool fc 0=10 1=1 2=80
Convolution  conv5 1 1 d1 c5 0=8 1=3 4=1 5=1 6=216 9=1
"""


def _two_outputs() -> ncnnq.Model:
    """The fragile model's chain (conv2 breaks in int8: ``fc`` is far below fp32) beside a
    harmless convolution with an output of its own (``c5``, tens of dB above it)."""
    from fragile_model import with_outlier_channel

    return with_outlier_channel(ncnnq.Model.from_bytes(TWO_OUTPUTS.encode(), name="two.param").with_random_weights(3))


def test_a_sqnr_mean_target_is_judged_by_the_mean_over_outputs():
    """With a target between the all-int8 model's worst output and its mean over outputs (each by
    its lower bound), ``sqnr:`` keeps the fragile layer float and ``sqnr_mean:`` keeps every
    layer int8: the searches differ only by the aggregate over the outputs."""
    model, inputs = _two_outputs(), fragile_inputs()
    assert sorted(model.outputs) == ["c5", "fc"]

    def run(target: str):  # type: ignore[no-untyped-def]
        r = quantize_model(model, inputs, "kl", target=target, optimize_first=False, threads=2, validation=0.5)
        assert r.mixed is not None
        return r.mixed.search

    everything = run("sqnr_mean:-100")  # met at once: the all-int8 figures
    assert everything.float_layers == () and everything.met
    q = everything.quality
    assert q.sqnr_mean_lower == pytest.approx(np.mean([o.sqnr_db_lower for o in q.outputs]))
    assert q.sqnr_worst_lower + 6 < q.sqnr_mean_lower, "the outputs must be far apart for this test"
    between = (q.sqnr_worst_lower + q.sqnr_mean_lower) / 2
    worst = run(f"sqnr:{between:.3f}")
    assert worst.met and "conv2" in worst.float_layers
    mean = run(f"sqnr_mean:{between:.3f}")
    assert mean.met and mean.float_layers == () and mean.value == pytest.approx(q.sqnr_mean_lower)
    assert mean.target == f"sqnr_mean:{float(f'{between:.3f}'):g}"


def test_the_mean_order_counts_noise_on_every_output():
    """For a mean over outputs, a dB gained on an output above the target counts as much as one
    on the worst: "c" (halves output 1's noise on one MAC) comes before "a" and "b" (each halves
    output 0's on two), which the worst output's order takes first."""
    from ncnnq.mixed_precision import mean_noise_order, mean_noise_prefix, output_noise_order

    noise = {"a": (0.005, 0.0), "b": (0.005, 0.0), "c": (0.0, 0.001), "d": (0.0, 0.001)}
    macs = {"a": 2, "b": 2, "c": 1, "d": 1}
    order = mean_noise_order(list(noise), noise, macs)
    assert order[0] == "c" and output_noise_order(list(noise), noise, macs, 0.005)[0] in ("a", "b")
    # Summed noise: output 0 at 20 dB, output 1 at 27 dB, mean 23.5; "c" float: mean 25.0.
    assert mean_noise_prefix(order, noise, 23.0) == 1
    assert mean_noise_prefix(order, noise, 24.9) == 1
    assert mean_noise_prefix(order, noise, 25.1) == 2  # "d" too: output 1 exact
    exact = {**noise, "exact": (0.0, 0.0)}
    assert mean_noise_order(["exact", *noise], exact, {**macs, "exact": 1})[-1] == "exact"


def test_a_tuned_recipe_tunes_its_scales_again_around_the_float_layers():
    """From a recipe with ``tune``, the int8 input scales are tuned again once the float layers are
    chosen (the recipe tuned them with every layer int8), judged with the int8 weights and biases
    as they were and made again for the new scales; the best is written, and a float layer that
    meets the target at those scales goes back to int8."""
    r = quantize_model(fragile_model(), fragile_inputs(), "kl+bc+tune", target="sqnr:30", optimize_first=False,
                       threads=2, validation=0.5)
    assert r.mixed is not None and r.calibration is not None and r.calibration.tuning is not None
    search = r.mixed.search
    actions = [s.action for s in search.steps]
    assert "input scales tuned around the float layers" in actions
    assert "input scales tuned, made again" in actions
    assert search.float_layers == ("conv2",) and search.met
    # conv2 stays float at the tuned scales too: the result is the best of what was judged with it.
    assert any(s.action == "int8 again conv2, tuned scales" and not s.met for s in search.steps)
    tuned = [s for s in search.steps if s.action.startswith("input scales tuned")]
    assert all(s.float_layers == ("conv2",) for s in tuned)
    assert search.value >= max(s.value for s in tuned) - 1e-9
    assert _judged_again(r).sqnr_worst_lower == pytest.approx(search.value, abs=1e-9)
