"""Automatic mixed precision: the fewest float MACs that reach an accuracy target.

``ncnnq quantize ... target=sqnr:30`` (or ``cos:0.999``, ``top1:0.99``; in Python also any task
metric) searches on a validation split of the user's images that took no part in calibration:

1. **All int8** with the chosen method's table, or with a recipe (``best+cle+shift+round+bc``,
   :mod:`ncnnq.recipes`): its equalized and shifted fp32 model, its table, its learned int8
   weights and corrected biases. If it reaches the target, that is the result.
2. **Better int8 per layer.** Every layer gets the scales of each calibration method (kl, aciq,
   mse, the calibration set's absmax, eq's and best's searched scales; the weight scales that go
   with each), and keeps the one whose *isolated* model-output SQNR (only that layer int8) is
   highest on the screening samples; then that winner's activation scale ×0.7 and ×1.4 are tried
   the same way. A layer's choice is judged on the model's outputs, never on the images it was
   calibrated on.
3. **Float where int8 still fails**, greedily by output noise per float MAC: each layer's noise
   is what its isolated SQNR (step 2) says it adds; with an SQNR target, per output, and the order
   removes first the noise on the outputs below the target (the target is the worst output's);
   with ``sqnr_mean:``, whose target is the mean over outputs of their SQNR, the order is by the
   mean dB each layer's float buys, and the screening reads that mean too.
   The search finds the shortest prefix of that order whose layers float meet the target on the
   whole validation split (starting where the noise, added up, says it should, then doubling and
   halving).
4. **The choices together.** Each layer's scales won alone; together they can lose. With the
   float layers of step 3 in place, the starting scales are judged again for every choice, and
   for those that interact worst (each reverted alone on the screening samples); the best stays.
5. **Pruning.** The float layers, largest first, are tried in int8 again (at their chosen scales,
   and at their starting ones where step 2 changed them): each that still meets the target goes
   back.
6. **Tuned again** (from a recipe with ``tune``, which tuned its scales with every layer int8):
   the int8 layers' input scales are tuned with the float layers in place, judged with the int8
   weights and biases as they were and made again for the new scales; the best of those and
   step 5's stays, and from it the float layers are tried in int8 again as in step 5.

With a recipe whose int8 weights or biases depend on the other layers (``round``, ``bc``, and the
compensation a shifted reader's bias needs for its scales), they are made again, by the recipe's
layer-by-layer pass, for the scales chosen in step 2 and for every configuration steps 3 to 5
judge: a bias corrected for an int8 layer's error before it is wrong once that layer is float,
so each configuration is judged, and written, with every layer corrected for the error it really
receives. A layer whose sampled inputs and scales are those of an earlier pass keeps that pass's
decision (every layer before the first one whose precision or scales changed).

Every configuration runs as its written file would (:mod:`ncnnq.validation`): requantize fusion,
and the quantize/dequantize boundaries a float layer adds, are in the figures. The result's table
is ncnn's, with the float layers' lines commented out (``#``), so ncnn2int8 makes the same choice.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from ._native import Model, QuantizeReport
from .calibrate import calibrate_many
from .errors import InputError
from .evaluate import SQNR_METRICS, Quality, Target, compare
from .images import InputSpec
from .int8 import quantize
from .methods import tuning
from .methods.layerwise import MAX_SAMPLES as LAYERWISE_SAMPLES
from .methods.layerwise import Decision, LayerInputs, Overrides, layerwise
from .methods.registry import AUTO, Recipe, changes_weights, parse_method
from .progress import NoProgress, Progress
from .recipes import MAX_VALIDATION, Calibration, _compensations, calibrate_model, refine_layer
from .samples import Sample, Tensors, decode_all, load_sample, split_validation, spread
from .table import Table
from .validation import Config, Metric, Validation, layer_macs, quantizable_layers

TARGET_METHOD = "best+cle+shift+round+bc"
"""The method a target starts from unless told otherwise: the strongest all-int8 recipe
(:mod:`ncnnq.recipes`), so the search keeps float only what it cannot fix."""
VARIANT_METHODS = ("kl", "aciq", "mse", "eq", "best")
"""The calibration methods whose scales every layer may take."""
DEFAULT_VALIDATION = 0.2
"""The share of the user's images the search judges on (the rest calibrate)."""
SCREENING_SAMPLES = 16
"""Validation samples the per-layer screening (scale choice, float gains) runs on."""
NEGLIGIBLE_DB = 20.0
VARIANT_MARGIN_DB = 0.5
"""How much better alone (dB) another method's scales must be than a layer's own to replace them:
its own may come with int8 weights and biases made for them (a recipe's), which other scales lose,
and isolated figures on a few samples differ by a fraction of a dB between near-equal scales."""
REFINE_FACTORS = (0.7, 1.4)
"""Activation-scale factors each weak layer's chosen variant is tried with (threshold ×1.4, ×0.7)."""
PRUNE_TRIALS = 12
"""Float layers (largest first) the pruning tries to make int8 again."""


@dataclass(frozen=True)
class Variant:
    """One way to make a layer int8: its input scale and weight scales, from the method ``name``."""

    name: str
    activation: float
    weights: npt.NDArray[np.float32]


@dataclass(frozen=True)
class LayerDecision:
    name: str
    precision: str
    """``int8`` or ``float``."""
    variant: str
    """The method whose scales the layer took (the table's, for float layers)."""
    isolated_db: float
    """Output SQNR with only this layer int8, with the chosen scales."""
    reason: str


@dataclass(frozen=True)
class Step:
    """One configuration the search judged on the whole validation split."""

    action: str
    float_layers: tuple[str, ...]
    value: float
    met: bool


@dataclass(frozen=True)
class MixedPrecision:
    """What the search chose, and the figures on the validation split."""

    target: str
    table: Table
    """The table of the result: int8 layers' chosen scales; float layers are left out of it."""
    config: Config
    """The result as the search judged it (the table's scales, and any int8 weights and biases
    of the starting configuration its int8 layers kept)."""
    float_layers: tuple[str, ...]
    int8_mac_share: float
    """Of the quantizable layers' MACs."""
    value: float
    """The target's metric for the result on the validation split."""
    met: bool
    quality: Quality
    all_int8_value: float
    """The same metric with every layer int8 under the method's table."""
    decisions: tuple[LayerDecision, ...]
    steps: tuple[Step, ...]
    validation_samples: int
    screening_samples: int

    def table_text(self, full: Table) -> str:
        """ncnn's table with every layer of ``full`` and the float layers' lines commented out:
        ncnn2int8 skips them and keeps those layers float."""
        floats = set(self.float_layers)
        lines = []
        for line in full.text().splitlines():
            key = line.split()[0]
            layer = key.rsplit("_param_", 1)[0] if "_param_" in key else key
            lines.append(("#" + line) if layer in floats else line)
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Judge:
    """The target's metric of a configuration on the whole validation split."""

    validation: Validation
    target: Target | None
    threshold: float
    metric: Metric | None

    def __call__(self, config: Config) -> tuple[float, Quality]:
        if self.metric is not None:
            outputs = self.validation.run_outputs(config)
            quality = compare(self.validation.reference, outputs, self.validation.outputs)
            return float(self.metric(self.validation.reference, outputs)), quality
        assert self.target is not None
        quality = self.validation.measure([config])[0]
        return self.target.value(quality), quality

    def met(self, value: float) -> bool:
        return value >= self.threshold


def variants(tables: Mapping[str, Table], layer: str) -> list[Variant]:
    """The distinct (activation, weight scales) pairs the tables give ``layer``; absmax from the
    first table's calibration report (the largest input seen), with that table's weight scales."""
    out: list[Variant] = []
    seen: set[tuple[float, bytes]] = set()

    def add(name: str, activation: float, weights: np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.float32)
        key = (float(np.float32(activation)), w.tobytes())
        if math.isfinite(activation) and activation > 0 and key not in seen:
            seen.add(key)
            out.append(Variant(name, float(activation), w))

    for name, table in tables.items():
        if layer in table.activations:
            add(name, table.activations[layer], table.weights[f"{layer}_param_0"])
    first = next(iter(tables.values()))
    report = {r.layer: r for r in first.report}.get(layer)
    if report is not None and report.absmax > 0:
        add("absmax", float(np.float32(127.0) / np.float32(report.absmax)), first.weights[f"{layer}_param_0"])
    return out


def _sqnr(q: Quality) -> float:
    return q.sqnr_worst


def _sqnr_mean(q: Quality) -> float:
    return q.sqnr_mean


Figure = Callable[[Quality], float]
"""The SQNR (dB) a search reads from a configuration's outputs: the worst output's (:func:`_sqnr`),
or with a ``sqnr_mean`` target the mean over outputs (:func:`_sqnr_mean`)."""


def _figure_of(target: Target | float, metric: Metric | None) -> Figure:
    """The outputs' SQNR the per-layer screening reads for ``target``."""
    return _sqnr_mean if isinstance(target, Target) and target.metric == "sqnr_mean" and metric is None else _sqnr


def _isolated(screening: Validation, base: Config, pairs: Sequence[tuple[str, Variant]], stage: str,
              progress: Progress, rebias: Rebias | None = None) -> list[Quality]:
    """The model-output figures with only that layer int8, with that variant, of each (layer, variant)."""
    configs = [_with_variant(base, name, v, rebias).with_int8([name]) for name, v in pairs]
    progress.start(f"{stage}: {len(configs)} configurations", len(screening.samples))
    qualities = screening.measure(configs, advance=progress.advance)
    progress.finish()
    return qualities


def output_noise(q: Quality) -> tuple[float, ...]:
    """The noise, as a share of each output's signal, that a configuration's outputs carry."""
    return tuple(isolated_noise(o.sqnr_db) for o in q.outputs)


def choose_variants(
    screening: Validation,
    layers: Sequence[str],
    candidates: Mapping[str, Sequence[Variant]],
    base: Config,
    target_db: float | None,
    progress: Progress,
    rebias: Rebias | None = None,
    noise: dict[str, tuple[float, ...]] | None = None,
    figure: Figure = _sqnr,
) -> tuple[dict[str, Variant], dict[str, float], dict[str, float]]:
    """Per layer, the variant with the highest isolated output SQNR on the screening samples, that
    SQNR, and the first variant's (another method's scales only when :data:`VARIANT_MARGIN_DB`
    better than the first); ``noise``, when given, receives each layer's isolated noise per
    output (:func:`output_noise`) with the chosen variant. With an SQNR target, only layers that
    matter try the alternatives: those whose first variant alone is less than :data:`NEGLIGIBLE_DB`
    above the target (under additive noise, a layer that far above it adds at most 1 % of the
    noise the target allows). ``figure``: which SQNR of the outputs judges (the worst output's,
    or the mean over outputs for a ``sqnr_mean`` target)."""
    alone = _isolated(screening, base, [(n, candidates[n][0]) for n in layers], "layers alone", progress, rebias)
    first = {n: figure(q) for n, q in zip(layers, alone)}
    per_output = {n: output_noise(q) for n, q in zip(layers, alone)}
    chosen = {n: candidates[n][0] for n in layers}
    best = dict(first)
    limit = math.inf if target_db is None else target_db + NEGLIGIBLE_DB
    weak = [n for n in layers if best[n] < limit and len(candidates[n]) > 1]
    pairs = [(n, v) for n in weak for v in candidates[n][1:]]
    for (name, v), q in zip(pairs, _isolated(screening, base, pairs, "choosing scales", progress, rebias)):
        db = figure(q)
        if db > best[name] + (VARIANT_MARGIN_DB if chosen[name] is candidates[name][0] else 0.0):
            chosen[name], best[name], per_output[name] = v, db, output_noise(q)
    # The methods' thresholds are judged on the layer's own input; the model's output may prefer
    # one between or beyond them: each weak layer's winner, clipped tighter and looser.
    weak = [n for n in layers if best[n] < limit]
    pairs = [(n, _scaled(chosen[n], f)) for n in weak for f in REFINE_FACTORS]
    for (name, v), q in zip(pairs, _isolated(screening, base, pairs, "refining scales", progress, rebias)):
        db = figure(q)
        if db > best[name]:
            chosen[name], best[name], per_output[name] = v, db, output_noise(q)
    if noise is not None:
        noise.update(per_output)
    return chosen, best, first


def _starting_first(base: Config, layer: str, method: str, found: list[Variant]) -> list[Variant]:
    """``found`` with the starting configuration's own scales for ``layer`` first (as ``method``)."""
    if layer not in base.activations or f"{layer}_param_0" not in base.weights:
        return found
    own = Variant(method, float(base.activations[layer]), np.asarray(base.weights[f"{layer}_param_0"], np.float32))
    rest = [v for v in found if not (v.activation == own.activation and np.array_equal(v.weights, own.weights))]
    return [own, *rest]


def _scaled(v: Variant, factor: float) -> Variant:
    """``v`` with its activation scale times ``factor`` (its threshold divided by it)."""
    return Variant(f"{v.name}x{factor:g}", float(np.float32(v.activation * factor)), v.weights)


Finish = Callable[[Config], Config]
"""A configuration -> the same scales and int8 layers with int8 weights and biases made for them."""
Rebias = Callable[[str, Variant], "npt.NDArray[np.float32] | None"]
"""(layer, variant) -> the int8 bias the layer needs with the variant's scales (a shifted reader's
compensation), or None for the fp32 model's."""


def _with_variant(config: Config, layer: str, v: Variant, rebias: Rebias | None = None) -> Config:
    """``config`` with ``layer`` at ``v``'s scales. A layer's int8 weights and bias overrides were
    made for its scales: they stay when ``v`` keeps them, and go when it changes them (the bias
    made again by ``rebias`` when it gives one)."""
    key = f"{layer}_param_0"
    if key in config.weights and config.activations.get(layer) == v.activation \
            and np.array_equal(config.weights[key], v.weights):
        return config
    weights = dict(config.weights)
    weights[key] = v.weights
    activations = dict(config.activations)
    activations[layer] = v.activation
    biases = {k: b for k, b in config.biases.items() if k != layer}
    again = rebias(layer, v) if rebias is not None else None
    if again is not None:
        biases[layer] = again
    return Config(weights, activations, config.int8, {k: w for k, w in config.int8_weights.items() if k != layer},
                  biases)


def search(
    validation: Validation,
    screening: Validation,
    tables: Mapping[str, Table],
    method: str,
    macs: Mapping[str, int],
    target: Target | float,
    *,
    metric: Metric | None = None,
    base: Config | None = None,
    finish: Finish | None = None,
    rebias: Rebias | None = None,
    retune: Finish | None = None,
    progress: Progress | None = None,
) -> MixedPrecision:
    """The search of the module docs. ``tables``: a table per method in :data:`VARIANT_METHODS`
    (and ``method``'s, the one all-int8 starts from), calibrated on images outside ``validation``;
    ``base``: the all-int8 configuration to start from instead of ``method``'s table (e.g. with
    learned int8 weights and corrected biases: a layer keeps them while it keeps their scales);
    ``finish``: makes a configuration's int8 weights and biases again for its scales and int8
    layers (a recipe's layer-by-layer pass): after the scales are chosen (kept when it judges
    better), and for every set of float layers judged (each layer is then corrected for what the
    layers before it really are in that configuration); ``rebias``: a layer's int8 bias for
    other scales than ``base``'s;
    ``screening``: a subset of the validation samples for the per-layer screening; ``macs``: each
    quantizable layer's MACs; ``target``: a :class:`Target`, or with ``metric`` the figure it must
    reach."""
    progress = progress or NoProgress()
    if metric is None and not isinstance(target, Target):
        raise InputError("a numeric target needs a metric: give target='sqnr:30' or the like, or metric=")
    if metric is not None and isinstance(target, Target):
        raise InputError("with metric=, the target is the figure the metric must reach (a number)")
    threshold = target.threshold if isinstance(target, Target) else float(target)
    judge = _Judge(validation, target if isinstance(target, Target) else None, threshold, metric)
    base_table = tables[method]
    layers = [name for name in macs if f"{name}_param_0" in base_table.weights and name in base_table.activations]
    total = float(sum(macs[name] for name in layers)) or 1.0
    if base is None:
        base = Config(dict(base_table.weights), dict(base_table.activations), frozenset(layers))
    else:
        base = base.with_int8(layers)
    steps: list[Step] = []

    def judged(action: str, config: Config) -> tuple[float, Quality]:
        value, quality = judge(config)
        floats = tuple(name for name in layers if name not in config.int8)
        steps.append(Step(action, floats, value, judge.met(value)))
        return value, quality

    progress.start("all layers int8", None)
    all_value, all_quality = judged(f"all int8 ({method})", base)
    progress.finish()
    ordered = {method: base_table, **{m: t for m, t in tables.items() if m != method}}
    candidates = {name: _starting_first(base, name, method, variants(ordered, name)) for name in layers}
    decisions_variant = {name: method for name in layers}
    isolated: dict[str, float] = {}
    noise: dict[str, tuple[float, ...]] = {}
    changed: list[str] = []
    own: dict[str, float] = {}
    config, value, quality = base, all_value, all_quality
    # An SQNR target, in dB, when the built-in figures judge it: what the noise estimates aim at.
    target_db = target.threshold if isinstance(target, Target) and target.metric in SQNR_METRICS and metric is None \
        else None
    figure = _figure_of(target, metric)
    if not judge.met(value):
        chosen, isolated, own = choose_variants(screening, layers, candidates, base, target_db, progress, rebias,
                                                noise=noise, figure=figure)
        for name, v in chosen.items():
            config = _with_variant(config, name, v, rebias)
            decisions_variant[name] = v.name
        value, quality = judged("all int8, scales chosen per layer", config)
        changed = [name for name in layers if chosen[name] is not candidates[name][0]]
        if finish is not None and any(v != method for v in decisions_variant.values()) and not judge.met(value):
            config, value, quality = _finished(finish, config, value, quality, judged, "all int8, made again")

    floats: list[str] = []
    made: dict[tuple[frozenset[str], frozenset[str]], Config] = {}

    def with_float(kept_float: Sequence[str], reverted: Collection[str] = ()) -> Config:
        """``config`` with ``kept_float`` float and the scale choices of ``reverted`` back at
        ``base``'s, its int8 weights and biases made again for that (once per such pair) when there
        is a ``finish``."""
        scales = _reverted(config, base, reverted) if reverted else config
        plain = scales.with_int8([n for n in layers if n not in kept_float])
        if finish is None:
            return plain
        key = (plain.int8, frozenset(reverted))
        if key not in made:
            made[key] = finish(plain)
        return made[key]

    if not judge.met(value):
        if target_db is not None and figure is _sqnr_mean and all(n in noise for n in layers):
            # The target is the mean over outputs: float what raises that mean the most per MAC.
            order = mean_noise_order(layers, noise, macs)
            start = mean_noise_prefix(order, noise, target_db)
        elif target_db is not None and all(n in noise for n in layers):
            # The target is the worst output's: float what the outputs below it receive.
            allowed = 10 ** (-target_db / 10)
            order = output_noise_order(layers, noise, macs, allowed)
            start = output_noise_prefix(order, noise, allowed)
        else:
            order = noise_order(layers, isolated, macs)
            start = predicted_prefix(order, isolated, target_db)

        def trial(k: int) -> tuple[bool, float, Quality]:
            v, q = judged(f"float the first {k} by noise per MAC", with_float(order[:k]))
            return judge.met(v), v, q

        count, value, quality = _smallest_prefix(trial, start, len(order), (value, quality))
        floats = order[:count]
        reverted, value, quality = _choices_together(
            screening, config.with_int8([n for n in layers if n not in floats]), base, changed,
            lambda names: with_float(floats, names), judged, (value, quality), figure)
        if judge.met(value):
            # A layer made float because its chosen scales failed in company may be int8 at its own.
            for name in sorted(floats, key=lambda n: -macs[n])[:PRUNE_TRIALS]:
                kept = [n for n in floats if n != name]
                again = [reverted] + ([[*reverted, name]] if name in changed and name not in reverted else [])
                for names in again:
                    v2, q2 = judged(f"int8 again {name}" + (" at its starting scales" if names is not reverted else ""),
                                    with_float(kept, names))
                    if judge.met(v2):
                        floats, value, quality, reverted = kept, v2, q2, names
                        break
        for name in reverted:
            decisions_variant[name], isolated[name] = method, own[name]
        config = with_float(floats, reverted)
        if retune is not None:
            config, value, quality, floats = _retuned(
                retune, finish, config, value, quality, floats, layers, macs, judged, judge.met)
    final = config.with_int8([n for n in layers if n not in floats])
    table = Table(
        weights={k: v for k, v in final.weights.items() if k.rsplit("_param_", 1)[0] not in floats},
        activations={k: v for k, v in final.activations.items() if k not in floats},
    )
    decisions = []
    for name in layers:
        iso = isolated.get(name, math.nan)
        if name in floats:
            reason = f"int8 alone: {iso:.1f} dB; kept float to reach {_target_text(target)}"
        elif decisions_variant[name] != method:
            reason = f"{decisions_variant[name]} scales: {iso:.1f} dB alone"
        else:
            reason = ""
        decisions.append(LayerDecision(name, "float" if name in floats else "int8", decisions_variant[name], iso,
                                       reason))
    int8_share = sum(macs[n] for n in layers if n not in floats) / total
    return MixedPrecision(
        _target_text(target), table, final, tuple(floats), int8_share, value, judge.met(value), quality, all_value,
        tuple(decisions), tuple(steps), len(validation.samples), len(screening.samples),
    )


def _retuned(
    retune: Finish, finish: Finish | None, config: Config, value: float, quality: Quality, floats: list[str],
    layers: Sequence[str], macs: Mapping[str, int], judged: Callable[[str, Config], tuple[float, Quality]],
    met: Callable[[float], bool],
) -> tuple[Config, float, Quality, list[str]]:
    """The int8 layers' input scales chosen again with the float layers in place (``retune``),
    with the int8 weights and biases the scales were judged with and made again for them
    (``finish``); the best of those and ``config`` is kept. Then, from the kept scales, the float
    layers, largest first, are tried in int8 again: each that still meets the target goes back."""
    best = (config, value, quality)
    tuned = retune(config)
    made: list[tuple[str, Callable[[], Config]]] = [("input scales tuned around the float layers", lambda: tuned)]
    if finish is not None:
        made.append(("input scales tuned, made again", lambda: finish(tuned)))
    for action, make in made:
        candidate = make()
        v, q = judged(action, candidate)
        if (met(v), *_rank(v, q)) > (met(best[1]), *_rank(best[1], best[2])):
            best = (candidate, v, q)
    config, value, quality = best
    if met(value):
        for name in sorted(floats, key=lambda n: -macs[n])[:PRUNE_TRIALS]:
            kept = [n for n in floats if n != name]
            trial = config.with_int8([n for n in layers if n not in kept])
            trial = finish(trial) if finish is not None else trial
            v2, q2 = judged(f"int8 again {name}, tuned scales", trial)
            if met(v2):
                floats, config, value, quality = kept, trial, v2, q2
    return config, value, quality, floats


def _reverted(config: Config, base: Config, names: Collection[str]) -> Config:
    """``config`` with the layers ``names`` back at ``base``'s scales, and those of them int8 with
    ``base``'s int8 weights and biases (made for those scales)."""
    weights, activations = dict(config.weights), dict(config.activations)
    int8_weights = {k: w for k, w in config.int8_weights.items() if k not in names}
    biases = {k: b for k, b in config.biases.items() if k not in names}
    for name in names:
        key = f"{name}_param_0"
        weights[key], activations[name] = base.weights[key], base.activations[name]
        if name in base.int8_weights and name in config.int8:
            int8_weights[name] = base.int8_weights[name]
        if name in base.biases and name in config.int8:
            biases[name] = base.biases[name]
    return Config(weights, activations, config.int8, int8_weights, biases)


def _choices_together(
    screening: Validation, plain: Config, base: Config, changed: Sequence[str],
    make: Callable[[Sequence[str]], Config], judged: Callable[[str, Config], tuple[float, Quality]],
    current: tuple[float, Quality], figure: Figure = _sqnr,
) -> tuple[list[str], float, Quality]:
    """Which of the per-layer scale choices to keep, judged in the configuration the search ended
    in (``plain``: its scales and float layers; ``current``: its figures as made): ``changed``,
    the layers whose scales moved from ``base``'s, each won alone, but their errors add up, a
    layer's new scales lose the rounding and bias made for its own, and a choice is a fraction of
    a dB on a few samples, so together they can lose against ``base``. Judged there and not on
    the all-int8 model, whose noise is mostly that of the layers the search then makes float.
    Each choice reverted alone is measured on the screening samples; those whose revert raises
    the output SQNR interact worst. ``base``'s scales for all of ``changed``, and for those that
    interact worst (all, and the worse half), are judged on the whole validation split (``make``:
    the configuration with the given layers reverted); the best is kept (ties keep the choices).
    Returns the layers to revert and the kept configuration's figures."""
    if not changed:
        return [], current[0], current[1]
    figures = [figure(q) for q in screening.measure([plain, *(_reverted(plain, base, [n]) for n in changed)])]
    harm = {name: f - figures[0] for name, f in zip(changed, figures[1:])}
    losing = sorted((n for n in changed if harm[n] > 0), key=lambda n: -harm[n])
    subsets = [list(changed)] + [names for names in (losing, losing[: (len(losing) + 1) // 2])
                                 if 0 < len(names) < len(changed)]
    best: tuple[list[str], float, Quality] = ([], current[0], current[1])
    for names in dict.fromkeys(tuple(n) for n in subsets):
        what = "all" if len(names) == len(changed) else ", ".join(names)
        value, quality = judged(f"starting scales again: {what}", make(names))
        if _rank(value, quality) > _rank(best[1], best[2]):
            best = (list(names), value, quality)
    return best


def _rank(value: float, quality: Quality) -> tuple[float, float]:
    """Larger is better: the target's figure, then the mean output SQNR (top-1 agreement on a few
    dozen samples ties often)."""
    finer = quality.sqnr_mean
    return value, finer if math.isfinite(finer) else math.copysign(1e9, finer)


def _finished(
    finish: Finish, config: Config, value: float, quality: Quality,
    judged: Callable[[str, Config], tuple[float, Quality]], action: str,
) -> tuple[Config, float, Quality]:
    """``finish(config)`` if it judges at least as well as ``config`` (``value``), else ``config``."""
    fixed = finish(config)
    v2, q2 = judged(action, fixed)
    return (fixed, v2, q2) if _rank(v2, q2) >= _rank(value, quality) else (config, value, quality)


def isolated_noise(db: float) -> float:
    """The output noise, as a share of the signal, of a layer whose isolated SQNR is ``db``."""
    if math.isnan(db):
        return 0.0
    return 10 ** (-db / 10) if math.isfinite(db) else (0.0 if db > 0 else math.inf)


def noise_order(layers: Sequence[str], isolated: Mapping[str, float], macs: Mapping[str, int]) -> list[str]:
    """The layers by the output noise each adds in int8 (its isolated SQNR) per MAC, most first:
    the order in which keeping layers float buys the most accuracy for the fewest float MACs, if
    the layers' noise adds up. Isolated figures rather than the gain of keeping one layer float
    in the all-int8 model: when that model is far below the target, every single gain is lost in
    the others' noise (a fraction of a dB, of either sign), while each layer alone is measured
    cleanly."""
    return sorted(layers, key=lambda n: -isolated_noise(isolated.get(n, math.nan)) / max(1, macs[n]))


def predicted_prefix(order: Sequence[str], isolated: Mapping[str, float], target_db: float | None) -> int:
    """How many layers of ``order`` to make float for ``target_db``, if the layers' noise adds up:
    the fewest whose float leaves the others' isolated noise within 10^(−target/10). 1 without
    an SQNR target."""
    if target_db is None:
        return 1
    allowed = 10 ** (-target_db / 10)
    remaining = sum(isolated_noise(isolated.get(n, math.nan)) for n in order)
    for k, name in enumerate(order):
        if remaining <= allowed:
            return max(1, k)
        remaining -= isolated_noise(isolated.get(name, math.nan))
    return len(order)


def output_noise_order(
    layers: Sequence[str], noise: Mapping[str, Sequence[float]], macs: Mapping[str, int], allowed: float
) -> list[str]:
    """The layers in the order keeping them float lowers, per float MAC, the output noise that
    exceeds ``allowed`` (a share of each output's signal), if every output's noise is the sum of
    the layers' isolated noise on it (``noise``: per layer, one share per output). An SQNR target
    is the worst output's: a layer whose noise lands on outputs already within ``allowed`` buys
    nothing, however noisy it is alone (nanodet_m's three heads each feed two of its six outputs,
    and its box outputs have dB to spare where its class scores have none). Greedy: each step
    takes the layer that removes the most excess per MAC; once no excess is left, ``allowed`` is
    halved (what the prefix search reaches for when the noise adds up to more than the sum)."""
    vectors = {n: np.minimum(np.asarray(noise[n], dtype=np.float64), 1e6) for n in layers}
    remaining = list(layers)
    totals = np.sum([vectors[n] for n in remaining], axis=0) if remaining else np.zeros(0)
    level = allowed
    order: list[str] = []
    while remaining:
        if not any(vectors[n].any() for n in remaining):
            return order + remaining  # the rest are exact in int8
        excess = np.maximum(totals - level, 0.0).sum()
        gains = [(excess - np.maximum(totals - vectors[n] - level, 0.0).sum()) / max(1, macs[n]) for n in remaining]
        k = int(np.argmax(gains))
        if gains[k] <= 0.0:
            level /= 2
            continue
        name = remaining.pop(k)
        totals = totals - vectors[name]
        order.append(name)
    return order


def output_noise_prefix(order: Sequence[str], noise: Mapping[str, Sequence[float]], allowed: float) -> int:
    """How many layers of ``order`` to make float so that every output's summed isolated noise of
    the layers left int8 is within ``allowed`` (at least 1)."""
    vectors = [np.asarray(noise[n], dtype=np.float64) for n in order]
    totals = np.sum(vectors, axis=0) if vectors else np.zeros(0)
    for k, v in enumerate(vectors):
        if (totals <= allowed).all():
            return max(1, k)
        totals = totals - v
    return len(order)


MEAN_NOISE_FLOOR = 1e-12
"""The noise share (120 dB) an output is taken to keep with every layer float, so that the mean
over outputs of their SQNR stays finite in :func:`mean_noise_order`."""


def _mean_db(totals: npt.NDArray[np.float64]) -> float:
    """The mean over outputs of the SQNR (dB) that noise shares ``totals`` leave."""
    return float(np.mean(-10.0 * np.log10(totals + MEAN_NOISE_FLOOR)))


def mean_noise_order(layers: Sequence[str], noise: Mapping[str, Sequence[float]], macs: Mapping[str, int]) -> list[str]:
    """The layers in the order keeping them float raises, per float MAC, the mean over outputs of
    their SQNR (a ``sqnr_mean`` target), if every output's noise is the sum of the layers'
    isolated noise on it (``noise``: per layer, one share per output). Greedy: each step takes
    the layer whose float adds the most mean dB per MAC. Unlike the worst output's order
    (:func:`output_noise_order`), noise on an output already above the target still counts: a
    dB gained there raises the mean as much as one gained on the worst output."""
    vectors = {n: np.minimum(np.asarray(noise[n], dtype=np.float64), 1e6) for n in layers}
    remaining = list(layers)
    totals = np.sum([vectors[n] for n in remaining], axis=0) if remaining else np.zeros(0)
    order: list[str] = []
    while remaining:
        if not any(vectors[n].any() for n in remaining):
            return order + remaining  # the rest are exact in int8
        now = _mean_db(totals)
        gains = [(_mean_db(np.maximum(totals - vectors[n], 0.0)) - now) / max(1, macs[n]) for n in remaining]
        name = remaining.pop(int(np.argmax(gains)))
        totals = np.maximum(totals - vectors[name], 0.0)
        order.append(name)
    return order


def mean_noise_prefix(order: Sequence[str], noise: Mapping[str, Sequence[float]], target_db: float) -> int:
    """How many layers of ``order`` to make float so that the mean over outputs of the SQNR their
    summed isolated noise leaves reaches ``target_db`` (at least 1)."""
    vectors = [np.asarray(noise[n], dtype=np.float64) for n in order]
    totals = np.sum(vectors, axis=0) if vectors else np.zeros(0)
    for k, v in enumerate(vectors):
        if _mean_db(totals) >= target_db:
            return max(1, k)
        totals = np.maximum(totals - v, 0.0)
    return len(order)


def _smallest_prefix(
    trial: Callable[[int], tuple[bool, float, Quality]], start: int, n: int, failed: tuple[float, Quality]
) -> tuple[int, float, Quality]:
    """The smallest k whose ``trial(k)`` meets the target, if meeting it grows with k: from
    ``start``, doubling until met, then halving the interval (trial(0) is known to fail with
    ``failed``). Returns (k, its figure and quality); k = n, unmet, when nothing meets it."""
    lo, hi = 0, None
    best: tuple[float, Quality] = failed
    k = max(1, min(start, n))
    while hi is None:
        met, v, q = trial(k)
        if met:
            hi, best = k, (v, q)
        elif k >= n:
            return n, v, q
        else:
            lo, k = k, min(n, 2 * k)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        met, v, q = trial(mid)
        if met:
            hi, best = mid, (v, q)
        else:
            lo = mid
    return hi, best[0], best[1]


def _target_text(target: Target | float) -> str:
    return str(target) if isinstance(target, Target) else f"metric ≥ {target:g}"


@dataclass(frozen=True)
class MixedResult:
    """What :func:`quantize_mixed` makes: the search's result, the table to write (every layer,
    float layers commented out), the int8 model of the result and the all-int8 one for
    comparison, and with a recipe, its calibration (the table belongs to ``calibration.model``)."""

    search: MixedPrecision
    table_text: str
    model: Model
    report: QuantizeReport
    all_int8: Model
    validation: Validation
    """The validation samples and their fp32 outputs (for checking the files elsewhere)."""
    calibration: Calibration | None = None


def quantize_mixed(
    model: Model,
    samples: Sequence[Sample],
    method: str,
    target: Target | float,
    *,
    metric: Metric | None = None,
    specs: dict[str, InputSpec] | None = None,
    input_type: str = "image",
    validation: float = DEFAULT_VALIDATION,
    threads: int = 1,
    fp32_storage: bool = False,
    progress: Progress | None = None,
) -> MixedResult:
    """Splits ``samples`` into calibration and validation (``validation`` of them, spread evenly;
    at most :data:`MAX_VALIDATION` validation samples are kept, so memory does not grow with the
    number of images), calibrates ``model`` (fp32) with ``method`` (a base method, or a recipe
    run by :func:`ncnnq.recipes.calibrate_model`) and every method of :data:`VARIANT_METHODS` on
    the calibration part, and runs :func:`search` on the validation part."""
    progress = progress or NoProgress()
    specs = specs or {}
    model.check_layer_names()  # here, naming the file's lines: a recipe's changed copy has other ones
    calibration, held = split_validation(list(samples), validation)
    if not held:
        raise InputError(
            f"{len(samples)} samples leave none to validate on: a target needs a validation split (val=0.2)"
        )
    tensors = [load_sample(s, specs, input_type) for s in spread(held, MAX_VALIDATION)]
    recipe: Calibration | None = None
    if changes_weights(method):
        # auto chooses on the same validation part; a recipe alone needs no score of its own.
        given, fraction = (samples, validation) if parse_method(method) is None else (calibration, 0.0)
        recipe = calibrate_model(model, list(given), method, validation=fraction, specs=specs,
                                 input_type=input_type, threads=threads, fp32=fp32_storage, progress=progress)
        reference = Validation(model, tensors, threads, fp32_storage=fp32_storage).reference
        tuned = recipe.model
        check = Validation(tuned, tensors, threads, fp32_storage=fp32_storage, reference=reference)
    else:
        tuned = model
        check = Validation(model, tensors, threads, fp32_storage=fp32_storage)
    made = calibrate_many(tuned, calibration, list(dict.fromkeys([method, *VARIANT_METHODS]) if recipe is None
                                                   else VARIANT_METHODS),
                          specs=specs, input_type=input_type, threads=threads, progress=progress)
    tables = {}
    for name, t in made.items():
        written = Table.parse(t.text())  # the scales as the table file holds them
        written.report = t.report
        tables[name] = written
    if recipe is not None:
        tables = {method: recipe.table, **tables}
    layers = [n for n in quantizable_layers(tuned) if f"{n}_param_0" in tables[method].weights]
    macs = layer_macs(tuned, tensors[0], layers)
    figure = target.metric if isinstance(target, Target) and metric is None else ""
    screening = check.subset(SCREENING_SAMPLES, check.weights(figure))
    finish = rebias = retune = None
    if recipe is not None:
        finish = _recipe_finish(recipe, calibration, specs, input_type, threads, progress)
        rebias = _shift_rebias(recipe)
        if _recipe(recipe).has("tune"):
            retune = _recipe_retune(recipe, calibration, specs, input_type, threads, progress)
    result = search(check, screening, tables, method, macs, target, metric=metric, progress=progress,
                    base=None if recipe is None else recipe.config(), finish=finish, rebias=rebias, retune=retune)
    full = Table(weights=dict(tables[method].weights), activations=dict(tables[method].activations))
    full.weights.update(result.table.weights)
    full.activations.update(result.table.activations)
    text = result.table_text(full)
    if recipe is None:
        int8, report = quantize(model, Table.parse(text))
        all_int8, _ = quantize(model, tables[method])
    else:
        # The written model is the probe's (the overrides are not in a table), as the search ran it.
        int8, report = check.probe.model(
            dict(result.config.weights), dict(result.config.activations), int8=sorted(result.config.int8),
            int8_weights=dict(result.config.int8_weights), biases=dict(result.config.biases))
        all_int8, _ = recipe.int8_model()
    return MixedResult(result, text, int8, report, all_int8, check, recipe)


def fp32_storage_default(method: str) -> bool:
    """Whether a target search from ``method`` stores the float arrays of the file it writes as fp32
    unless told (``fp32=``): yes from a method that changes the fp32 model (``cle``, ``shift``, and
    ``auto``, whose candidates do). The layers it keeps float are that changed model's: ``shift``
    adds c·Σw to a reader's fp32 bias, and a float reader's weights stored as fp16 no longer sum
    to what it compensates (``cle`` moves them off the fp16 grid the user's file may have had), an
    error c·Σ(w₁₆ − w) per channel. squeezenet_v1.1, every layer float, on the 250 even-indexed
    shared images: 61.2 dB with ``kl+cle``, 80.9 with ``kl+shift``, but 35.1 dB and 97.6 % top-1
    agreement from ``best+cle+shift+round+bc`` (its all-int8 model: 27.5 dB, 97.2 %), so floating
    layers could not buy a top-1 target back; with fp32 storage all float gives 80.3 dB, 100 %."""
    recipe = parse_method(method)
    return recipe is None or recipe.has("cle") or recipe.has("shift")


def _recipe(calibration: Calibration) -> Recipe:
    """The recipe that made ``calibration`` (``auto``'s choice for ``auto (best+cle+...)``)."""
    name = calibration.method
    chosen = parse_method(name[len(AUTO) + 2:-1] if name.startswith(AUTO + " (") else name)
    assert chosen is not None
    return chosen


def _recipe_finish(
    calibration: Calibration, samples: Sequence[Sample], specs: dict[str, InputSpec], input_type: str, threads: int,
    progress: Progress,
) -> Finish:
    """The recipe's last step for a configuration: its layer-by-layer pass (``round``, ``bc``, and
    the shifted readers' compensation) over the configuration's int8 layers and scales, float
    layers left out; without ``round`` and ``bc``, the shifted readers' compensation alone. Each
    layer's decision is kept by what it was made from (:func:`_inputs_key`), so a pass decides
    again only the layers whose inputs changed: those after the first layer whose precision or
    scales differ from an earlier pass's."""
    chosen = _recipe(calibration)
    shifts = calibration.shift.shifts if calibration.shift is not None else {}
    decoded: list[Tensors] = []
    rounding, bias = chosen.has("round"), chosen.has("bc")
    decided: dict[bytes, Decision] = {}

    def visit(inputs: LayerInputs) -> Decision:
        # The search judges many sets of float layers; a layer before the first one that changed
        # receives the same inputs as in an earlier pass, and its decision is that pass's.
        key = _inputs_key(inputs)
        if key not in decided:
            decided[key] = refine_layer(inputs, rounding, bias)
        return decided[key]

    def finish(config: Config) -> Config:
        table = Table(weights={k: v for k, v in config.weights.items() if k.rsplit("_param_", 1)[0] in config.int8},
                      activations={k: v for k, v in config.activations.items() if k in config.int8})
        kept = {k: c for k, c in shifts.items() if k in config.int8}
        if rounding or bias:
            if not decoded:
                chosen_samples = spread(samples, LAYERWISE_SAMPLES)
                decoded.extend(decode_all(lambda s: load_sample(s, specs, input_type), chosen_samples, threads))
            overrides = layerwise(calibration.model, table, decoded, visit, shifts=kept, threads=threads,
                                  fp32=calibration.fp32, progress=progress)
        else:
            overrides = Overrides(biases=_compensations(calibration.model, table, kept))
        return Config(config.weights, config.activations, config.int8, overrides.weights, overrides.biases)

    return finish


def _recipe_retune(
    calibration: Calibration, samples: Sequence[Sample], specs: dict[str, InputSpec], input_type: str, threads: int,
    progress: Progress,
) -> Finish:
    """``tune`` (:mod:`ncnnq.methods.tuning`) of a configuration's int8 input scales, its float
    layers float and its int8 weights and biases in place, on the calibration samples other than
    those the layer-by-layer pass fits on (as the recipe's ``tune``)."""
    decoded: list[Tensors] = []

    def retune(config: Config) -> Config:
        if not decoded:
            fitted = {id(s) for s in spread(samples, LAYERWISE_SAMPLES)}
            rest = [s for s in samples if id(s) not in fitted] or list(samples)
            decoded.extend(decode_all(lambda s: load_sample(s, specs, input_type), spread(rest, tuning.MAX_SAMPLES),
                                      threads))
        table = Table(weights=dict(config.weights),
                      activations={k: v for k, v in config.activations.items() if k in config.int8})
        overrides = Overrides(dict(config.int8_weights), dict(config.biases))
        tuning.tune(calibration.model, table, overrides, decoded, threads, calibration.fp32, progress)
        return replace(config, activations={**config.activations, **table.activations})

    return retune


def _inputs_key(inputs: LayerInputs) -> bytes:
    """A digest of everything a layer's decision in the layer-by-layer pass is made from: the
    layer, its scales and input shift, its int8-path inputs, and the positions they were sampled
    at (which fix its fp32-path inputs and outputs: the fp32 model is the same in every pass).
    Equal inputs: the layers before it were int8 and float alike, with equal decisions."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(inputs.name.encode())
    digest.update(np.array([inputs.input_scale, inputs.input_shift], dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(inputs.weight_scales, dtype=np.float32).tobytes())
    parts = [inputs.fp32.positions, inputs.int8.positions, inputs.int8.x]
    if inputs.sample_of is not None:  # rounding judges its choice per sample: part of what it decides from
        parts.append(inputs.sample_of)
    for part in parts:
        array = np.ascontiguousarray(part)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.digest()


def _shift_rebias(calibration: Calibration) -> Rebias | None:
    """A shifted reader's int8 bias for other weight scales: the compensation of the shift's
    constant through those scales' rounding (what the recipe's own scales got)."""
    if calibration.shift is None:
        return None
    shifts = calibration.shift.shifts

    def rebias(layer: str, v: Variant) -> npt.NDArray[np.float32] | None:
        if layer not in shifts:
            return None
        table = Table(weights={f"{layer}_param_0": v.weights}, activations={layer: v.activation})
        return _compensations(calibration.model, table, {layer: shifts[layer]})[layer]

    return rebias
