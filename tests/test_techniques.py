"""Calibration techniques beyond a table (``ncnnq.methods``: equalization, shift, learned rounding,
bias correction) and the recipes that combine them (``method=kl+cle+shift+round+bc``, ``auto``).

Each technique is checked on a small model built to need it, against what it must do: the fp32
function unchanged where it rewrites the model, the constructed error gone or smaller in int8
(judged by the native network probe, bit for bit the written file), and the written files run
by real ncnn as ncnnq runs them."""

from __future__ import annotations

import numpy as np
import pytest

import ncnnq
from ncnnq._native import Net, NetworkProbe
from ncnnq.calibrate import calibrate
from ncnnq.cli.app import main
from ncnnq.errors import InputError
from ncnnq.evaluate import OutputQuality, Quality, compare
from ncnnq.graph import producers
from ncnnq.methods import equalization, shift, tuning
from ncnnq.methods.layerwise import Decision, LayerInputs, Overrides, layerwise
from ncnnq.methods.registry import parse_method
from ncnnq.methods.rounding import HELD_OUT, held_out, learned_weights
from ncnnq.pipeline import quantize_model
from ncnnq.progress import NoProgress
from ncnnq.recipes import TUNE_TIE_DB, Calibration, Score, _prefer, calibrate_model, refine_layer
from ncnnq.samples import samples_from
from ncnnq.table import Table

CHAIN = """7767517
9 9
Input                data 0 1 data 0=12 1=12 2=3
Convolution          conv1 1 1 data c1 0=8 1=3 4=1 5=1 6=216 9=1
ConvolutionDepthWise dw 1 1 c1 d 0=8 1=3 4=1 5=1 6=72 7=8 9=2 -23310=1,0.1
Convolution          pw 1 1 d p 0=8 1=1 5=1 6=64
PReLU                prelu 1 1 p pr 0=8
Convolution          conv3 1 1 pr c3 0=8 1=1 5=1 6=64 9=1
Pooling              gap 1 1 c3 gap 0=1 4=1
InnerProduct         fc 1 1 gap fc 0=10 1=1 2=80
Noop                 out 1 1 fc out
"""
"""conv1 → depthwise (LeakyReLU) → pointwise → PReLU → conv3: channels of every blob but the output
can be rescaled through each step."""
WIDE = 100.0


def chain_model() -> ncnnq.Model:
    """CHAIN with channel 0 of conv1's output and the channels it feeds 100 times wider, the
    readers' weights 100 times smaller: the same function, per-tensor ranges set by one channel."""
    model = ncnnq.Model.from_bytes(CHAIN.encode(), name="chain.param").with_random_weights(11)
    conv1, dw = model.layer("conv1"), model.layer("dw")
    w1 = np.array(conv1.weights["weight"]).reshape(8, -1)
    b1 = np.array(conv1.weights["bias"])
    w1[0] *= WIDE
    b1[0] *= WIDE
    conv1.set_weight("weight", w1.ravel())
    conv1.set_weight("bias", b1)
    wd = np.array(dw.weights["weight"]).reshape(8, 9)
    wd[0] /= WIDE
    dw.set_weight("weight", wd.ravel())
    model.layer("prelu").set_weight("slope", np.linspace(0.05, 0.4, 8))
    return model


def inputs(count: int, seed: int = 0, shape: tuple[int, ...] = (3, 12, 12)) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"data": rng.standard_normal(shape).astype(np.float32)} for _ in range(count)]


def outputs(model: ncnnq.Model, samples: list[dict[str, np.ndarray]], blobs: list[str]) -> list[dict[str, np.ndarray]]:
    net = Net(model)
    return [net.run(s, blobs) for s in samples]


def channel_spread(values: list[dict[str, np.ndarray]], blob: str) -> float:
    """The widest channel's range over the median channel's, of ``blob`` over the samples."""
    ranges = np.max([np.abs(v[blob]).reshape(v[blob].shape[0], -1).max(axis=1) for v in values], axis=0)
    return float(ranges.max() / np.median(ranges))


def test_equalization_keeps_the_function_and_evens_out_channel_ranges():
    model = chain_model()
    samples = inputs(8)
    equalized, report = equalization.equalize(model, samples, threads=1)
    held = inputs(6, seed=1)
    before, after = outputs(model, held, ["c1", "d", "out"]), outputs(equalized, held, ["c1", "d", "out"])
    quality = compare(before, after, ["out"])
    assert quality.cosine_min >= 0.99999
    assert {"conv1", "dw", "pw"} <= set(report.scaled)
    assert channel_spread(after, "c1") < channel_spread(before, "c1") / 5


def test_equalization_leaves_channels_read_by_what_cannot_absorb_a_scale():
    text = CHAIN.replace("9 9", "10 10").replace(
        "Noop                 out 1 1 fc out",
        "Noop                 out 1 1 fc out\nNoop                 tap 1 1 c3 tap",
    )
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(3)
    equalized, report = equalization.equalize(model, inputs(4), threads=1)
    assert "conv3" not in report.scaled and "conv3" in report.skipped
    held = inputs(3, seed=2)
    for a, b in zip(outputs(model, held, ["tap"]), outputs(equalized, held, ["tap"])):
        np.testing.assert_allclose(a["tap"], b["tap"], rtol=1e-4, atol=1e-5)


def test_equalization_makes_int8_better_on_the_wide_channel_model():
    model = chain_model()
    samples = inputs(24)
    plain = calibrate_model(model, list(samples_from(model, samples)), "kl", validation=0.25)
    equalized = calibrate_model(model, list(samples_from(model, samples)), "kl+cle", validation=0.25)
    assert plain.validation is not None and equalized.validation is not None
    assert equalized.validation.quality.sqnr_mean > plain.validation.quality.sqnr_mean + 6


SHIFTED = """7767517
5 5
Input                data 0 1 data 0=10 1=10 2=4
Convolution          conv1 1 1 data c1 0=8 1=3 4=1 5=1 6=288 9=1
Convolution          conv2 1 1 c1 c2 0=8 1=1 5=1 6=64
Pooling              gap 1 1 c2 gap 0=1 4=1
Noop                 out 1 1 c2 out
"""
PADDED_READER = ("conv2 1 1 c1 c2 0=8 1=1 5=1 6=64", "conv2 1 1 c1 c2 0=8 1=3 3=2 4=1 5=1 6=576")
"""conv2 as a padded 3x3 convolution (stride 2: 8-bit weights, not ncnn's 6-bit 3x3 stride 1)."""


LEAKY_PRODUCER = ("c1 0=8 1=3 4=1 5=1 6=288 9=1", "c1 0=8 1=3 4=1 5=1 6=288 9=2 -23310=1,0.1")
"""conv1 with a fused LeakyReLU (slope 0.1): its outputs reach below zero, a tenth of the other side."""


@pytest.mark.parametrize(("padded", "leaky"), [(False, False), (True, False), (False, True), (True, True)])
def test_shift_keeps_the_function_doubles_the_readers_scale_and_halves_its_error(padded, leaky):
    text = SHIFTED.replace(*PADDED_READER) if padded else SHIFTED
    text = text.replace(*LEAKY_PRODUCER) if leaky else text
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(2)
    samples = inputs(16, shape=(4, 10, 10))
    table = calibrate(model, [s["data"] for s in samples], "kl")
    lows = shift.lower_bounds(model, samples, threads=1)
    assert (lows["conv1"] < 0) if leaky else not lows
    if leaky:  # without its lower bound a LeakyReLU blob is not shifted
        assert not shift.shift(model, table)[2].groups
    moved, new_table, report = shift.shift(model, table, lows)
    assert [g.readers for g in report.groups] == [["conv2"]]
    kinds = [layer.type for layer in moved.layers]
    assert kinds.count("Padding") == (1 if padded else 0) and kinds.count("BinaryOp") == (1 if leaky else 0)
    # The blob's values [low, T] are centred: the threshold becomes (T - low) / 2 (T / 2 after a ReLU).
    threshold = 127 / table.activations["conv2"]
    low = lows["conv1"] if leaky else 0.0
    assert 127 / new_table.activations["conv2"] == pytest.approx((threshold - low) / 2, rel=1e-5)
    held = inputs(6, seed=5, shape=(4, 10, 10))
    assert compare(outputs(model, held, ["out"]), outputs(moved, held, ["out"]), ["out"]).cosine_min >= 0.99999
    reference = outputs(model, held, ["out"])

    def sqnr(m: ncnnq.Model, t: Table, biases: dict[str, np.ndarray]) -> float:
        net = NetworkProbe(m).net(dict(t.weights), dict(t.activations), int8=["conv2"], biases=biases)
        return compare(reference, [net.run(s, ["out"]) for s in held], ["out"]).sqnr_mean

    from ncnnq.recipes import _compensations

    gain = sqnr(moved, new_table, _compensations(moved, new_table, report.shifts)) - sqnr(model, table, {})
    assert gain > 2.0  # up to one more bit for conv2's input: up to 6 dB (its weights' error stays)


def test_shift_names_its_new_layers_apart_from_the_models_own():
    """The BinaryOp (``c1_shifted``) and Padding (``conv2_padded``) the shift adds take names the
    model already has here: they must get others, or a reader would read the model's own blob."""
    text = SHIFTED.replace(*PADDED_READER).replace(*LEAKY_PRODUCER)
    text = text.replace("Pooling              gap 1 1 c2 gap", "Pooling              conv2_padded 1 1 c2 c1_shifted")
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(2)
    samples = inputs(8, shape=(4, 10, 10))
    table = calibrate(model, [s["data"] for s in samples], "kl")
    moved = shift.shift(model, table, shift.lower_bounds(model, samples, threads=1))[0]
    names = [layer.name for layer in moved.layers]
    tops = [top for layer in moved.layers for top in layer.tops]
    assert len(set(names)) == len(names) and len(set(tops)) == len(tops)
    assert {"c1_shifted_", "conv2_padded_"} <= set(names)
    held = inputs(4, seed=5, shape=(4, 10, 10))
    blobs = ["out", "c1_shifted"]
    assert compare(outputs(model, held, blobs), outputs(moved, held, blobs), blobs).cosine_min >= 0.99999


SHUFFLED = """7767517
6 7
Input                data 0 1 data 0=10 1=10 2=4
Convolution          conv1 1 1 data c1 0=8 1=3 4=1 5=1 6=288 9=2 -23310=1,0.1
ShuffleChannel       shuffle 1 1 c1 s 0=2
Slice                slice 1 2 s a b -23300=2,4,-233
Convolution          conva 1 1 a ca 0=6 1=1 5=1 6=24
Convolution          convb 1 1 b cb 0=6 1=1 5=1 6=24
"""
"""A ShuffleNet unit's tail: conv1's channels shuffled and sliced between two readers."""


def test_shift_follows_shuffles_and_slices_to_readers_of_different_scales():
    model = ncnnq.Model.from_bytes(SHUFFLED.encode()).with_random_weights(6)
    conv1 = model.layer("conv1")
    w, b = np.array(conv1.weights["weight"]).reshape(8, -1), np.array(conv1.weights["bias"])
    wide = [2, 3, 6, 7]  # shuffled into b: convb's threshold is wider than conva's
    w[wide] *= 4
    b[wide] *= 4
    conv1.set_weight("weight", w.ravel())
    conv1.set_weight("bias", b)
    samples = inputs(16, shape=(4, 10, 10))
    table = calibrate(model, [s["data"] for s in samples], "kl")
    before = {r: 127 / table.activations[r] for r in ("conva", "convb")}
    assert before["convb"] > 1.5 * before["conva"]
    lows = shift.lower_bounds(model, samples, threads=1)
    moved, new_table, report = shift.shift(model, table, lows)
    assert [g.readers for g in report.groups] == [["conva", "convb"]]
    c = report.groups[0].shift
    assert c == pytest.approx((before["conva"] + lows["conv1"]) / 2, rel=1e-3)
    for r, threshold in before.items():  # each reader keeps its own threshold, less c
        assert 127 / new_table.activations[r] == pytest.approx(threshold - c, rel=1e-4)
    held = inputs(6, seed=5, shape=(4, 10, 10))
    blobs = ["ca", "cb"]
    reference = outputs(model, held, blobs)
    assert compare(reference, outputs(moved, held, blobs), blobs).cosine_min >= 0.99999

    from ncnnq.recipes import _compensations

    def sqnr(m: ncnnq.Model, t: Table, biases: dict[str, np.ndarray]) -> list[float]:
        net = NetworkProbe(m).net(dict(t.weights), dict(t.activations), int8=["conva", "convb"], biases=biases)
        return [o.sqnr_db for o in compare(reference, [net.run(s, blobs) for s in held], blobs).outputs]

    shifted, plain = sqnr(moved, new_table, _compensations(moved, new_table, report.shifts)), sqnr(model, table, {})
    assert shifted[0] > plain[0] + 2.0  # conva: the range c was chosen for, up to 6 dB
    assert shifted[1] > plain[1]  # convb: narrower by c only


def _visit_all(model: ncnnq.Model, table: Table, samples: list[dict[str, np.ndarray]]) -> dict[str, LayerInputs]:
    seen: dict[str, LayerInputs] = {}

    def keep(i: LayerInputs) -> Decision:
        seen[i.name] = i
        return refine_layer(i, rounding=False, bias=False)

    layerwise(model, table, samples, keep, progress=NoProgress())
    return seen


def coarse_table(model: ncnnq.Model, samples: list[dict[str, np.ndarray]], layer: str, levels: float) -> Table:
    """kl's table with ``layer``'s weights given only about ``levels`` int8 steps."""
    table = calibrate(model, [s["data"] for s in samples], "kl")
    w = np.abs(np.asarray(model.layer(layer).weights["weight"])).reshape(8, -1).max(axis=1)
    table.weights[f"{layer}_param_0"] = (levels / w).astype(np.float32)
    return table


def test_bias_correction_removes_a_constructed_channel_bias_error():
    # conv2 reads ReLU outputs (mean > 0) with weights rounded to ~3 steps: each output channel
    # gets a systematic error Σ Δw · E[x], a bias the layer-by-layer pass must measure and remove.
    model = ncnnq.Model.from_bytes(SHIFTED.encode()).with_random_weights(4)
    samples = inputs(16, shape=(4, 10, 10))
    table = coarse_table(model, samples, "conv2", 3.0)
    corrected = layerwise(model, table, samples, lambda i: refine_layer(i, rounding=False, bias=True),
                          progress=NoProgress())
    held = inputs(12, seed=9, shape=(4, 10, 10))
    reference = outputs(model, held, ["c2"])
    probe = NetworkProbe(model)

    def channel_bias(biases: dict[str, np.ndarray]) -> np.ndarray:
        net = probe.net(dict(table.weights), dict(table.activations), biases=biases)
        got = [net.run(s, ["c2"])["c2"] for s in held]
        return np.mean([(r["c2"] - g).reshape(8, -1).mean(axis=1) for r, g in zip(reference, got)], axis=0)

    before, after = channel_bias({}), channel_bias(corrected.biases)
    assert np.abs(before).max() > 0.05
    assert np.abs(after).max() < 0.2 * np.abs(before).max()


def test_learned_rounding_lowers_a_layers_output_error():
    text = SHIFTED.replace(PADDED_READER[0], "conv2 1 1 c1 c2 0=8 1=3 4=1 5=1 6=576")
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(6)
    samples = inputs(16, shape=(4, 10, 10))
    table = coarse_table(model, samples, "conv2", 6.0)
    layer = _visit_all(model, table, samples)["conv2"]
    nearest, learned = layer.nearest(), learned_weights(layer)
    assert not np.array_equal(nearest, learned)
    judge = held_out(layer)

    def error(q: np.ndarray) -> float:
        d = layer.outputs(q, layer.bias) - layer.reference
        return float((d[:, judge] ** 2).mean())

    assert error(learned) < 0.7 * error(nearest)
    # ncnn's ranges hold: within one step of w·scale, and ±127.
    exact = layer.weights * layer.unit_scales[:, None]
    assert np.all(np.abs(learned - exact) < 1.0) and np.abs(learned.astype(int)).max() <= 127


def test_learned_rounding_is_judged_on_samples_it_was_not_fitted_on():
    # Positions of one image are alike: the channels' choice between nearest and learned weights
    # must be judged on whole samples the search did not see, not on other positions of its own.
    model = ncnnq.Model.from_bytes(SHIFTED.encode()).with_random_weights(6)
    samples = inputs(12, shape=(4, 10, 10))
    layer = _visit_all(model, kl_table(model, samples), samples)["conv2"]
    assert sorted(set(layer.samples.tolist())) == list(range(12))
    judge = held_out(layer)
    judged, fitted = set(layer.samples[judge].tolist()), set(layer.samples[~judge].tolist())
    assert judged and fitted and not judged & fitted
    assert len(judged) == 12 // HELD_OUT


def kl_table(model: ncnnq.Model, samples: list[dict[str, np.ndarray]]) -> Table:
    return calibrate(model, [s["data"] for s in samples], "kl")


def test_tuning_moves_a_clipping_input_scale_by_the_outputs_error():
    # conv2's input threshold at a third of kl's clips most of its ReLU inputs: the search on the
    # outputs must widen it (the scale goes down) and the held-out outputs must get better.
    model = ncnnq.Model.from_bytes(SHIFTED.encode()).with_random_weights(3)
    samples = inputs(16, shape=(4, 10, 10))
    table = calibrate(model, [s["data"] for s in samples], "kl")
    table.activations["conv2"] *= 3.0
    bad = table.activations["conv2"]
    held = inputs(12, seed=7, shape=(4, 10, 10))
    reference = outputs(model, held, ["out"])

    def sqnr(t: Table) -> float:
        net = NetworkProbe(model).net(dict(t.weights), dict(t.activations))
        return compare(reference, [net.run(s, ["out"]) for s in held], ["out"]).sqnr_mean

    before = sqnr(table)
    report = tuning.tune(model, table, Overrides(), samples, threads=1, fp32=False, progress=NoProgress())
    assert report.searched == 2
    assert [c.layers for c in report.changes if c.layers == ["conv2"]] == [["conv2"]]
    assert table.activations["conv2"] < bad
    assert sqnr(table) > before + 3.0


def test_tuning_scores_runs_from_a_cut_as_the_whole_network():
    # The search runs each candidate from the blobs before the first layer it moves: the error it
    # measures there must be the whole int8 network's, bit for bit (requantize fusion included).
    model = chain_model()
    samples = inputs(6)
    table = calibrate(model, [s["data"] for s in samples], "kl")
    search = tuning._Search(model, table, Overrides(), samples, threads=2, fp32=False)
    whole = search.db(table.activations, [dict(s) for s in samples])
    index = {layer.name: i for i, layer in enumerate(model.layers)}
    for members in tuning._scale_groups(model, table):
        start = tuning._first_moved(model, members, index, producers(model))
        assert start <= min(index[m] for m in members)
        cuts = search.advance([dict(s) for s in samples], start)
        assert search.db(table.activations, cuts) == whole


def test_recipe_names_are_checked():
    assert str(parse_method("best+bc+cle")) == "best+cle+bc"
    assert parse_method("auto") is None
    for bad, message in [("foo+bc", "base method"), ("kl+magic", "unknown technique"), ("kl+bc+bc", "twice"),
                         ("bc+kl", "base method")]:
        with pytest.raises(InputError, match=message):
            parse_method(bad)


def test_auto_keeps_the_best_candidate_and_is_never_below_kl():
    model = chain_model()
    result = calibrate_model(model, list(samples_from(model, inputs(20))), "auto", validation=0.25)
    names = [name for name, _ in result.candidates]
    assert names[0] == "kl" and len(names) >= 2
    scores = dict(result.candidates)
    assert result.validation is not None
    assert result.validation.key() == max(s.key() for s in scores.values())
    assert result.validation.key() >= scores["kl"].key()
    assert result.method.startswith("auto (")
    with pytest.raises(InputError, match="validation"):
        calibrate_model(model, list(samples_from(model, inputs(4))), "auto", validation=0.0)


def test_auto_keeps_tune_when_validation_cannot_tell_it_from_its_base():
    # tune moved scales for gains on samples of its own; a validation loss below TUNE_TIE_DB is
    # noise and must not send auto back to the untuned candidate; a larger loss must.
    model = chain_model()

    def scored(db: float, tuned: bool) -> Calibration:
        quality = Quality(50, (OutputQuality("out", db, db, 0.99, 0.9),), 1.0)
        return Calibration("x", model, Table({}, {}), validation=Score("sqnr", quality),
                           tuning=tuning.Report() if tuned else None)

    base = scored(20.0, tuned=False)
    assert _prefer(scored(20.0 - TUNE_TIE_DB / 2, tuned=True), base, base, "sqnr")
    assert not _prefer(scored(20.0 - 2 * TUNE_TIE_DB, tuned=True), base, base, "sqnr")
    # Only against the candidate it started from, and never for an untuned one.
    assert not _prefer(scored(20.0 - TUNE_TIE_DB / 2, tuned=True), base, scored(20.0, tuned=False), "sqnr")
    assert not _prefer(scored(20.0 - TUNE_TIE_DB / 2, tuned=False), base, base, "sqnr")
    assert _prefer(scored(20.1, tuned=False), base, None, "sqnr")


def test_recipes_rank_a_classifier_by_top1_and_other_models_by_sqnr():
    classifier = chain_model()  # one output of 10 scores
    found = calibrate_model(classifier, list(samples_from(classifier, inputs(12))), "kl+bc", validation=0.25)
    assert found.validation is not None and found.validation.metric == "top1"
    detector = ncnnq.Model.from_bytes(SHIFTED.encode()).with_random_weights(2)  # an 8x10x10 map
    found = calibrate_model(detector, list(samples_from(detector, inputs(12, shape=(4, 10, 10)))), "kl+bc",
                            validation=0.25)
    assert found.validation is not None and found.validation.metric == "sqnr"


def test_each_step_of_a_recipe_gets_its_own_number_of_samples(monkeypatch):
    # eq's search takes up to eq.MAX_SAMPLES samples and the layer-by-layer pass up to its own
    # number: neither is cut to the other's.
    from ncnnq import recipes
    from ncnnq.methods import eq
    from ncnnq.methods import layerwise as layerwise_module

    seen: dict[str, int] = {}
    real_eq, real_layerwise = eq.equalize, recipes.layerwise
    monkeypatch.setattr(eq, "MAX_SAMPLES", 9)
    monkeypatch.setattr(recipes, "LAYERWISE_SAMPLES", 5)
    monkeypatch.setattr(layerwise_module, "MAX_SAMPLES", 5)

    def counting_eq(model, layers, table, samples, *rest):
        seen["eq"] = len(samples)
        return real_eq(model, layers, table, samples, *rest)

    def counting_layerwise(model, table, samples, *rest, **named):
        seen["layerwise"] = len(samples)
        return real_layerwise(model, table, samples, *rest, **named)

    monkeypatch.setattr(eq, "equalize", counting_eq)
    monkeypatch.setattr(recipes, "layerwise", counting_layerwise)
    model = chain_model()
    calibrate_model(model, list(samples_from(model, inputs(16))), "eq+shift+bc", validation=0.25)
    assert seen == {"eq": 9, "layerwise": 5}


def test_eq_search_leaves_the_arrays_of_the_table_it_starts_from_alone():
    # auto's candidates share one cached table: a search that changed its weight-scale arrays in
    # place would start the next candidate from the previous one's result.
    from ncnnq.calibrate import calibrated_layers
    from ncnnq.methods import eq

    model = chain_model()
    samples = inputs(8)
    table = kl_table(model, samples)
    shared = Table(dict(table.weights), dict(table.activations))
    before = {k: v.copy() for k, v in table.weights.items()}
    eq.equalize(model, calibrated_layers(model), shared, samples, threads=1, progress=NoProgress())
    assert any(not np.array_equal(shared.weights[k], before[k]) for k in before)  # the search moved some
    for k, v in table.weights.items():
        np.testing.assert_array_equal(v, before[k])


def test_the_written_files_hold_the_changes_and_run_in_real_ncnn(tmp_path):
    pytest.importorskip("ncnn", reason="real ncnn (pip install ncnn) is the referee for the written files")
    from ncnnq.verify import load_ncnn, run_ncnn

    model = chain_model()
    samples = inputs(20)
    result = quantize_model(model, [s["data"] for s in samples], "kl+cle+shift+round+bc", optimize_first=False,
                            validation=0.25, threads=1)
    assert result.calibration is not None
    overrides = result.calibration.overrides
    assert overrides.weights and overrides.biases
    ncnnq.save_int8(result.model, tmp_path / "q.param", tmp_path / "q.bin")
    written = ncnnq.Model.load(tmp_path / "q.param", tmp_path / "q.bin")
    for name, q in overrides.weights.items():
        np.testing.assert_array_equal(np.asarray(written.layer(name).weights["weight"]).ravel(), q.ravel())
    for name, b in overrides.biases.items():
        bias = np.asarray(written.layer(name).weights["bias"])
        assert bias.dtype == np.float32  # ncnn keeps an int8 layer's bias in fp32, and so does the file
        np.testing.assert_array_equal(bias, b)
    held = inputs(6, seed=3)
    ours = Net(tmp_path / "q.param", tmp_path / "q.bin")
    theirs = load_ncnn(tmp_path / "q.param", tmp_path / "q.bin")
    got_ours = [ours.run(s, ["out"]) for s in held]
    got_theirs = [run_ncnn(theirs, s, ["out"]) for s in held]
    assert compare(got_ours, got_theirs, ["out"]).sqnr_worst > 40
    reference = outputs(model, held, ["out"])
    plain = quantize_model(model, [s["data"] for s in samples], "kl", optimize_first=False, threads=1)
    plain_net = Net(plain.model)
    assert compare(reference, got_theirs, ["out"]).sqnr_mean > compare(
        reference, [plain_net.run(s, ["out"]) for s in held], ["out"]).sqnr_mean


def test_the_command_line_takes_recipes_and_refuses_them_for_a_table(tmp_path, capsys):
    model = chain_model()
    model.save(tmp_path / "c.param", tmp_path / "c.bin")
    folder = tmp_path / "npy"
    folder.mkdir()
    for k, s in enumerate(inputs(10)):
        np.save(folder / f"{k:02}.npy", s["data"])
    files = [str(tmp_path / "c.param"), str(tmp_path / "c.bin"), str(folder)]
    options = ["shape=[12,12,3]", "type=1", "thread=1"]
    args = ["quantize", *files, str(tmp_path / "q.param"), str(tmp_path / "q.bin"), *options, "optimize=0",
            "method=kl+cle+bc", "val=0.3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "method kl+cle+bc" in out and "validation:" in out
    assert ncnnq.Net(tmp_path / "q.param", tmp_path / "q.bin").run(inputs(1)[0], ["out"])["out"].shape == (10,)
    assert main(["table", *files, str(tmp_path / "t.table"), *options, "method=kl+bc"]) == 2
    assert "need ncnnq quantize" in capsys.readouterr().err
    assert main([*args[:-2], "method=kl+nothing"]) == 2
    assert "unknown technique" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("key", ["squeezenet", "nanodet"])
def test_the_strongest_recipe_beats_kl_on_held_out_images_in_real_ncnn(shared, key, tmp_path):
    # The protocol of benches/accuracy.py on fewer images: the tool gets even-indexed JPEGs, real
    # ncnn runs the written files and the fp32 model on odd-indexed ones.
    pytest.importorskip("ncnn", reason="real ncnn (pip install ncnn) is the referee for the written files")
    from ncnnq.images import InputSpec, image_tensor
    from ncnnq.verify import load_ncnn, run_ncnn

    name, spec = {  # as shared/data/reference/README.md gives them
        "squeezenet": ("squeezenet_v1.1", InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0))),
        "nanodet": ("nanodet_m", InputSpec((320, 320, 3), "BGR", (103.53, 116.28, 123.675),
                                           (0.017429, 0.017507, 0.017125))),
    }[key]
    param, bin_path = shared / "models" / f"{name}.param", shared / "models" / f"{name}.bin"
    model = ncnnq.Model.load(param, bin_path)
    images = sorted((shared / "imagenet-sample").glob("*.JPEG"))
    given, held = images[0:160:2], images[1:80:2]
    outs = list(model.outputs)
    tensors = [{model.inputs[0]: image_tensor(p, spec)} for p in held]
    reference = [run_ncnn(load_ncnn(param, bin_path), t, outs) for t in tensors]
    figures = {}
    for method in ("kl", "best+cle+shift+round+bc"):
        result = quantize_model(model, given, method, specs=[spec], threads=2)
        ncnnq.save_int8(result.model, tmp_path / "q.param", tmp_path / "q.bin")
        net = load_ncnn(tmp_path / "q.param", tmp_path / "q.bin")
        figures[method] = compare(reference, [run_ncnn(net, t, outs) for t in tensors], outs)
    assert figures["best+cle+shift+round+bc"].sqnr_mean > figures["kl"].sqnr_mean + 3
    assert figures["best+cle+shift+round+bc"].sqnr_worst > figures["kl"].sqnr_worst + 3



def test_refine_layer_decides_the_same_with_its_candidates_run_side_by_side():
    # With threads > 1 the learned candidate's search runs beside the nearest one's bias
    # correction: every layer's weights and bias must be what the one-thread visit decides.
    from dataclasses import replace

    model = ncnnq.Model.from_bytes(SHIFTED.encode()).with_random_weights(4)
    samples = inputs(16, shape=(4, 10, 10))
    table = coarse_table(model, samples, "conv2", 3.0)
    learned = 0
    for name, layer in _visit_all(model, table, samples).items():
        one, two = (refine_layer(replace(layer, threads=t), rounding=True, bias=True) for t in (1, 2))
        assert one.bias is not None and two.bias is not None
        assert np.array_equal(one.bias, two.bias), name
        assert (one.weights is None) == (two.weights is None), name
        if one.weights is not None:
            assert np.array_equal(one.weights, two.weights), name
            learned += 1
    assert learned > 0  # some layer kept learned weights: both candidates were compared


def test_the_strongest_recipe_writes_the_same_files_on_one_and_three_threads():
    # The pass, eq's search and tune run candidates and samples side by side with threads > 1;
    # what they decide, and so the files, must not depend on it.
    model = chain_model()
    samples = [s["data"] for s in inputs(24)]
    files = []
    for threads in (1, 3):
        result = quantize_model(model, samples, "best+cle+shift+round+bc+tune", optimize_first=False,
                                validation=0.25, threads=threads)
        assert result.calibration is not None and result.calibration.overrides.weights
        files.append((result.model.param_text(), result.model.bin_bytes(), result.table_text))
    assert files[0] == files[1]
