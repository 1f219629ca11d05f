"""Shared test fixtures: where ../shared lives, and skipping when it does not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reference import SHARED


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent (real models, images and reference outputs live there)")
    return SHARED
