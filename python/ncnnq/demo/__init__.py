"""The embedded default: a small CNN and calibration inputs made by this project
(``tools/make_demo.py``), so every command can run without downloading anything."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _root() -> Path:
    return Path(str(resources.files(__package__)))


def model_files() -> tuple[Path, Path]:
    """(param, bin) of the demo model."""
    root = _root()
    return root / "tinynet.param", root / "tinynet.bin"
