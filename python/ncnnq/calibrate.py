"""``ncnnq.calibrate``: a model and representative inputs in, a scale table out.

The statistics are collected in Rust while the fp32 engine runs (in parallel across samples); the math
that turns them into scales lives in ``ncnnq.methods`` (``methods.registry`` says what each method
needs). Images are decoded on worker threads while the previous batch runs, and memory does not
grow with the number of samples.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import _native
from ._native import MAX_THREADS, BlobStats, Layer, Model
from .errors import Error, InputError
from .graph import split_sources
from .images import InputSpec
from .methods.registry import METHODS, RefineInput
from .methods.weights import static_scales
from .progress import NoProgress, Progress
from .samples import Sample, Tensors, load_sample, samples_from
from .table import LayerReport, Table

CALIBRATED_TYPES = ("Convolution", "ConvolutionDepthWise", "InnerProduct")


def thread_count(threads: int | None) -> int:
    """``threads`` checked (1 to ``MAX_THREADS``), or every core for None."""
    if threads is None:
        return min(os.cpu_count() or 1, MAX_THREADS)
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise InputError(f"threads must be an integer from 1 to {MAX_THREADS}, not {threads!r}")
    return threads


def calibrated_layers(model: Model) -> list[Layer]:
    """The layers ncnn2table calibrates, in file order: every Convolution, ConvolutionDepthWise and
    InnerProduct (their first bottom blob is the calibrated activation)."""
    return [layer for layer in model.layers if layer.type in CALIBRATED_TYPES and layer.bottoms]


@dataclass
class _Runner:
    """Feeds decoded samples to a statistics collector. Each of threads + 2 Python threads decodes
    a sample (Pillow and the pixel conversion release the GIL) and hands it to the collector,
    which runs the forward passes, up to `threads` at once: decoding overlaps inference, and no
    batch boundary leaves a worker waiting for the slowest sample of its batch."""

    model: Model
    specs: dict[str, InputSpec]
    input_type: str
    threads: int
    progress: Progress

    def load(self, sample: Sample) -> Tensors:
        return load_sample(sample, self.specs, self.input_type)

    def run(self, collector: _native.StatsCollector, samples: Sequence[Sample], stage: str) -> None:
        def one(sample: Sample) -> None:
            collector.add([self.load(sample)])

        self.progress.start(stage, len(samples))
        # Two workers beyond the `threads` forward passes, not one: with one, the cores sat idle
        # ~10 % of the pass (2 threads, nanodet_m: CPU/wall 1.80 against 1.91 with two; most
        # likely a worker waiting for the GIL that a preempted decoder holds).
        workers = self.threads + 2
        pool = ThreadPoolExecutor(max_workers=workers)
        # At most a few samples per worker are queued at once: pending work (and its futures) stays
        # the same size for 500 or 50,000 samples.
        pending: deque[tuple[Sample, Future[None]]] = deque()
        try:
            for sample in samples:
                pending.append((sample, pool.submit(one, sample)))
                if len(pending) >= 2 * workers:
                    self._finish(*pending.popleft())
            while pending:
                self._finish(*pending.popleft())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.progress.finish()

    def _finish(self, sample: Sample, future: Future[None]) -> None:
        """Waits for one sample, in list order: the first failing sample in the list is the one
        reported."""
        try:
            future.result()
        except Error as e:
            if getattr(e, "sample_index", None) is None:
                raise
            raise type(e)(f"{', '.join(sample.origin.values())}: {e}") from None
        self.progress.advance(1)


def _statistics(
    runner: _Runner, samples: Sequence[Sample], blobs: list[str], kind: str, two_pass: bool
) -> dict[str, BlobStats]:
    """Runs the samples and returns each blob's statistics of ``kind``: ``absmax``, or
    ``histogram`` (one widening-histogram pass, or ncnn2table's absmax and linear passes)."""
    model, threads = runner.model, runner.threads
    if kind == "absmax" or not two_pass:
        collector = _native.StatsCollector(model, blobs, kind, threads=threads)
        runner.run(collector, samples, "statistics")
        return dict(collector.result())
    first = _native.StatsCollector(model, blobs, "absmax", threads=threads)
    runner.run(first, samples, "absmax")
    maxima: dict[str, BlobStats] = dict(first.result())
    absmax = [float(maxima[b].absmax) for b in blobs]
    second = _native.StatsCollector(model, blobs, "linear", absmax=absmax, threads=threads)
    runner.run(second, samples, "histograms")
    return dict(second.result())


def _per_blob(
    pick: Callable[[BlobStats], float | None], stats: dict[str, BlobStats], blobs: list[str], threads: int
) -> dict[str, float | None]:
    """Thresholds for every blob, computed on ``threads`` threads (numpy releases the GIL)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return dict(zip(blobs, pool.map(lambda b: pick(stats[b]), blobs)))


def _report(layer: Layer, stats: BlobStats, threshold: float | None) -> LayerReport:
    absmax = float(stats.absmax)
    warnings = []
    if stats.non_finite:
        warnings.append(f"{stats.non_finite} NaN/inf inputs")
    if threshold is None or absmax == 0:
        warnings.append("input is always zero")
        return LayerReport(layer.name, layer.type, absmax, 0.0, 1.0, warnings)
    scale = float(np.float32(127.0) / np.float32(threshold))
    if threshold < absmax * 0.05:
        warnings.append(f"saturates: clips at {threshold / absmax:.1%} of absmax")
    return LayerReport(layer.name, layer.type, absmax, threshold, scale, warnings)


def calibrate(
    model: Model,
    inputs: Iterable[object],
    method: str = "kl",
    *,
    specs: dict[str, InputSpec] | Sequence[InputSpec] | None = None,
    input_type: str = "image",
    threads: int | None = None,
    two_pass: bool = False,
    progress: Progress | None = None,
) -> Table:
    """Calibrates ``model`` (fp32) on ``inputs`` and returns the scale table.

    ``inputs``: image paths, ``.npy`` paths (``input_type="npy"``), float32 arrays in numpy order,
    ``{input name: value}`` dicts, or :class:`Sample` objects; any iterable. ``specs``: how files
    become tensors, per input (a dict by input blob name or a list in Input-layer order).
    ``method``: ``kl``, ``aciq``, ``eq``, ``mse`` or ``best``. The scales are returned as the
    table file stores them (six decimals, :meth:`Table.as_stored`). ``threads``: 1 to
    ``MAX_THREADS`` (default: every core). ``two_pass``: the histogram the way ncnn2table collects
    it (absmax pass, then histogram pass) instead of ncnnq's single widening-histogram pass
    (``aciq`` needs no histogram). A model in which two layers share a name is refused (the table
    keys layers by name).
    """
    return calibrate_many(model, inputs, [method], specs=specs, input_type=input_type, threads=threads,
                          two_pass=two_pass, progress=progress)[method]


def calibrate_many(
    model: Model,
    inputs: Iterable[object],
    methods: Sequence[str],
    *,
    specs: dict[str, InputSpec] | Sequence[InputSpec] | None = None,
    input_type: str = "image",
    threads: int | None = None,
    two_pass: bool = False,
    progress: Progress | None = None,
    refine: bool = True,
) -> dict[str, Table]:
    """A table per method, as :func:`calibrate` makes each, with one statistics pass over the
    inputs for all methods that need the same statistics. ``refine=False`` skips the searches
    that refine a finished table (eq's), for callers that change the model first and search then."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"method must be one of {', '.join(METHODS)}, not {unknown[0]!r}")
    if input_type not in ("image", "npy"):
        raise InputError(f"input_type must be 'image' or 'npy', not {input_type!r}")
    if not model.has_weights:
        raise InputError("the model has no weights (load it with its .bin)")
    if not model.inputs:
        raise InputError("the model has no Input layer: nothing to feed calibration data into")
    model.check_layer_names()
    threads = thread_count(threads)
    progress = progress or NoProgress()
    if isinstance(specs, Sequence):
        specs = dict(zip(model.inputs, specs))
    specs = specs or {}
    samples = list(samples_from(model, inputs))
    if not samples:
        raise InputError("no calibration samples")

    layers = calibrated_layers(model)
    blobs = list(dict.fromkeys(layer.bottoms[0] for layer in layers))
    sources = split_sources(model)
    watched = list(dict.fromkeys(sources.get(b, b) for b in blobs))
    runner = _Runner(model, specs, input_type, threads, progress)

    collected: dict[str, dict[str, BlobStats]] = {}
    # One-pass histograms hold each blob's absmax and size too: absmax methods share them.
    shared = not two_pass and any(METHODS[m].statistics == "histogram" for m in methods)
    tables = {}
    for method in methods:
        chosen = METHODS[method]
        kind = "histogram" if shared else chosen.statistics
        if kind not in collected:
            collected[kind] = _statistics(runner, samples, watched, kind, two_pass)
        stats = dict(collected[kind])
        thresholds = _per_blob(chosen.threshold, stats, watched, threads)
        for b in blobs:
            stats[b] = stats[sources.get(b, b)]
            thresholds[b] = thresholds[sources.get(b, b)]

        table = Table()
        for layer in layers:
            table.weights[f"{layer.name}_param_0"] = chosen.weight_scales(layer)
        for layer in layers:
            report = _report(layer, stats[layer.bottoms[0]], thresholds[layer.bottoms[0]])
            table.activations[layer.name] = report.scale
            table.report.append(report)
        if chosen.refine is not None and refine:
            chosen.refine(RefineInput(model, layers, table, samples, runner.load, threads, progress))
        table.weights.update(static_scales(model.layers))
        # The scales as the table file stores them, so that quantizing this table or the file written
        # from it gives the same int8 model (Table.as_stored).
        tables[method] = table.as_stored()
    return tables


def weight_only_table(model: Model) -> Table:
    """ncnn2table without calibration data: only the static weight scales of Embed,
    MultiHeadAttention, RNN, LSTM and GRU (convolutions need data and are left out)."""
    if not model.has_weights:
        raise InputError("the model has no weights (load it with its .bin)")
    model.check_layer_names()
    table = Table()
    table.weights.update(static_scales(model.layers))
    return table
