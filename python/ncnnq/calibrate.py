"""``ncnnq.calibrate``: a model and representative inputs in, a scale table out.

The statistics are collected in Rust while the fp32 engine runs (in parallel across samples); the
math that turns them into scales lives in ``ncnnq.methods``. Images are decoded on worker threads
while the previous batch runs, and memory does not grow with the number of samples.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Union

import numpy as np

from . import _native
from ._native import Layer, Model
from .errors import Error, ImageError, InputError
from .images import InputSpec, image_tensor, npy_tensor
from .methods.aciq import aciq_clip
from .methods.histogram import NCNN_BINS, rebin
from .methods.kl import kl_threshold
from .methods.mse import mse_threshold
from .methods.weights import is_winograd_6bit, static_scales, weight_scales, winograd_safe_scales
from .table import LayerReport, Table
from .methods import METHODS

CALIBRATED_TYPES = ("Convolution", "ConvolutionDepthWise", "InnerProduct")

InputValue = Union[str, os.PathLike, np.ndarray]


@dataclass(frozen=True)
class Sample:
    """One calibration sample: a value per network input, and where each came from (for errors)."""

    inputs: dict[str, InputValue]
    origin: dict[str, str] = field(default_factory=dict)


class Progress(Protocol):
    def start(self, stage: str, total: int | None) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


class _NoProgress:
    def start(self, stage: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


def calibrated_layers(model: Model) -> list[Layer]:
    """The layers ncnn2table calibrates, in file order: every Convolution, ConvolutionDepthWise and
    InnerProduct (their first bottom blob is the calibrated activation)."""
    return [layer for layer in model.layers if layer.type in CALIBRATED_TYPES and layer.bottoms]


def split_sources(model: Model) -> dict[str, str]:
    """Each blob a Split produced -> the blob it copies (through chains of Splits). The copies
    hold the same data, so their statistics are collected once, on the source."""
    source = {top: layer.bottoms[0] for layer in model.layers if layer.type == "Split" and layer.bottoms for top in layer.tops}
    def resolve(blob: str) -> str:
        seen = set()
        while blob in source and blob not in seen:
            seen.add(blob)
            blob = source[blob]
        return blob
    return {blob: resolve(blob) for blob in source}


# --- samples -----------------------------------------------------------------------------------


def samples_from(model: Model, inputs: Iterable[object]) -> Iterator[Sample]:
    """Normalizes what users pass: Sample objects, {input: value} dicts, or (for one-input models)
    bare paths and arrays."""
    names = model.inputs
    for i, item in enumerate(inputs):
        if isinstance(item, Sample):
            yield item
        elif isinstance(item, dict):
            yield Sample(dict(item), {k: f"sample {i}" for k in item})
        elif len(names) == 1:
            yield Sample({names[0]: item}, {names[0]: str(item) if not isinstance(item, np.ndarray) else f"array {i}"})
        else:
            raise InputError(f"the model has {len(names)} inputs ({', '.join(names)}): give each sample as a dict")


def _tensor(value: InputValue, spec: InputSpec | None, input_type: str, origin: str) -> np.ndarray:
    try:
        if isinstance(value, np.ndarray):
            return np.ascontiguousarray(value, dtype=np.float32)
        if spec is None:
            raise InputError(f"{origin}: a file input needs its preprocessing (shape, pixel, mean, norm)")
        path = Path(value)
        return npy_tensor(path, spec) if input_type == "npy" else image_tensor(path, spec)
    except ImageError as e:
        raise ImageError(f"{e} ({origin})" if origin not in str(e) else str(e)) from None


def _load(sample: Sample, specs: dict[str, InputSpec], input_type: str) -> dict[str, np.ndarray]:
    return {
        name: _tensor(value, specs.get(name), input_type, sample.origin.get(name, name))
        for name, value in sample.inputs.items()
    }


@dataclass
class _Runner:
    """Feeds decoded samples to a statistics collector. Each of threads + 1 Python threads decodes
    a sample (Pillow and the pixel conversion release the GIL) and hands it to the collector,
    which runs the forward passes, up to `threads` at once: decoding overlaps inference, and no
    batch boundary leaves a worker waiting for the slowest sample of its batch."""

    model: Model
    specs: dict[str, InputSpec]
    input_type: str
    threads: int
    progress: Progress

    def run(self, collector: _native.StatsCollector, samples: Sequence[Sample], stage: str) -> None:
        def one(sample: Sample) -> None:
            collector.add([_load(sample, self.specs, self.input_type)])

        self.progress.start(stage, len(samples))
        pool = ThreadPoolExecutor(max_workers=self.threads + 1)
        try:
            futures = [pool.submit(one, s) for s in samples]
            # In order: the first failing sample in the list is the one reported.
            for sample, future in zip(samples, futures):
                try:
                    future.result()
                except Error as e:
                    if getattr(e, "sample_index", None) is None:
                        raise
                    raise type(e)(f"{', '.join(sample.origin.values())}: {e}") from None
                self.progress.advance(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.progress.finish()


# --- methods -------------------------------------------------------------------------------------


def _kl_scale(stats: dict) -> tuple[float | None, float]:
    absmax = float(stats["absmax"])
    if "linear" in stats:
        hist = np.asarray(stats["linear"], dtype=np.float64)
    else:
        hist = rebin(stats["histogram"], float(stats["histogram_range"]), absmax, NCNN_BINS)
    threshold = kl_threshold(hist, absmax)
    return threshold, absmax


def _mse_threshold(stats: dict) -> float | None:
    absmax = float(stats["absmax"])
    hist = rebin(stats["histogram"], float(stats["histogram_range"]), absmax, NCNN_BINS)
    return mse_threshold(hist, absmax)


def _aciq_threshold(stats: dict) -> float | None:
    absmax = float(stats["absmax"])
    return aciq_clip(absmax, int(stats["elements"]), 8) if absmax > 0 else None


def _per_blob(pick, stats: dict, blobs: list[str], threads: int) -> dict:
    """Thresholds for every blob, computed on ``threads`` threads (numpy releases the GIL)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return dict(zip(blobs, pool.map(lambda b: pick(stats[b]), blobs)))


def _report(layer: Layer, stats: dict, threshold: float | None) -> LayerReport:
    absmax = float(stats["absmax"])
    warnings = []
    if stats["non_finite"]:
        warnings.append(f"{stats['non_finite']} NaN/inf inputs")
    if threshold is None or absmax == 0:
        warnings.append("input is always zero")
        return LayerReport(layer.name, layer.type, absmax, 0.0, 1.0, warnings)
    scale = float(np.float32(127.0) / np.float32(threshold))
    if threshold < absmax * 0.05:
        warnings.append(f"saturates: clips at {threshold / absmax:.1%} of absmax")
    return LayerReport(layer.name, layer.type, absmax, threshold, scale, warnings)


# --- the API -------------------------------------------------------------------------------------


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
    ``method``: ``kl``, ``aciq`` or ``eq``. ``two_pass``: kl the way ncnn2table does it (absmax
    pass, then histogram pass) instead of ncnnq's single widening-histogram pass.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if input_type not in ("image", "npy"):
        raise InputError(f"input_type must be 'image' or 'npy', not {input_type!r}")
    if not model.has_weights:
        raise InputError("the model has no weights (load it with its .bin)")
    if not model.inputs:
        raise InputError("the model has no Input layer: nothing to feed calibration data into")
    threads = threads or os.cpu_count() or 1
    progress = progress or _NoProgress()
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

    if method == "aciq":
        collector = _native.StatsCollector(model, watched, "absmax", threads=threads)
        runner.run(collector, samples, "statistics")
        stats = collector.result()
        thresholds = {b: _aciq_threshold(stats[b]) for b in watched}
    elif two_pass:
        first = _native.StatsCollector(model, watched, "absmax", threads=threads)
        runner.run(first, samples, "absmax")
        absmax = [float(first.result()[b]["absmax"]) for b in watched]
        second = _native.StatsCollector(model, watched, "linear", absmax=absmax, threads=threads)
        runner.run(second, samples, "histograms")
        stats = second.result()
        thresholds = _per_blob(lambda s: _kl_scale(s)[0], stats, watched, threads)
    else:
        collector = _native.StatsCollector(model, watched, "histogram", threads=threads)
        runner.run(collector, samples, "statistics")
        stats = collector.result()
        pick = _mse_threshold if method == "mse" else (lambda s: _kl_scale(s)[0])
        thresholds = _per_blob(pick, stats, watched, threads)
    for b in blobs:
        stats[b] = stats[sources.get(b, b)]
        thresholds[b] = thresholds[sources.get(b, b)]

    table = Table()
    for layer in layers:
        if method == "best" and is_winograd_6bit(layer):
            table.weights[f"{layer.name}_param_0"] = winograd_safe_scales(layer)
        else:
            table.weights[f"{layer.name}_param_0"] = weight_scales(layer, "aciq" if method == "aciq" else "kl")
    for layer in layers:
        report = _report(layer, stats[layer.bottoms[0]], thresholds[layer.bottoms[0]])
        table.activations[layer.name] = report.scale
        table.report.append(report)

    if method in ("eq", "best"):
        from .methods.eq import MAX_SAMPLES, equalize

        with ThreadPoolExecutor(max_workers=threads) as pool:
            loaded = list(pool.map(lambda s: _load(s, specs, input_type), samples[:MAX_SAMPLES]))
        equalize(model, layers, table, loaded, threads, progress)
    table.weights.update(static_scales(model.layers))
    return table


def weight_only_table(model: Model) -> Table:
    """ncnn2table without calibration data: only the static weight scales of Embed,
    MultiHeadAttention, RNN, LSTM and GRU (convolutions need data and are left out)."""
    if not model.has_weights:
        raise InputError("the model has no weights (load it with its .bin)")
    table = Table()
    table.weights.update(static_scales(model.layers))
    return table


def input_specs_from_options(model: Model, mean, norm, shape, pixel, input_type: str) -> list[InputSpec]:
    """ncnn2table's per-input option lists -> InputSpecs, checking they match the inputs."""
    n = len(model.inputs)
    def check(what: str, values: Sequence) -> None:
        if len(values) != n:
            raise InputError(f"{what} has {len(values)} entries but the model has {n} inputs ({', '.join(model.inputs)})")
    check("shape", shape)
    if input_type == "image":
        check("mean", mean)
        check("norm", norm)
        check("pixel", pixel)
        return [InputSpec(tuple(shape[i]), pixel[i], tuple(mean[i]), tuple(norm[i])) for i in range(n)]
    return [InputSpec(tuple(shape[i])) for i in range(n)]


def _resolve(entry: str, list_folder: Path) -> str:
    """Like ncnn2table, a relative path is relative to the working directory; failing that,
    to the list file's folder."""
    p = Path(entry)
    if p.is_absolute() or p.exists() or not (list_folder / p).exists():
        return entry
    return str(list_folder / p)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")


def _list_entries(path: Path, input_type: str) -> list[tuple[str, str]]:
    """(file, origin) pairs of a list file, or of a folder's files sorted by name (an ncnnq
    extension: a folder stands for the list of its images, or of its .npy files for type=1)."""
    if path.is_dir():
        suffixes = (".npy",) if input_type == "npy" else IMAGE_SUFFIXES
        files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
        if not files:
            raise InputError(f"{path}: folder holds no {'.npy' if input_type == 'npy' else 'image'} files")
        return [(str(f), str(f)) for f in files]
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: {e}") from e
    entries = [(line.split()[0], f"{path}:{k}") for k, line in enumerate(lines, start=1) if line.split()]
    return [(_resolve(p, path.parent), o) for p, o in entries]


def samples_from_lists(model: Model, list_files: Sequence[Path], input_type: str = "image") -> list[Sample]:
    """One list file (or folder) per Input layer (in Input-layer order); sample i takes entry i of
    each. Only the first whitespace-separated token of a line is used; empty lines are skipped."""
    names = model.inputs
    if len(list_files) != len(names):
        raise InputError(f"{len(list_files)} list files for {len(names)} inputs ({', '.join(names)})")
    columns = [_list_entries(Path(path), input_type) for path in list_files]
    count = len(columns[0])
    for path, col in zip(list_files, columns):
        if len(col) < count:
            raise InputError(f"{path} lists {len(col)} inputs but {list_files[0]} lists {count}")
    return [Sample({names[j]: columns[j][i][0] for j in range(len(names))}, {names[j]: columns[j][i][1] for j in range(len(names))}) for i in range(count)]
