"""Refactors keep behaviour: today's tables, int8 files and outputs on the shared models, byte for
byte, against what tests/golden/ recorded (tests/golden/make_golden.py wrote it on an x86_64 machine
with AVX-512 VNNI). Float results depend on the kernel paths and on the machine (its `rcpps`, the core
numpy's BLAS runs), so on another one only the integer-exact part (the int8 files quantized from a
recorded table) is compared."""

from __future__ import annotations

import json

import pytest

from golden_cases import HERE, METHODS, Case, cases

DIGESTS = json.loads((HERE / "digests.json").read_text())


@pytest.fixture(scope="module", params=[c.name for c in cases()])
def case(request, shared) -> Case:
    return next(c for c in cases() if c.name == request.param)


def _skip_unless_recorded_here() -> None:
    if Case.kernel_paths() != DIGESTS["kernels"]:
        pytest.skip(f"kernel paths {Case.kernel_paths()} differ from the recorded {DIGESTS['kernels']}")
    if Case.machine() != DIGESTS.get("machine"):
        pytest.skip(f"this machine {Case.machine()} differs from the recorded {DIGESTS.get('machine')}")


@pytest.mark.parametrize("method", METHODS)
def test_int8_files_from_the_recorded_tables_are_unchanged(case: Case, method: str):
    # Weights are quantized elementwise from the table's scales: the same bytes on any machine.
    assert case.recorded_int8_digest(method) == DIGESTS[f"{case.name}/{method}/int8"]


@pytest.mark.parametrize("method", METHODS)
def test_tables_and_int8_outputs_are_unchanged(case: Case, method: str):
    _skip_unless_recorded_here()
    assert case.table_text(method) == case.recorded_table_text(method)
    assert case.quantize(method)[1] == DIGESTS[f"{case.name}/{method}/int8"]
    assert case.int8_output_digest(method) == DIGESTS[f"{case.name}/{method}/int8-outputs"]


def test_fp32_outputs_are_unchanged(case: Case):
    _skip_unless_recorded_here()
    assert case.fp32_output_digest() == DIGESTS[f"{case.name}/fp32-outputs"]
