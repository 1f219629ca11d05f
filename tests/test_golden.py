"""Refactors keep behaviour: today's tables, int8 files and outputs on the shared models, byte for
byte, against what tests/golden/ recorded (tests/golden/make_golden.py wrote it on an x86_64 machine
with AVX-512 VNNI). Float outputs depend on the kernel path, so on a CPU whose dispatch picks other
paths only the integer-exact parts (int8 files from a recorded table) are compared."""

from __future__ import annotations

import json

import pytest

from golden_cases import HERE, METHODS, Case, cases

DIGESTS = json.loads((HERE / "digests.json").read_text())


@pytest.fixture(scope="module", params=[c.name for c in cases()])
def case(request, shared) -> Case:
    return next(c for c in cases() if c.name == request.param)


def _same_paths() -> bool:
    return Case.kernel_paths() == DIGESTS["kernels"]


@pytest.mark.parametrize("method", METHODS)
def test_tables_and_int8_files_are_unchanged(case: Case, method: str):
    if not _same_paths():
        pytest.skip(f"kernel paths {Case.kernel_paths()} differ from the recorded {DIGESTS['kernels']}")
    assert case.table_text(method) == (HERE / f"{case.name}-{method}.table").read_text()
    assert case.quantize(method)[1] == DIGESTS[f"{case.name}/{method}/int8"]
    assert case.int8_output_digest(method) == DIGESTS[f"{case.name}/{method}/int8-outputs"]


def test_fp32_outputs_are_unchanged(case: Case):
    if not _same_paths():
        pytest.skip(f"kernel paths {Case.kernel_paths()} differ from the recorded {DIGESTS['kernels']}")
    assert case.fp32_output_digest() == DIGESTS[f"{case.name}/fp32-outputs"]
