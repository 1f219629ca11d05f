"""The hand-written stubs (python/ncnnq/_native.pyi) are the native API's documentation: they must
name exactly what the module has, every class member included, each with a docstring or a type."""

from __future__ import annotations

import ast
from pathlib import Path

import ncnnq._native as native

STUBS = Path(__file__).resolve().parents[1] / "python" / "ncnnq" / "_native.pyi"


def _stub_tree() -> ast.Module:
    return ast.parse(STUBS.read_text())


def _public(names) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def test_every_native_name_is_stubbed_and_nothing_else():
    tree = _stub_tree()
    stubbed = {node.name for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
    stubbed |= {t.id for node in tree.body if isinstance(node, ast.AnnAssign) for t in [node.target] if isinstance(t, ast.Name)}
    module = _public(dir(native)) - {"StrPath", "ParamValue"}
    assert module - stubbed == set(), "native names without stubs"
    assert stubbed - module - {"StrPath", "ParamValue", "__version__"} == set(), "stubs for names the module lacks"


def test_every_class_member_is_stubbed():
    for node in _stub_tree().body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(native, node.name)
        stubbed = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
        actual = _public(dir(cls))
        assert actual - stubbed == set(), f"{node.name}: members without stubs"
        assert _public(stubbed) - actual == set(), f"{node.name}: stubs for members it lacks"
