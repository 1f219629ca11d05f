"""Shared test fixtures: where ../shared lives, and skipping when it does not; which of the
benchmark architectures are slow."""

from __future__ import annotations

import sys
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
