"""``--json``: one JSON document on stdout instead of the rendered text, for scripts.

Every document is an object whose ``schema`` names it and its version (``ncnnq.info/1``,
``ncnnq.run/1``, ``ncnnq.bench/1``); the fields of each are listed in the README ("Output for
scripts"). A version changes only when a field changes meaning or goes away. Numbers that are not
finite (NaN, inf) are written as ``null``. Errors still go to stderr as one line, with exit status 2,
and nothing is written to stdout.

A subcommand offers the flag with :func:`add_json_flag` and prints with :func:`emit`, so a new one
(``analyze``) only has to build its document.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    from ..runner import BenchResult, OutputSummary
    from ..summary import ModelSummary

FLAG = "--json"
VERSION = 1


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(FLAG, action="store_true", dest="json",
                        help="print one JSON document on stdout instead of text (schema: README)")


def pop_json_flag(tokens: list[str]) -> bool:
    """Takes ``--json`` out of the ncnn-style tokens of ``run`` and ``bench`` (it may come anywhere)."""
    found = FLAG in tokens
    tokens[:] = [t for t in tokens if t != FLAG]
    return found


def _clean(value: object) -> object:
    """JSON-safe: non-finite floats become null, tuples lists, numpy scalars Python numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    return value


def emit(kind: str, document: dict[str, object]) -> None:
    """Writes ``{"schema": "ncnnq.<kind>/<version>", **document}`` as one JSON document on stdout."""
    body = {"schema": f"ncnnq.{kind}/{VERSION}", **document}
    sys.stdout.write(json.dumps(_clean(body), indent=2, allow_nan=False) + "\n")


def info_document(param: str, bin_path: str | None, summary: ModelSummary) -> dict[str, object]:
    return {
        "param": param,
        "bin": bin_path,
        "layers": [
            {
                "index": r.index,
                "type": r.type,
                "name": r.name,
                "inputs": r.inputs,
                "outputs": r.outputs,
                "input_layers": r.input_layers,
                "params": r.params,
                "weights": r.weight_count,
                "storage": r.storage.split("/") if r.storage else [],
                "shapes": r.shapes.split() if r.shapes else [],
            }
            for r in summary.rows
        ],
        "layer_types": dict(summary.layer_types.most_common()),
        "blobs": summary.blob_count,
        "inputs": summary.inputs,
        "outputs": summary.outputs,
        "weight_count": summary.weight_count,
        "weight_bytes": summary.weight_bytes,
        "warnings": summary.warnings,
    }


def _kernels(kernels: Sequence[tuple[str, str, int]]) -> list[dict[str, object]]:
    return [{"kind": kind, "path": path, "calls": n} for kind, path, n in kernels]


def run_document(
    param: str, weights: str, precision: str, threads: int, seconds: float, int8_path: str,
    outputs: Sequence[OutputSummary], kernels: Sequence[tuple[str, str, int]],
) -> dict[str, object]:
    return {
        "param": param,
        "weights": weights,
        "precision": precision,
        "threads": threads,
        "ms": seconds * 1e3,
        "int8_path": int8_path,
        "outputs": [
            {
                "name": o.name,
                "shape": list(o.shape),
                "min": o.min,
                "max": o.max,
                "mean": o.mean,
                "top": [{"index": i, "value": v, "label": label} for i, v, label in o.top],
            }
            for o in outputs
        ],
        "kernels": _kernels(kernels),
    }


def bench_document(
    param: str, weights: str, precision: str, result: BenchResult, warmup: int, available: Sequence[str]
) -> dict[str, object]:
    return {
        "param": param,
        "weights": weights,
        "precision": precision,
        "threads": result.threads,
        "warmup": warmup,
        "runs": len(result.times),
        "ms": [t * 1e3 for t in result.times],
        "cpu_ms": [t * 1e3 for t in result.cpu_times],
        "median_ms": result.median * 1e3,
        "min_ms": result.minimum * 1e3,
        "cpu_median_ms": result.cpu_median * 1e3,
        "kernels": _kernels(result.kernels),
        "int8_paths_available": list(available),
    }
