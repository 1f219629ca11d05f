"""Shared test fixtures: where ../shared lives, and skipping when it does not; which of the
benchmark architectures are slow; a folder that takes no new files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reference import SHARED

# The largest benchmark architectures (100-550 MB of random weights) take 5-30 s in each test that
# runs them through both engines; they run with the slow checks (pytest -m slow).
LARGE_ARCHITECTURES = {"vgg16", "vgg16_int8", "alexnet", "vision_transformer"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.id in LARGE_ARCHITECTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent (real models, images and reference outputs live there)")
    return SHARED


@pytest.fixture()
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder that takes no new files: without write permission, or immutable (``chattr +i``)
    when running as root, which ignores permission bits."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("running as root where chattr +i is not available")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)
