"""Calibration samples: what users pass (paths, arrays, dicts, :class:`Sample`), ncnn2table's list
files (or folders standing for them), and turning one sample into the tensors the network takes."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import numpy as np
import numpy.typing as npt

from ._native import Model
from .errors import ImageError, InputError, OutOfMemoryError
from .images import InputSpec, image_tensor, npy_tensor

InputValue = Union[str, "os.PathLike[str]", npt.NDArray[Any]]
Tensors = dict[str, npt.NDArray[np.float32]]
"""Network input blob -> float32 tensor in numpy order."""

T = TypeVar("T")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")


@dataclass(frozen=True)
class Sample:
    """One calibration sample: a value per network input, and where each came from (for errors)."""

    inputs: dict[str, InputValue]
    origin: dict[str, str] = field(default_factory=dict)


def samples_from(model: Model, inputs: Iterable[object]) -> Iterator[Sample]:
    """Normalizes what users pass: Sample objects, {input: value} dicts, or (for one-input models)
    bare paths and arrays."""
    if isinstance(inputs, (str, bytes, os.PathLike, dict, Sample)):
        # Iterating would go through its characters or keys.
        raise InputError(
            f"inputs must be a collection of samples (a list of paths, arrays or dicts), not one "
            f"{type(inputs).__name__} ({str(inputs)[:60]!r}): wrap it in a list"
        )
    names = model.inputs
    for i, item in enumerate(inputs):
        if isinstance(item, Sample):
            yield item
        elif isinstance(item, dict):
            yield Sample(dict(item), {k: f"sample {i}" for k in item})
        elif len(names) == 1:
            origin = str(item) if not isinstance(item, np.ndarray) else f"array {i}"
            yield Sample({names[0]: item}, {names[0]: origin})  # type: ignore[dict-item]  # checked when loaded
        else:
            raise InputError(f"the model has {len(names)} inputs ({', '.join(names)}): give each sample as a dict")


def _tensor(value: InputValue, spec: InputSpec | None, input_type: str, origin: str) -> npt.NDArray[np.float32]:
    try:
        if isinstance(value, np.ndarray):
            return np.ascontiguousarray(value, dtype=np.float32)
        if spec is None:
            raise InputError(f"{origin}: a file input needs its preprocessing (shape, pixel, mean, norm)")
        path = Path(value)
        return npy_tensor(path, spec) if input_type == "npy" else image_tensor(path, spec)
    except (ImageError, OutOfMemoryError) as e:
        raise type(e)(f"{e} ({origin})" if origin not in str(e) else str(e)) from None


def load_sample(sample: Sample, specs: dict[str, InputSpec], input_type: str) -> Tensors:
    """The tensors of one sample: arrays as given, files decoded with their input's spec."""
    return {
        name: _tensor(value, specs.get(name), input_type, sample.origin.get(name, name))
        for name, value in sample.inputs.items()
    }


def decode_all(load: Callable[[Sample], Tensors], samples: Sequence[Sample], threads: int) -> list[Tensors]:
    """``samples`` decoded by ``load`` on ``threads`` threads (Pillow and the pixel conversion release
    the GIL), in order; the first failing sample's error is raised."""
    if threads <= 1:
        return [load(s) for s in samples]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(load, samples))


def _resolve(entry: str, list_folder: Path) -> str:
    """Like ncnn2table, a relative path is relative to the working directory; failing that,
    to the list file's folder."""
    p = Path(entry)
    if p.is_absolute() or p.exists() or not (list_folder / p).exists():
        return entry
    return str(list_folder / p)


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
    return [
        Sample(
            {name: column[i][0] for name, column in zip(names, columns)},
            {name: column[i][1] for name, column in zip(names, columns)},
        )
        for i in range(count)
    ]


def spread(items: Sequence[T], count: int) -> list[T]:
    """``count`` items spread evenly through ``items`` (all of them when there are fewer): the
    bounded sample caches keep the whole range of a sorted list."""
    n = len(items)
    return list(items) if n <= count else [items[int(k * n / count)] for k in range(count)]


def split_validation(items: Sequence[T], fraction: float) -> tuple[list[T], list[T]]:
    """(calibration, validation): every item goes to exactly one part, spread evenly through the
    sequence (``fraction`` 0.5 gives the odd positions to validation, 0.2 every fifth), so both
    parts see the whole range of a sorted list. Deterministic: the same list splits the same way."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"the validation fraction must lie in [0, 1), not {fraction}")
    calibration: list[T] = []
    validation: list[T] = []
    for i, item in enumerate(items):
        (validation if math.floor((i + 1) * fraction) > math.floor(i * fraction) else calibration).append(item)
    if items and not calibration:
        raise InputError(f"{len(items)} samples leave none to calibrate on after a {fraction:.0%} validation split")
    return calibration, validation
