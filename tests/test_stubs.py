"""The hand-written stubs (python/ncnnq/_native.pyi) are the native API's documentation: mypy's
stubtest holds them to the compiled module (every name, class member and signature), and the
``ncnnq`` namespace re-exports exactly the native names the stub says it does."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ncnnq
import ncnnq._native as native

STUBS = Path(__file__).resolve().parents[1] / "python" / "ncnnq" / "_native.pyi"


def _documented_reexports() -> set[str]:
    doc = ast.get_docstring(ast.parse(STUBS.read_text())) or ""
    sentence = re.search(r"``ncnnq`` re-exports (.*?):", doc, re.S)
    assert sentence, "the stub's docstring must say what ncnnq re-exports"
    return set(re.findall(r"``(\w+)``", sentence.group(1)))


@pytest.mark.slow  # mypy's start-up: 8-13 s; `make typecheck` runs stubtest too
def test_stubs_match_the_compiled_module():
    pytest.importorskip("mypy.stubtest", reason="mypy (in the dev extra) checks the stubs")
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ncnnq._native"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_stubtest_sees_a_wrong_signature(tmp_path):
    """The check above fails when a stub's signature is wrong (here: a parameter renamed)."""
    pytest.importorskip("mypy.stubtest", reason="mypy (in the dev extra) checks the stubs")
    package = tmp_path / "ncnnq"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_native.pyi").write_text(STUBS.read_text().replace("def int8_kernel()", "def int8_kernel(x: int)"))
    for built in Path(native.__file__).parent.glob("_native*.so"):
        (package / built.name).symlink_to(built)
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ncnnq._native"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)},
    )
    assert r.returncode != 0 and "ncnnq._native.int8_kernel is inconsistent" in r.stdout, r.stdout + r.stderr


def test_ncnnq_reexports_what_the_stub_says():
    documented = _documented_reexports()
    assert documented <= set(native.__all__), "the stub documents re-exports the module lacks"
    reexported = {n for n in native.__all__ if getattr(ncnnq, n, None) is getattr(native, n)}
    assert reexported == documented
    assert documented - {"__version__"} <= set(ncnnq.__all__)
