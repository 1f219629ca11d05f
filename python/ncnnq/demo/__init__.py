"""What ``ncnnq demo`` runs on, shipped in the package: a real pretrained network and real photos.

- The network: SqueezeNet v1.1, the ImageNet classifier of ncnn's examples (fp16 weights), stored
  packed losslessly in ``model/`` (``tools/pack_demo_model.py``); :func:`model_bytes` expands it and
  checks it against the recorded SHA-256 digests. Input ``data``: 227x227 BGR, mean 104,117,123;
  output ``prob``: softmax over the 1000 classes of :func:`class_names`.
- The photos: ``photos/*.jpg`` (256x256), each with its source and licence in ``photos/SOURCES.md``
  (``tools/make_demo_photos.py``). :func:`calibration_photos` and :func:`held_out_photos` split them.

Origin and licences: README.md and LICENSE beside this file.
"""

from __future__ import annotations

import hashlib
import json
import lzma
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import FileError

MODEL = "squeezenet_v1.1"
"""File stem of the network (``squeezenet_v1.1.param``, ``squeezenet_v1.1.bin``)."""
SHAPE: tuple[int, int, int] = (227, 227, 3)
"""Input width, height, channels (ncnn2table ``shape=``)."""
PIXEL = "BGR"
"""Channel order the network expects (ncnn2table ``pixel=``)."""
MEAN: tuple[float, float, float] = (104.0, 117.0, 123.0)
"""Per-channel mean subtracted from the 0..255 pixel values (ncnn2table ``mean=``)."""
NORM: tuple[float, float, float] = (1.0, 1.0, 1.0)
"""Per-channel multiplier applied after the mean (ncnn2table ``norm=``)."""
INPUT = "data"
OUTPUT = "prob"


def _root() -> Path:
    return Path(str(resources.files(__package__)))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise FileError(f"{path}: the demo's files are incomplete ({e}); reinstall ncnnq") from e


def _expand(entry: dict[str, str], folder: Path) -> bytes:
    if "xz" in entry:
        return lzma.decompress(_read(folder / entry["xz"]))
    odd = np.frombuffer(lzma.decompress(_read(folder / entry["odd_bytes_xz"])), np.uint8)
    even = np.frombuffer(_read(folder / entry["even_bytes"]), np.uint8)
    if len(odd) != len(even):
        raise FileError(f"{folder}: the packed weights' two halves differ in length; reinstall ncnnq")
    joined = np.empty(len(odd) * 2, np.uint8)
    joined[0::2], joined[1::2] = even, odd
    return joined.tobytes()


def model_bytes() -> tuple[bytes, bytes]:
    """The network's ``.param`` and ``.bin``, exactly as ncnn ships them (SHA-256 checked)."""
    folder = _root() / "model"
    manifest = json.loads(_read(folder / "MANIFEST.json"))
    files = []
    for name in (f"{MODEL}.param", f"{MODEL}.bin"):
        entry = manifest[name]
        data = _expand(entry, folder)
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise FileError(f"{folder}: {name} does not expand to the recorded digest; reinstall ncnnq")
        files.append(data)
    return files[0], files[1]


def photos() -> list[Path]:
    """Every shipped photo, sorted by file name."""
    return sorted((_root() / "photos").glob("*.jpg"))


def calibration_photos() -> list[Path]:
    """The photos the demo calibrates on: the even-numbered ones in name order (0, 2, 4, ...)."""
    return photos()[0::2]


def held_out_photos() -> list[Path]:
    """The photos the demo evaluates on, never seen by calibration: the odd-numbered ones."""
    return photos()[1::2]


def class_names() -> list[str]:
    """The network's 1000 ImageNet classes, in output order (the first name of each synset)."""
    return (_root() / "model" / "imagenet_classes.txt").read_text().splitlines()
