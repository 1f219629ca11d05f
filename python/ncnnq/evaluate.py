"""How closely an int8 model follows its fp32 original on a set of inputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._native import Net


@dataclass(frozen=True)
class Agreement:
    count: int
    top1: float
    """Fraction of inputs whose arg-max output is the same in both models."""
    cosine_mean: float
    cosine_min: float


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    return 1.0 if na == nb == 0 else float(a64 @ b64 / (na * nb)) if na and nb else 0.0


def compare_outputs(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> Agreement:
    """Top-1 agreement and output cosine of two models' outputs for the same inputs, pair by pair."""
    n = len(reference)
    if n == 0:
        return Agreement(0, 0.0, 0.0, 0.0)
    same = sum(int(np.argmax(a) == np.argmax(b)) for a, b in zip(reference, candidate))
    cosines = [_cosine(a, b) for a, b in zip(reference, candidate)]
    return Agreement(n, same / n, float(np.mean(cosines)), float(np.min(cosines)))


def agreement(reference: Net, candidate: Net, inputs: Iterable[dict[str, np.ndarray]], output: str) -> Agreement:
    """Runs every input through both nets and compares ``output``."""
    pairs = [(reference.run(sample, [output])[output], candidate.run(sample, [output])[output]) for sample in inputs]
    return compare_outputs([a for a, _ in pairs], [b for _, b in pairs])
