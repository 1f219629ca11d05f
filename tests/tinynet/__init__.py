"""The test fixture ``tinynet``: a small CNN and its sample images made by this project
(``tools/make_tinynet.py``), small and fast enough for tests that run the whole pipeline, also under
qemu. (``ncnn demo`` uses a real pretrained network instead: ``ncnnq.demo``.)

The model ``tinynet`` classifies 32x32 images into :data:`CLASS_NAMES`. Input blob ``data``, output
blob ``prob`` (softmax over the classes, in :data:`CLASS_NAMES` order). Its input is what ncnn's
tools make of an image with ``shape=[32,32,3] mean=[127.5,127.5,127.5]
norm=[0.0078125,0.0078125,0.0078125] pixel=BGR``: channels in B, G, R order, each
``(value - 127.5) / 128``. (1/128 rather than 1/127.5: its decimal is exact on a command line, and
every step of ``(x - mean) * norm`` or ncnn's ``x * norm - mean * norm`` is exact in float32, so any
implementation gets the same input bits.) See README.md beside this file.
"""

from __future__ import annotations

from pathlib import Path

CLASS_NAMES: tuple[str, ...] = ("hstripes", "vstripes", "disc", "cross", "checker", "gradient")
"""Output index -> class name."""
MEAN: tuple[float, float, float] = (127.5, 127.5, 127.5)
"""Per-channel mean subtracted from the 0..255 pixel values (ncnn2table ``mean=``)."""
NORM: tuple[float, float, float] = (0.0078125, 0.0078125, 0.0078125)
"""Per-channel multiplier applied after the mean (ncnn2table ``norm=``)."""
PIXEL = "BGR"
"""Channel order the model expects (ncnn2table ``pixel=``)."""
SHAPE: tuple[int, int, int] = (32, 32, 3)
"""Input width, height, channels (ncnn2table ``shape=``)."""
INPUT = "data"
OUTPUT = "prob"


def _root() -> Path:
    return Path(__file__).resolve().parent


def model_files() -> tuple[Path, Path]:
    """(param, bin) of the demo model (fp32 weights)."""
    root = _root()
    return root / "tinynet.param", root / "tinynet.bin"


def image_files() -> list[Path]:
    """The shipped sample images (32x32 RGB PNG), sorted by name."""
    return sorted((_root() / "images").glob("*.png"))


def labels() -> dict[str, int]:
    """Image file name -> class index (into :data:`CLASS_NAMES`), from ``images/labels.txt``."""
    result = {}
    for line in (_root() / "images" / "labels.txt").read_text().splitlines():
        if line.strip():
            name, cls = line.split()
            result[name] = CLASS_NAMES.index(cls)
    return result
