"""``ncnnq demo`` as a library call: the shipped network quantized on part of the shipped photos with
two methods, each int8 model compared with fp32 on the other photos and timed against it.

Every file goes into one folder through ncnnq's one writer (:mod:`ncnnq.output`, here
:func:`write_file`): the network as ncnn ships it, the class names, the photos split into
``calibration/`` and ``held-out/``, and per method the table and the int8 model, named as
:func:`method_files` says, written together. The calibration is what ``ncnnq quantize`` runs on
``calibration/`` with the demo's options, so that command writes the same bytes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import demo
from .._native import Model, Net
from ..errors import FileError, InputError
from ..evaluate import Agreement, compare_outputs
from ..images import InputSpec, image_tensor
from ..int8 import QuantizeReport
from ..output import write_outputs
from ..pipeline import quantize_model
from ..progress import NoProgress, Progress
from ..table import Table

METHODS = ("kl", "best")
"""ncnn's default method and ncnnq's most accurate one, side by side."""
DEFAULT_FOLDER = "ncnnq-demo"


def write_file(path: Path, data: bytes) -> None:
    """One file of the demo, through ncnnq's one writer."""
    write_outputs([(path, data)])


def new_folder(parent: Path) -> Path:
    """A folder name in ``parent`` that does not exist yet, or exists and is empty:
    ``ncnnq-demo``, then ``ncnnq-demo-2``, ``ncnnq-demo-3``, ..."""
    for n in range(1, 10_000):
        folder = parent / (DEFAULT_FOLDER if n == 1 else f"{DEFAULT_FOLDER}-{n}")
        if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
            return folder
    raise InputError(f"{parent}: no free name for the demo's folder; name one")


def check_folder(folder: Path) -> None:
    """The demo writes only into a new or empty folder: it never replaces anything."""
    if folder.is_symlink() and not folder.exists():
        raise InputError(f"{folder} is a symlink to nothing; the demo needs a new or empty folder")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is not a folder; the demo needs a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise InputError(f"{folder} is not empty; the demo writes only into a new or empty folder")
    if not folder.parent.is_dir():
        raise InputError(f"{folder}: folder {folder.parent} does not exist")


def prepare_folder(folder: Path) -> None:
    """:func:`check_folder`, then the folder made, so that a folder the demo cannot create fails
    before anything is printed or computed."""
    check_folder(folder)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        raise FileError(f"{folder}: cannot create the demo's folder ({e.strerror or e})") from None


def spec() -> InputSpec:
    return InputSpec(demo.SHAPE, demo.PIXEL, demo.MEAN, demo.NORM)


def method_files(folder: Path, method: str) -> dict[str, Path]:
    stem = folder / demo.MODEL
    return {
        "table": Path(f"{stem}-{method}.table"),
        "int8 param": Path(f"{stem}-int8-{method}.param"),
        "int8 bin": Path(f"{stem}-int8-{method}.bin"),
    }


@dataclass(frozen=True)
class Speed:
    """Median wall time of one inference, alternating the models run by run."""

    threads: int
    runs: int
    fp32_ms: float
    int8_ms: dict[str, float]
    """Per method."""

    def speedup(self, method: str) -> float:
        return self.fp32_ms / self.int8_ms[method]


@dataclass(frozen=True)
class MethodResult:
    method: str
    seconds: float
    """Wall time of ``quantize_model``: optimize, calibrate, quantize (calibration is nearly all of it)."""
    table: Table
    quantize: QuantizeReport
    agreement: Agreement
    """ncnnq's int8 against ncnnq's fp32 on the held-out photos."""
    ncnn_agreement: Agreement | None
    """Real ncnn (PyPI ``ncnn``) running the same int8 files, against ncnnq's fp32; None without ncnn."""
    changed: list[tuple[str, str, str]]
    """(photo, fp32 class, int8 class) where the int8 top-1 differs."""
    files: dict[str, Path]


@dataclass(frozen=True)
class DemoResult:
    folder: Path
    model: dict[str, Path]
    """``param``, ``bin`` (the network as shipped), ``classes`` (class names, one per line)."""
    calibration: Path
    held_out: Path
    calibration_count: int
    held_out_count: int
    threads: int
    methods: list[MethodResult]
    speed: Speed


@dataclass(frozen=True)
class _Labelled:
    """Progress whose stages are named after the method they calibrate for."""

    progress: Progress
    label: str

    def start(self, stage: str, total: int | None) -> None:
        self.progress.start(f"{self.label}: {stage}", total)

    def advance(self, n: int) -> None:
        self.progress.advance(n)

    def finish(self) -> None:
        self.progress.finish()


def _copy_photos(photos: Sequence[Path], folder: Path) -> None:
    folder.mkdir()
    for photo in photos:
        write_file(folder / photo.name, photo.read_bytes())


def _ncnn_outputs(param: Path, bin_path: Path, inputs: list[np.ndarray], threads: int) -> list[np.ndarray] | None:
    """Real ncnn's outputs for the int8 files, if PyPI ``ncnn`` is installed (fp16 off: int8 and fp32 only)."""
    try:
        import ncnn  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    net = ncnn.Net()
    net.opt.num_threads = threads
    for option in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, option, False)
    if net.load_param(str(param)) != 0 or net.load_model(str(bin_path)) != 0:
        raise InputError(f"real ncnn could not load {param}")
    outputs = []
    for x in inputs:
        ex = net.create_extractor()
        ex.input(demo.INPUT, ncnn.Mat(np.ascontiguousarray(x)).clone())
        ret, mat = ex.extract(demo.OUTPUT)
        if ret != 0:
            raise InputError(f"real ncnn failed to run {param} ({ret})")
        outputs.append(np.array(mat, dtype=np.float32).ravel())
    return outputs


def _speed(nets: dict[str, Net], x: np.ndarray, threads: int, rounds: int) -> Speed:
    feed = {demo.INPUT: x}
    for net in nets.values():  # warm-up
        net.run(feed, [demo.OUTPUT])
    times: dict[str, list[float]] = {name: [] for name in nets}
    for _ in range(rounds):
        for name, net in nets.items():  # alternating, so that other load hits every model alike
            start = time.perf_counter()
            net.run(feed, [demo.OUTPUT])
            times[name].append(time.perf_counter() - start)
    medians = {name: float(np.median(t)) * 1e3 for name, t in times.items()}
    fp32 = medians.pop("fp32")
    return Speed(threads, rounds, fp32, medians)


def run_demo(
    folder: str | os.PathLike[str],
    *,
    methods: Sequence[str] = METHODS,
    threads: int = 2,
    calibration: Sequence[Path] | None = None,
    held_out: Sequence[Path] | None = None,
    bench_rounds: int = 50,
    progress: Progress | None = None,
) -> DemoResult:
    """Runs the demo into ``folder`` (new or empty). ``calibration`` and ``held_out`` default to the
    shipped split (:func:`ncnnq.demo.calibration_photos`, :func:`ncnnq.demo.held_out_photos`)."""
    out = Path(folder)
    prepare_folder(out)
    calibration = list(demo.calibration_photos() if calibration is None else calibration)
    held_out = list(demo.held_out_photos() if held_out is None else held_out)
    param_bytes, bin_bytes = demo.model_bytes()
    model_files = {
        "param": out / f"{demo.MODEL}.param",
        "bin": out / f"{demo.MODEL}.bin",
        "classes": out / "imagenet_classes.txt",
    }
    write_file(model_files["param"], param_bytes)
    write_file(model_files["bin"], bin_bytes)
    classes = demo.class_names()
    write_file(model_files["classes"], "".join(f"{c}\n" for c in classes).encode())
    _copy_photos(calibration, out / "calibration")
    _copy_photos(held_out, out / "held-out")
    calibration = sorted((out / "calibration").iterdir())  # what `ncnnq quantize` reads from the folder

    model = Model.from_bytes(param_bytes, bin_bytes, name=str(model_files["param"]))
    inputs = [image_tensor(p, spec()) for p in sorted((out / "held-out").iterdir())]
    names = [p.name for p in sorted((out / "held-out").iterdir())]
    results = []
    nets: dict[str, Net] = {}
    fp32: list[np.ndarray] = []
    for method in methods:
        start = time.perf_counter()
        q = quantize_model(model, calibration, method, specs=[spec()], threads=threads,
                           progress=_Labelled(progress or NoProgress(), method))
        seconds = time.perf_counter() - start
        files = method_files(out, method)
        q.save(files["int8 param"], files["int8 bin"], files["table"])  # together, as ncnnq quantize writes them
        if not fp32:
            nets["fp32"] = Net(q.optimized, threads=threads)
            fp32 = [nets["fp32"].run({demo.INPUT: x}, [demo.OUTPUT])[demo.OUTPUT].ravel() for x in inputs]
        nets[method] = Net(q.model, threads=threads)
        int8 = [nets[method].run({demo.INPUT: x}, [demo.OUTPUT])[demo.OUTPUT].ravel() for x in inputs]
        real = _ncnn_outputs(files["int8 param"], files["int8 bin"], inputs, threads)
        changed = [(name, classes[int(np.argmax(a))], classes[int(np.argmax(b))])
                   for name, a, b in zip(names, fp32, int8) if np.argmax(a) != np.argmax(b)]
        results.append(MethodResult(
            method, seconds, q.table, q.quantize, compare_outputs(fp32, int8),
            None if real is None else compare_outputs(fp32, real), changed, files,
        ))
    speed = _speed(nets, inputs[0], threads, bench_rounds)
    return DemoResult(out, model_files, out / "calibration", out / "held-out", len(calibration), len(inputs),
                      threads, results, speed)
