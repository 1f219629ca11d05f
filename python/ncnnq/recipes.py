"""Running a method with its techniques (``best+cle+shift+round+bc``, ``auto``): the samples split
into a calibration and a validation part, the fp32 model equalized and shifted, the table
calibrated, weights rounded and biases corrected layer by layer, the result scored on the
validation part; ``auto`` runs several and keeps the best. The result, a :class:`Calibration`, is
written as a plain ncnn int8 model through the network probe, so what was searched and scored is
what the file holds.

Order of the steps, each optional but the table: equalization (``cle``, changes the fp32 model,
so before the statistics), the base method's table, the shift (``shift``, changes the model and
the readers' scales), then one layer-by-layer pass for rounding (``round``) and bias correction
(``bc``), which also gives shifted readers their exact compensation.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # no type information

from . import _native
from ._native import LayerProbe, Model, QuantizeReport
from .calibrate import calibrate_many, calibrated_layers
from .errors import InputError
from .evaluate import Outputs, Quality
from .graph import fp32_copy
from .images import InputSpec
from .methods import eq, equalization, shift, tuning
from .methods.bias_correction import corrected_bias
from .methods.layerwise import MAX_SAMPLES as LAYERWISE_SAMPLES
from .methods.layerwise import Decision, LayerInputs, Overrides, layerwise
from .methods.registry import AUTO, Recipe, parse_method
from .methods.rounding import held_out, learned_weights, weight_limits
from .methods.weights import winograd_fits
from .progress import NoProgress, Progress
from .samples import Sample, Tensors, decode_all, load_sample, split_validation, spread
from .table import Table
from .validation import Config, Validation

DEFAULT_VALIDATION = 0.2
MAX_VALIDATION = 100
"""Validation samples kept (spread over the validation part): enough to rank methods, and the
fp32 outputs they need stay bounded whatever the number of images."""
SEARCHED = ("eq", "best")
"""Base methods whose scales are searched on the int8 layers' outputs (methods/eq.py)."""
AUTO_CANDIDATES = ("kl", "best+cle+shift+bc", "best+cle+shift+round+bc", "best+cle+shift+round+bc+tune")
"""What ``auto`` tries, in this order (ties keep the earlier): ncnn's kl, so that auto is never
worse than it on the validation samples (its table comes from the statistics pass the others
share), the strongest setting without ``round``, and with it without and with ``tune``, which
starts from the other's result: about one strongest calibration's time, plus a layer-by-layer
pass without rounding, ``tune`` and four validation runs. ``round`` and ``tune`` gain on some
models and lose on others (``round`` lowers a classifier's expected top-1 agreement while it
raises its SQNR, ``tune`` fits its few samples), hence each with and without."""
METRICS = ("top1", "sqnr", "cos")


def classifier_output(outputs: Outputs) -> bool:
    """A single output holding one vector of scores (``(n,)`` or ``(n, 1, 1)``, n > 1)."""
    if len(outputs) != 1:
        return False
    shape = next(iter(outputs.values())).shape
    size = int(np.prod(shape))
    return size > 1 and max(shape) == size


@dataclass(frozen=True)
class Score:
    """A configuration's validation figures: ``metric``'s value, and the quality behind it."""

    metric: str
    quality: Quality
    classifier: bool = False
    """Whether the model's output is one vector of scores (top-1 agreement is then shown)."""

    @property
    def value(self) -> float:
        return self.quality.value(self.metric)

    def key(self) -> tuple[float, float]:
        """Sort key, larger is better: the metric, then the mean output SQNR, which breaks its ties
        (top-1 agreement moves in steps of one sample)."""
        finer = self.quality.sqnr_mean
        return (self.value, finer if math.isfinite(finer) else math.copysign(1e9, finer))

    def __str__(self) -> str:
        q = self.quality
        top1 = f"top-1 agreement {q.top1:.1%}, " if self.classifier or self.metric == "top1" else ""
        cos = f"cosine min {q.cosine_min:.5f}, " if self.metric == "cos" else ""
        return f"{top1}{cos}output SQNR mean {q.sqnr_mean:.2f} dB, worst {q.sqnr_worst:.2f} dB ({q.samples} samples)"


@dataclass
class Calibration:
    """A calibrated model: the fp32 model the table belongs to (equalized and shifted when those
    techniques ran: it computes the same function as the input), the table as its file holds it,
    the int8 weights and biases that replace ncnn2int8's, and the validation score."""

    method: str
    model: Model
    table: Table
    overrides: Overrides = field(default_factory=Overrides)
    validation: Score | None = None
    candidates: list[tuple[str, Score]] = field(default_factory=list)
    """``auto``: every candidate's validation score, in the order tried."""
    equalization: equalization.Report | None = None
    shift: shift.Report | None = None
    tuning: tuning.Report | None = None
    fp32: bool = False
    """Float arrays of the int8 model stored as fp32 (else fp16, as ncnn2int8)."""

    def config(self) -> Config:
        """Every layer of the table int8, with the overrides."""
        return Config(self.table.weights, self.table.activations, frozenset(self.table.activations),
                      self.overrides.weights, self.overrides.biases)

    def int8_model(self) -> tuple[Model, QuantizeReport]:
        """The int8 model the probe simulated: ncnn2int8's rewrite with the table, then the
        learned int8 weights and corrected biases in place of its own."""
        probe = _native.NetworkProbe(self.model, threads=1, fp32=self.fp32)
        return probe.model(dict(self.table.weights), dict(self.table.activations),
                           int8_weights=dict(self.overrides.weights), biases=dict(self.overrides.biases))

    def reproducible_model(self) -> Model:
        """An fp32 model from which ``ncnnq int8`` (or ncnn2int8) and this table make exactly
        :meth:`int8_model`: the overridden weights replaced by their int8 values over their
        scales (which quantize back to them), the overridden biases written in."""
        out = fp32_copy(self.model)
        for name, q in self.overrides.weights.items():
            scales = np.repeat(np.asarray(self.table.weights[f"{name}_param_0"], dtype=np.float32),
                               LayerProbe(out, name).outputs_per_scale)
            w = q.astype(np.float32) / scales[:, None]
            out.layer(name).set_weight("weight", w.astype(np.float64).ravel())
        for name, b in self.overrides.biases.items():
            out.layer(name).set_weight("bias", np.asarray(b, dtype=np.float64))
        return out


def _learned(inputs: LayerInputs, nearest: npt.NDArray[np.int8], centered: bool) -> npt.NDArray[np.int8]:
    """Learned rounding, with the output channels whose learned weights would not be safe for
    ncnn's int8 Winograd kernel (3x3 stride 1 beyond ±31) back at their nearest rounding."""
    learned = learned_weights(inputs, centered=centered)
    if inputs.probe.six_bit and weight_limits(inputs, nearest).max() > 31:
        fits = winograd_fits(learned.reshape(learned.shape[0], -1, 3, 3))
        learned = np.where(fits[:, None], learned, nearest).astype(np.int8)
    return learned


def refine_layer(inputs: LayerInputs, rounding: bool, bias: bool) -> Decision:
    """One layer of the layer-by-layer pass: nearest and (``rounding``) learned int8 weights,
    each with its exact shift compensation and (``bias``) corrected bias; each output channel
    keeps the weights and bias whose int8 outputs follow the fp32 ones best on positions the
    rounding search did not see."""
    nearest = inputs.nearest()
    judge = held_out(inputs) if rounding else np.ones(inputs.int8.columns, dtype=bool)

    def candidate(learned: bool) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        q = _learned(inputs, nearest, bias) if learned else nearest
        b = inputs.base_bias(q)
        if bias:
            b = corrected_bias(inputs, q, b)
        d = inputs.outputs(q, b) - inputs.reference
        return q, b, (d[:, judge] ** 2).mean(axis=1)

    if rounding and inputs.threads > 1:
        # The learned candidate's search (numpy, one thread) runs beside the nearest one's bias
        # correction (the probe's simulations): each computes what it computed alone, so the
        # decision is the same; squeezenet_v1.1's pass (500 images, 2 threads,
        # 4 alternated runs) took 2.0–2.6 instead of 2.9–3.3 s.
        for cached in ("fp32_preactivation", "quantized_input", "reference", "weights", "bias"):
            getattr(inputs, cached)  # computed once, before both threads read them
        with ThreadPoolExecutor(max_workers=1) as pool:
            learned = pool.submit(candidate, True)
            results = [candidate(False), learned.result()]
    else:
        results = [candidate(False), *([candidate(True)] if rounding else [])]
    best_q, best_b, best_e = results[0]
    for q, b, e in results[1:]:
        better = e < best_e
        best_q = np.where(better[:, None], q, best_q).astype(np.int8)
        best_b = np.where(better, b, best_b)
        best_e = np.where(better, e, best_e)
    changed_weights = not np.array_equal(best_q, nearest)
    changed_bias = bias or inputs.input_shift != 0.0
    return Decision(best_q if changed_weights else None, best_b.astype(np.float32) if changed_bias else None)


def _compensations(model: Model, table: Table, shifts: dict[str, float]) -> dict[str, npt.NDArray[np.float32]]:
    """Shifted readers' int8 biases for ncnn2int8's weights, without a layer-by-layer pass."""
    out = {}
    for name, c in shifts.items():
        probe = LayerProbe(model, name)
        ws = np.asarray(table.weights[f"{name}_param_0"], dtype=np.float32)
        q = probe.quantize_weights(ws).astype(np.float64)
        units = np.repeat(ws.astype(np.float64), probe.outputs_per_scale)
        w = probe.weights.reshape(probe.num_output, -1).astype(np.float64)
        b = np.zeros(probe.num_output) if probe.bias is None else probe.bias.astype(np.float64)
        out[name] = (b + c * (q / units[:, None] - w).sum(axis=1)).astype(np.float32)
    return out


@dataclass
class _Run:
    """What every candidate of one calibration shares: the samples, decoded ones, the equalized
    model, the tables, the validation samples and their fp32 outputs."""

    model: Model
    calibration: list[Sample]
    load: Callable[[Sample], Tensors]
    specs: dict[str, InputSpec]
    input_type: str
    threads: int
    progress: Progress
    fp32: bool
    validation: Validation | None
    metric: str
    bases: Sequence[str]
    """The base methods every candidate needs, calibrated in one statistics pass per model."""
    _models: dict[bool, tuple[Model, equalization.Report | None]] = field(default_factory=dict)
    _tables: dict[tuple[bool, bool, str], Table] = field(default_factory=dict)
    _decoded: dict[int, list[Tensors]] = field(default_factory=dict)
    _tuning: list[Tensors] | None = None
    _results: dict[Recipe, Calibration] = field(default_factory=dict)
    """Calibrations without ``tune``, scored, by recipe: what a ``tune`` candidate starts from."""

    def decoded(self, count: int) -> list[Tensors]:
        """``count`` calibration samples spread over them (what equalization, eq's search and the
        layer-by-layer pass look at), decoded once per count."""
        if count not in self._decoded:
            self._decoded[count] = decode_all(self.load, spread(self.calibration, count), self.threads)
        return self._decoded[count]

    def tuning_samples(self) -> list[Tensors]:
        """Calibration samples for ``tune``, other than those of :meth:`decoded` where there are
        enough: the layer-by-layer pass fitted rounding and biases to those."""
        if self._tuning is None:
            fitted = {id(s) for s in spread(self.calibration, LAYERWISE_SAMPLES)}
            rest = [s for s in self.calibration if id(s) not in fitted] or list(self.calibration)
            self._tuning = decode_all(self.load, spread(rest, tuning.MAX_SAMPLES), self.threads)
        return self._tuning

    def base_model(self, cle: bool) -> tuple[Model, equalization.Report | None]:
        if cle not in self._models:
            if cle:
                self.progress.start("equalizing channels", None)
                samples = self.decoded(equalization.MAX_SAMPLES)
                self._models[cle] = equalization.equalize(self.model, samples, self.threads)
                self.progress.finish()
            else:
                self._models[cle] = (self.model, None)
        return self._models[cle]

    def table(self, cle: bool, base: str, refine: bool) -> Table:
        """The base method's table for the (equalized) model; ``refine``: with its search (eq's)."""
        if (cle, refine, base) not in self._tables:
            model, _ = self.base_model(cle)
            bases = list(dict.fromkeys([base, *self.bases]))
            made = calibrate_many(model, self.calibration, bases, specs=self.specs, input_type=self.input_type,
                                  threads=self.threads, progress=self.progress, refine=refine)
            self._tables.update({(cle, refine, b): t for b, t in made.items()})
        return self._tables[(cle, refine, base)]

    def run(self, recipe: Recipe) -> Calibration:
        """``recipe``'s calibration, scored; a ``tune`` recipe starts from its recipe without
        ``tune``, run once for every candidate that needs it (``auto`` tries both)."""
        if recipe.has("tune"):
            untuned = self.untuned(recipe)
            table = copy.deepcopy(untuned.table)  # the untuned candidate keeps its own
            report = tuning.tune(untuned.model, table, untuned.overrides, self.tuning_samples(), self.threads,
                                 self.fp32, self.progress)
            result = replace(untuned, method=str(recipe), table=table, tuning=report, validation=None)
        else:
            result = self.untuned(recipe)
        if self.validation is not None and result.validation is None:
            result.validation = self.score(result)
        return result

    def untuned(self, recipe: Recipe) -> Calibration:
        """``recipe`` without ``tune``, calibrated once (what a ``tune`` candidate starts from)."""
        plain = Recipe(recipe.base, recipe.techniques - {"tune"})
        if plain not in self._results:
            self._results[plain] = self._calibrate(plain)
        return self._results[plain]

    def _calibrate(self, recipe: Recipe) -> Calibration:
        model, eq_report = self.base_model(recipe.has("cle"))
        # A searched base (eq, best) searches after the shift: shifted inputs have twice the levels,
        # which moves the best clipping point.
        table = self.table(recipe.has("cle"), recipe.base, refine=not recipe.has("shift"))
        shift_report = None
        if recipe.has("shift"):
            lows = shift.lower_bounds(model, self.decoded(equalization.MAX_SAMPLES), self.threads)
            model, table, shift_report = shift.shift(model, table, lows)
            if recipe.base in SEARCHED:
                eq.equalize(model, calibrated_layers(model), table, self.decoded(eq.MAX_SAMPLES), self.threads,
                            self.progress)
        shifts = shift_report.shifts if shift_report else {}
        if recipe.has("round") or recipe.has("bc"):
            rounding, bias = recipe.has("round"), recipe.has("bc")
            overrides = layerwise(model, table, self.decoded(LAYERWISE_SAMPLES),
                                  lambda i: refine_layer(i, rounding, bias), shifts=shifts, threads=self.threads,
                                  fp32=self.fp32, progress=self.progress)
        else:
            overrides = Overrides(biases=_compensations(model, table, shifts))
        return Calibration(str(recipe), model, table, overrides, equalization=eq_report, shift=shift_report,
                           fp32=self.fp32)

    def score(self, result: Calibration) -> Score:
        """``result`` on the validation samples, run as its int8 file runs."""
        assert self.validation is not None
        check = self.validation
        if result.model is not check.model:
            check = Validation(result.model, check.samples, self.threads, fp32_storage=self.fp32,
                               reference=check.reference)
        self.progress.start(f"validating {result.method}", None)
        quality = check.measure([result.config()])[0]
        self.progress.finish()
        return Score(self.metric, quality, classifier_output(check.reference[0]))


def calibrate_model(
    model: Model,
    inputs: Sequence[Sample],
    method: str = "kl",
    *,
    validation: float = DEFAULT_VALIDATION,
    metric: str | None = None,
    specs: dict[str, InputSpec] | None = None,
    input_type: str = "image",
    threads: int = 1,
    fp32: bool = False,
    progress: Progress | None = None,
) -> Calibration:
    """Calibrates ``model`` (fp32) with ``method`` (a base method, techniques added with ``+``, or
    ``auto``) on ``inputs``. A fraction ``validation`` of the samples, spread over them, is kept out
    of calibration and scores the result (``metric``: ``sqnr``, the worst output's pooled SQNR,
    ``top1`` or ``cos``; by default ``top1`` for a classifier and ``sqnr`` otherwise, see
    :func:`_metric`; ties go to the higher mean output SQNR). ``fp32``: the int8 model stores
    float arrays as fp32.

    numpy's BLAS runs one thread per calling thread here: OpenBLAS would start one per core and
    keep them spinning between the searches' many small products, beside ncnnq's own ``threads``
    (squeezenet_v1.1, 500 images, 2 threads: 14 s of CPU instead of 9), and its result would depend
    on the machine's core count."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _calibrate_model(model, inputs, method, validation=validation, metric=metric, specs=specs,
                                input_type=input_type, threads=threads, fp32=fp32, progress=progress)


def _calibrate_model(
    model: Model,
    inputs: Sequence[Sample],
    method: str,
    *,
    validation: float,
    metric: str | None,
    specs: dict[str, InputSpec] | None,
    input_type: str,
    threads: int,
    fp32: bool,
    progress: Progress | None,
) -> Calibration:
    recipe = parse_method(method)
    progress = progress or NoProgress()
    specs = specs or {}
    if not inputs:
        raise InputError("no calibration samples")
    calibration, held = split_validation(list(inputs), validation)
    if not held and recipe is None:
        raise InputError(f"method {AUTO} chooses on validation samples: give a validation fraction > 0")

    def load(sample: Sample) -> Tensors:
        return load_sample(sample, specs, input_type)

    check = None
    if held:
        check = Validation(model, decode_all(load, spread(held, MAX_VALIDATION), threads), threads, fp32_storage=fp32)
    chosen = _metric(metric, check is not None and classifier_output(check.reference[0]))
    recipes = [recipe] if recipe is not None else [r for r in map(parse_method, AUTO_CANDIDATES) if r is not None]
    bases = list(dict.fromkeys(r.base for r in recipes))
    run = _Run(model, calibration, load, specs, input_type, threads, progress, fp32, check, chosen, bases)
    if recipe is not None:
        return run.run(recipe)
    return _auto(run, recipes)


def _metric(metric: str | None, classifier: bool) -> str:
    """The figure candidates are ranked by unless told otherwise: for a ``classifier`` (one output,
    one vector of scores) the top-1 agreement, as the lower of the agreement counted and the one
    expected from each sample's margins (smooth in the noise, unlike the count on a few dozen
    samples); else the worst output's pooled SQNR. A softmax's SQNR is set by the confident
    samples' winners, not by the close calls that flip: on squeezenet_v1.1 (calibrated on 125 of
    the even-indexed shared images, measured on the other 125) ``round`` raised it by 0.4 dB
    while the expected agreement fell from 98.1 % to 97.6 %."""
    if metric is None:
        return "top1" if classifier else "sqnr"
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    return metric


TUNE_TIE_DB = 0.05
"""``auto``: a ``tune`` candidate is kept over the candidate it started from unless it scores
lower on the validation samples by more than this (dB of the ranking SQNR). ``tune`` moved a
scale only for a gain of ``tuning.MIN_GAIN`` on samples of its own, other than the validation
ones; a validation difference smaller than this says nothing against that evidence (on nanodet_m
a 0.01 dB validation loss kept the untuned candidate)."""


def _prefer(result: Calibration, best: Calibration, base: Calibration | None, metric: str) -> bool:
    """Whether ``auto`` keeps ``result`` rather than the best so far: a higher validation score,
    or, for a ``tune`` candidate against ``base`` (the calibration it started from) being the
    best, a ranking SQNR within :data:`TUNE_TIE_DB` of it."""
    assert result.validation is not None and best.validation is not None
    if result.validation.key() > best.validation.key():
        return True
    if base is not best or metric != "sqnr" or result.tuning is None:
        return False
    ours, theirs = result.validation.quality, best.validation.quality
    return (ours.sqnr_worst >= theirs.sqnr_worst - TUNE_TIE_DB
            and ours.sqnr_mean >= theirs.sqnr_mean - TUNE_TIE_DB)


def _auto(run: _Run, recipes: Sequence[Recipe]) -> Calibration:
    """Each candidate recipe, keeping the best validation score (the earlier on a tie, but for a
    ``tune`` candidate: :func:`_prefer`)."""
    best: Calibration | None = None
    scores: list[tuple[str, Score]] = []
    for recipe in recipes:
        result = run.run(recipe)
        assert result.validation is not None
        scores.append((result.method, result.validation))
        base = run.untuned(recipe) if recipe.has("tune") else None
        if best is None or _prefer(result, best, base, run.metric):
            best = result
    assert best is not None
    best.candidates = scores
    best.method = f"{AUTO} ({best.method})"
    return best
