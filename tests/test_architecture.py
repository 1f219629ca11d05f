"""The package's layering, read from its source: no import circle in python/ncnnq (imports inside
functions included), the library never imports the command line, and only the command line's
renderer imports rich."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "ncnnq"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    """Every module of the package; the native module by its stub (``_native.pyi``)."""
    return {_module_name(p): p for p in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.pyi")])}


def _imported(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package modules ``source`` (module ``module``) imports anywhere in its body:
    ``from . import x``, ``from .x import y``, ``import ncnnq.x`` (``x.y`` when y is a module)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            elif node.module:
                target = node.module
            else:
                continue
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != module}


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {m: _imported(p.read_text(), m, p.name == "__init__.py", known) for m, p in sources.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_scan_sees_imports_inside_functions_and_finds_circles():
    known = {"ncnnq", "ncnnq._native", "ncnnq.calibrate", "ncnnq.methods", "ncnnq.methods.eq", "ncnnq.table"}
    eq = "from ..table import Table\n\ndef f():\n    from ..calibrate import split_sources\n"
    assert _imported(eq, "ncnnq.methods.eq", False, known) == {"ncnnq.table", "ncnnq.calibrate"}
    init = "from . import _native, calibrate\nfrom .methods import eq\nfrom ncnnq.table import Table\n"
    assert _imported(init, "ncnnq", True, known) == {
        "ncnnq._native",
        "ncnnq.calibrate",
        "ncnnq.methods.eq",
        "ncnnq.table",
    }
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_in_the_package():
    graph = _graph()
    assert len(graph) > 20 and "ncnnq.methods.registry" in graph["ncnnq.calibrate"]
    assert _find_cycle(graph) is None, " -> ".join(_find_cycle(graph) or [])


def test_the_library_does_not_import_the_command_line():
    for module, imports in _graph().items():
        if not module.startswith("ncnnq.cli"):
            assert not {m for m in imports if m.startswith("ncnnq.cli")}, module


def test_only_the_renderer_imports_rich():
    users = set()
    for module, path in _sources().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            if any(n == "rich" or n.startswith("rich.") for n in names):
                users.add(module)
    assert users == {"ncnnq.cli.render"}
