"""``ncnnq analyze``: which layers break int8, measured on the model's outputs.

Per quantizable layer, in network order: its share of the model's MACs; its activation and weight
scales, the fraction of its inputs the activation threshold clips, the rounding error of its int8
weights (and what ncnn's 6-bit rule for 3x3 stride-1 convolutions costs there); and the model's
output SQNR and cosine against fp32 when **only** this layer is int8 (*isolated*), when **every
layer up to it** is int8 (*cumulative*), and when **only it** is kept float in an otherwise int8
model (its *float gain*: that SQNR minus the all-int8 one).

Every figure is ncnn's int8 arithmetic as the written file runs (the network probe: see
:mod:`ncnnq.validation`), on validation samples that took no part in calibration. The runs start
from cached activations: one all-float pass per sample feeds every configuration at its first
int8 layer. Their number per sample is about three times the layer count, so the figures use an
evenly spread subset of the validation samples sized to keep the report within
:data:`TIME_BUDGET` kl tables' time (see :func:`analysis_samples`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._native import LayerProbe, Model
from .calibrate import calibrate, thread_count
from .errors import InputError
from .evaluate import Quality
from .images import InputSpec
from .progress import NoProgress, Progress
from .samples import Sample, load_sample, samples_from, split_validation, spread
from .table import Table
from .validation import Config, Validation, layer_macs, quantizable_layers

TIME_BUDGET = 5.0
"""The whole report (calibration included) should take at most this many times a kl table on the
same images."""
SIZING_SHARE = 0.8
"""The share of that budget the sample count is sized for: the run count leaves out fixed costs
(start-up, decoding the validation images, the MACs pass, writing the JSON and PNG), which took a
tenth of the budget on squeezenet_v1.1 with 250 images."""
TABLE_RUNS_PER_IMAGE = 1.2
"""A kl table's cost per image, in fp32 network runs (the histogram pass costs about a fifth more)."""
MIN_SAMPLES = 2
DEFAULT_VALIDATION = 0.2
SCHEMA = "ncnnq.analysis/1"

NOTHING_COVERED = "the table covers none of the model's Convolution, ConvolutionDepthWise and InnerProduct layers"


@dataclass(frozen=True)
class Figures:
    """How the model's outputs follow fp32 for one configuration. ``sqnr_db``: the worst output's
    SQNR pooled over the samples (``inf``: identical outputs); ``cosine``: the mean over outputs of
    their mean cosine; ``cosine_min``: the lowest of any output and sample; ``top1``: agreement of
    the first output's arg-max."""

    sqnr_db: float
    cosine: float
    cosine_min: float
    top1: float

    @staticmethod
    def of(q: Quality) -> Figures:
        return Figures(q.sqnr_worst, q.cosine_mean, q.cosine_min, q.top1)


@dataclass(frozen=True)
class LayerAnalysis:
    name: str
    type: str
    macs: int
    mac_share: float
    """Of the quantizable layers' MACs."""
    activation_scale: float
    threshold: float
    """127 / activation_scale: inputs beyond ±threshold are clipped."""
    clipped: float
    """Fraction of the layer's input values (on the analysed samples) beyond the threshold."""
    weight_scale_min: float
    weight_scale_max: float
    weight_sqnr_db: float
    """fp32 weights against their int8 rounding, 10·log10(Σw² / Σ(w − q/s)²)."""
    six_bit: bool
    """A 3x3 stride-1 convolution: ncnn2table keeps its weights within ±31."""
    weight_sqnr_db_8bit: float | None
    """For a six-bit layer, its weight SQNR with the full ±127 range (the rule's cost is the
    difference)."""
    isolated: Figures
    cumulative: Figures
    float_kept: Figures
    """Every other layer int8, this one float."""

    def float_gain(self, all_int8: Figures) -> float:
        """dB the output SQNR gains when only this layer is kept float."""
        return _difference(self.float_kept.sqnr_db, all_int8.sqnr_db)


def _difference(a: float, b: float) -> float:
    if math.isinf(a) and math.isinf(b):
        return 0.0 if a == b else a
    return a - b


@dataclass(frozen=True)
class Analysis:
    layers: tuple[LayerAnalysis, ...]
    all_int8: Figures
    outputs: tuple[str, ...]
    method: str
    """How the table was made (``table`` when given)."""
    calibration_samples: int
    validation_samples: int
    analysed_samples: int
    seconds: float

    def float_gain(self, layer: LayerAnalysis) -> float:
        return layer.float_gain(self.all_int8)

    def worst(self, count: int = 5) -> list[LayerAnalysis]:
        """The layers with the lowest isolated SQNR, worst first."""
        return sorted(self.layers, key=lambda r: (r.isolated.sqnr_db, -r.mac_share))[:count]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (schema ``ncnnq.analysis/1``): non-finite SQNRs become
        ``null`` (``+inf``: outputs identical to fp32)."""
        layers = []
        for r in self.layers:
            row = _finite(asdict(r))
            row["float_gain_db"] = _number(self.float_gain(r))
            layers.append(row)
        return {
            "schema": SCHEMA,
            "method": self.method,
            "outputs": list(self.outputs),
            "samples": {
                "calibration": self.calibration_samples,
                "validation": self.validation_samples,
                "analysed": self.analysed_samples,
            },
            "seconds": round(self.seconds, 3),
            "all_int8": _finite(asdict(self.all_int8)),
            "layers": layers,
        }


def _number(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _finite(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _finite(v) if isinstance(v, Mapping) else _number(v) if isinstance(v, float) else v for k, v in d.items()
    }


# --- what the layers are ---------------------------------------------------------------------------


def _weight_sqnr(probe: LayerProbe, scales: np.ndarray) -> float:
    w = probe.weights.astype(np.float64)
    q = probe.quantize_weights(scales).astype(np.float64).reshape(w.shape)
    s = np.asarray(scales, dtype=np.float64).reshape(-1, 1)
    s = np.where(np.isfinite(s) & (s > 0), s, 1.0)
    noise = float(((w - q / s) ** 2).sum())
    signal = float((w * w).sum())
    return math.inf if noise == 0 else -math.inf if signal == 0 else 10 * math.log10(signal / noise)


def _static(model: Model, table: Table, name: str) -> tuple[float, float, float, bool, float | None]:
    """(weight scale min, max, weight SQNR, six-bit, weight SQNR at ±127) of one layer."""
    probe = LayerProbe(model, name)
    scales = np.asarray(table.weights[f"{name}_param_0"], dtype=np.float32)
    eight_bit = None
    if probe.six_bit:
        absmax = np.abs(probe.weights).max(axis=1)
        full = np.where(absmax > 0, np.float32(127) / np.maximum(absmax, 1e-30), 1).astype(np.float32)
        eight_bit = _weight_sqnr(probe, full)
    return float(scales.min()), float(scales.max()), _weight_sqnr(probe, scales), probe.six_bit, eight_bit


# --- how many samples ------------------------------------------------------------------------------


def analysis_samples(
    images: int, calibrated: int, validation: int, run_costs: Sequence[float],
    budget: float = TIME_BUDGET * SIZING_SHARE,
) -> int:
    """How many validation samples keep the report within ``budget`` kl tables' time on ``images``
    images: a table costs :data:`TABLE_RUNS_PER_IMAGE` runs per image, the calibration (when the
    report makes its table) that on ``calibrated`` images, and each analysed sample two fp32 passes
    plus its configurations' ``run_costs`` (each a fraction of a whole run: the MACs after its
    first int8 layer)."""
    table = TABLE_RUNS_PER_IMAGE * images
    per_sample = 2.0 + float(sum(run_costs))
    n = int((budget * table - TABLE_RUNS_PER_IMAGE * calibrated) // per_sample)
    return max(min(MIN_SAMPLES, validation), min(n, validation))


# --- the report ------------------------------------------------------------------------------------


def _configs(table: Table, layers: Sequence[str]) -> tuple[Config, list[Config], list[Config], list[Config]]:
    base = Config(dict(table.weights), dict(table.activations), frozenset(layers))
    isolated = [base.with_int8([name]) for name in layers]
    cumulative = [base.with_int8(layers[: k + 1]) for k in range(len(layers))]
    kept = [base.with_int8([m for m in layers if m != name]) for name in layers]
    return base, isolated, cumulative, kept


def analyze_on(
    model: Model,
    table: Table,
    validation: Validation,
    *,
    method: str = "table",
    calibration_samples: int = 0,
    validation_samples: int | None = None,
    macs: Mapping[str, int] | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """The report of ``table`` on ``model`` over the samples ``validation`` holds (``macs``: each
    layer's MACs, when already known)."""
    progress = progress or NoProgress()
    started = time.perf_counter()
    layers = [name for name in quantizable_layers(model) if f"{name}_param_0" in table.weights
              and name in table.activations]
    if not layers:
        raise InputError(NOTHING_COVERED)
    base, isolated, cumulative, kept = _configs(table, layers)
    inputs = {name: model.layer(name).bottoms[0] for name in layers}
    thresholds = {name: 127.0 / float(table.activations[name]) for name in layers}
    clipped = {name: [0, 0] for name in layers}

    def count_clipped(_: int, blobs: Mapping[str, np.ndarray]) -> None:
        for name in layers:
            x = blobs[inputs[name]]
            counts = clipped[name]
            counts[0] += int(np.count_nonzero(np.abs(x) > thresholds[name]))
            counts[1] += int(x.size)

    configs = [base, *isolated, *cumulative, *kept]
    progress.start(f"analyze: {len(configs)} configurations", len(validation.samples))
    qualities = validation.measure(configs, inspect=sorted(set(inputs.values())), observe=count_clipped,
                                   advance=progress.advance)
    progress.finish()
    figures = [Figures.of(q) for q in qualities]
    n = len(layers)
    all_int8, iso, cum, kep = figures[0], figures[1 : n + 1], figures[n + 1 : 2 * n + 1], figures[2 * n + 1 :]
    if macs is None:
        macs = layer_macs(model, validation.samples[0], layers)
    total = float(sum(macs[name] for name in layers)) or 1.0
    rows = []
    for k, name in enumerate(layers):
        w_min, w_max, w_sqnr, six_bit, w_sqnr8 = _static(model, table, name)
        c = clipped[name]
        rows.append(LayerAnalysis(
            name, model.layer(name).type, macs[name], macs[name] / total, float(table.activations[name]),
            thresholds[name], c[0] / max(1, c[1]), w_min, w_max, w_sqnr, six_bit, w_sqnr8, iso[k], cum[k], kep[k],
        ))
    return Analysis(
        tuple(rows), all_int8, tuple(validation.outputs), method, calibration_samples,
        validation_samples if validation_samples is not None else len(validation.samples),
        len(validation.samples), time.perf_counter() - started,
    )


def run_costs(layers: Sequence[str], macs: Mapping[str, int]) -> list[float]:
    """Each of the report's configurations' share of a whole run: the MACs from its first int8
    layer on (all-int8, isolated, cumulative, kept float; as :func:`analyze_on` orders them)."""
    total = float(sum(macs[name] for name in layers)) or 1.0
    after = {}
    remaining = total
    for name in layers:
        after[name] = remaining / total
        remaining -= macs[name]
    whole = after[layers[0]]
    second = after[layers[1]] if len(layers) > 1 else 0.0
    kept = [second if k == 0 else whole for k in range(len(layers))]
    return [whole] + [after[name] for name in layers] + [whole] * len(layers) + kept


def analyze(
    model: Model,
    inputs: Iterable[object],
    method: str = "kl",
    *,
    table: Table | None = None,
    specs: dict[str, InputSpec] | Sequence[InputSpec] | None = None,
    input_type: str = "image",
    validation: float = DEFAULT_VALIDATION,
    samples: int | None = None,
    threads: int | None = None,
    fp32_storage: bool = False,
    progress: Progress | None = None,
) -> Analysis:
    """Calibrates ``model`` with ``method`` on part of ``inputs`` (unless ``table`` is given) and
    reports every quantizable layer on the rest (the ``validation`` fraction, spread evenly through
    the inputs). ``samples``: how many validation samples the per-layer figures use (default: as
    many as keep the report within :data:`TIME_BUDGET` kl tables' time, see
    :func:`analysis_samples`). ``fp32_storage``: judge the files ``--fp32`` writes (float layers'
    weights fp32 rather than fp16). ``threads``: 1 to ``MAX_THREADS`` (default: every core). A
    model in which two layers share a name is refused (tables key layers by name)."""
    progress = progress or NoProgress()
    threads = thread_count(threads)
    model.check_layer_names()
    if isinstance(specs, Sequence):
        specs = dict(zip(model.inputs, specs))
    specs = specs or {}
    all_samples: list[Sample] = list(samples_from(model, inputs))
    calibration, held = split_validation(all_samples, validation)
    if not held:
        raise InputError(
            f"{len(all_samples)} samples leave none for validation: give more, or a larger validation fraction"
        )
    if samples is not None and samples < 1:
        raise InputError(f"samples={samples}: at least one validation sample is needed")
    if table is None:
        table = calibrate(model, calibration, method, specs=specs, input_type=input_type, threads=threads,
                          progress=progress)
        table = Table.parse(table.text())  # the scales as the written table holds them
    else:
        method = "table"
    layers = [n for n in quantizable_layers(model) if f"{n}_param_0" in table.weights and n in table.activations]
    if not layers:
        raise InputError(NOTHING_COVERED)
    first = load_sample(held[0], specs, input_type)
    macs = layer_macs(model, first, layers)
    if samples is None:
        calibrated = len(calibration) if method != "table" else 0
        samples = analysis_samples(len(all_samples), calibrated, len(held), run_costs(layers, macs))
    tensors = [load_sample(s, specs, input_type) for s in spread(held, samples)]
    check = Validation(model, tensors, threads, fp32_storage=fp32_storage)
    return analyze_on(model, table, check, method=method, calibration_samples=len(calibration),
                      validation_samples=len(held), macs=macs, progress=progress)


def analysis_json(analysis: Analysis) -> str:
    """The report as a JSON document (see :meth:`Analysis.to_json`)."""
    return json.dumps(analysis.to_json(), indent=1, allow_nan=False) + "\n"
