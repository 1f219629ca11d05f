"""``tune``: activation scales chosen by the error they cause at the model's outputs.

``eq`` and ``best`` choose a layer's input scale by its own outputs' cosine: what clipping and
rounding cost the next layer alone. A scale also decides how the error then travels: through the
ReLUs, pools and concatenations after it, into the next blocks (a fire module, a residual block)
and to the outputs. Here each input scale (one per blob read, shared by the readers of a Split's
copies so that requantize fusion stays exact) is re-chosen by the outputs' error of the whole
int8 network as it will be written: every other layer int8 with its table scales, learned
weights and corrected biases, all run by the native network probe bit for bit as the file runs.

One greedy sweep in file order; each blob's decision is kept before the next is searched, so a
later scale sees the earlier ones. Cost: a run from the first layer a scale moves (the readers and
the producers whose requantization writes into it) to the outputs, per candidate and sample,
started from that point's blobs as the current int8 network computes them. Candidates are the
current threshold times 2^(±``STEP``), then further steps in the direction that helped while
they help (up to ``MAX_OCTAVES``); a candidate must win ``MIN_GAIN`` to be taken, so that sample
noise does not move scales. The samples should be other than those the layer-by-layer pass
fitted rounding and biases on, whose errors that pass has already made small.

A run from a cut is the whole network's, bit for bit: the cut is computed with only the layers
before it int8, so the blobs crossing it are float (an int8 producer before the cut that would
requantize into a reader after it leaves a float, which the reader quantizes to the same int8).
The current scale is scored as the table holds it; the candidates as a table file stores them.

The figure minimized is the sum over outputs of log(noise energy / signal energy), pooled over the
samples: the mean output SQNR in dB, each output counting alike whatever its magnitude.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .. import _native
from .._native import Layer, Model, Net
from ..graph import QUANTIZABLE, producers, split_sources
from ..progress import Progress
from ..table import Table, stored_scale
from .layerwise import Overrides

STEP = 0.25
"""Distance between candidates, in octaves (thresholds ×2^±¼ of the current one first)."""
MAX_OCTAVES = 1.0
"""How far from the current threshold the search goes (×2 or ÷2)."""
MIN_GAIN = 0.05
"""dB of mean output SQNR a candidate must win over the current scale to replace it."""
T = TypeVar("T")

MAX_SAMPLES = 32
"""Samples the outputs' error is pooled over. With 16, the scales chosen fitted those samples: on
the validation split of mnet.25 the mean output SQNR fell 0.8 dB where 32 gains 0.4 dB."""


@dataclass
class Change:
    """One input scale the search moved: the layers reading it, the factor applied to the scale
    (the threshold is divided by it) and the mean output SQNR before and after, in dB."""

    layers: list[str]
    factor: float
    before_db: float
    after_db: float


@dataclass
class Report:
    searched: int = 0
    """Input scales searched."""
    changes: list[Change] = field(default_factory=list)


def _scale_groups(model: Model, table: Table) -> list[list[str]]:
    """The table's layers grouped by the blob they read (Split copies count as their source), each
    group sharing one input scale, in file order of their first reader."""
    sources = split_sources(model)
    groups: dict[str, list[str]] = {}
    for layer in model.layers:
        if layer.type in QUANTIZABLE and layer.name in table.activations and layer.bottoms:
            groups.setdefault(sources.get(layer.bottoms[0], layer.bottoms[0]), []).append(layer.name)
    return [members for members in groups.values()
            if len({table.activations[m] for m in members}) == 1 and table.activations[members[0]] > 0]


def _first_moved(model: Model, readers: Sequence[str], index: Mapping[str, int], made_by: Mapping[str, Layer]) -> int:
    """The file index (``index``: layer name to file index) of the first layer whose int8 op
    depends on the readers' input scale: the readers, and going back from their inputs
    (``made_by``: blob to producer) through non-quantizable layers, every layer up to and
    including the quantizable producers, which requantize into that scale."""
    first = min(index[r] for r in readers)
    todo = [b for r in readers for b in model.layer(r).bottoms]
    seen: set[str] = set()
    while todo:
        blob = todo.pop()
        if blob in seen or blob not in made_by:
            continue
        seen.add(blob)
        layer = made_by[blob]
        first = min(first, index[layer.name])
        if layer.type not in QUANTIZABLE:
            todo.extend(layer.bottoms)
    return first


def _crossing(model: Model, point: int) -> list[str]:
    """Blobs made before layer ``point`` and read at or after it, model inputs read there, and the
    outputs made before it: what a run from ``point`` is fed, and the outputs it does not remake."""
    layers = model.layers
    made = {t for layer in layers[:point] for t in layer.tops}
    read = {b for layer in layers[point:] for b in layer.bottoms} | set(model.outputs)
    return [b for b in model.blobs if (b in made or b in model.inputs) and b in read]


class _Search:
    """The samples, their fp32 outputs, and the int8 network under the current choices."""

    def __init__(self, model: Model, table: Table, overrides: Overrides, samples: Sequence[dict[str, np.ndarray]],
                 threads: int, fp32: bool):
        self.model = model
        self.table = table
        self.overrides = overrides
        self.samples = [dict(s) for s in samples]
        self.threads = max(1, threads)
        self.outputs = list(model.outputs)
        self.index = {layer.name: i for i, layer in enumerate(model.layers)}
        self.probe = _native.NetworkProbe(model, threads=1, fp32=fp32)
        fp32_net = Net(model, threads=1)
        self.reference = self._map(lambda i: fp32_net.run(self.samples[i], self.outputs))
        self.signal = np.array([[float(np.vdot(r[o], r[o])) for o in self.outputs] for r in self.reference]).sum(axis=0)

    def _map(self, work: Callable[[int], T]) -> list[T]:
        """``work(i)`` for every sample index, ``threads`` at a time, in order."""
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return list(pool.map(work, range(len(self.samples))))

    def net(self, activations: Mapping[str, float], before: int | None = None) -> Net:
        """The int8 network with ``activations``; ``before``: only the layers before that file
        index int8 (their outputs read later stay float, which an int8 reader quantizes: what a
        run from there is fed)."""
        int8 = [name for name in self.table.activations if before is None or self.index[name] < before]
        weights = {k: v for k, v in self.overrides.weights.items() if k in int8}
        biases: dict[str, npt.ArrayLike] = {k: v for k, v in self.overrides.biases.items() if k in int8}
        return self.probe.net(dict(self.table.weights), dict(activations), int8=int8, int8_weights=weights,
                              biases=biases)

    def advance(self, cuts: list[dict[str, np.ndarray]], point: int) -> list[dict[str, np.ndarray]]:
        """Each sample's blobs crossing ``point`` (and the outputs made before it), from its
        ``cuts`` at an earlier point, the layers before ``point`` int8 under the current choices."""
        blobs = _crossing(self.model, point)
        net = self.net(self.table.activations, before=point)

        def one(i: int) -> dict[str, np.ndarray]:
            have = cuts[i]
            missing = [b for b in blobs if b not in have]
            got = dict(net.run(have, missing)) if missing else {}
            return {b: have[b] if b in have else got[b] for b in blobs}

        advanced: list[dict[str, np.ndarray]] = self._map(one)
        return advanced

    def db(self, activations: Mapping[str, float], cuts: Sequence[dict[str, np.ndarray]]) -> float:
        """Mean output SQNR (dB) of the int8 network with ``activations``, run from ``cuts``."""
        return self.dbs([activations], cuts)[0]

    def dbs(self, candidates: Sequence[Mapping[str, float]], cuts: Sequence[dict[str, np.ndarray]]) -> list[float]:
        """:meth:`db` of each of ``candidates``, their nets built and their samples run on one
        pool: a net is built (one thread, ~8 ms on squeezenet_v1.1) while another candidate's
        samples run, and no candidate waits for the last sample of the one before."""
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            # Every net's build is queued before any run that waits for it, and the queue is first
            # in, first out: a run's net is being built or done when a worker takes the run.
            nets = [pool.submit(self.net, activations) for activations in candidates]

            def one(c: int, i: int) -> npt.NDArray[np.float64]:
                net = nets[c].result()
                fed = cuts[i]
                later = [o for o in self.outputs if o not in fed]
                out = {**fed, **(dict(net.run(fed, later)) if later else {})}
                ref = self.reference[i]
                return np.array([float(np.sum((np.asarray(out[o], np.float64) - np.asarray(ref[o], np.float64)) ** 2))
                                 for o in self.outputs])

            runs = [[pool.submit(one, c, i) for i in range(len(self.samples))] for c in range(len(candidates))]
            figures = []
            for per_sample in runs:
                noise = np.sum([r.result() for r in per_sample], axis=0)
                ratios = np.maximum(noise, 1e-30) / np.maximum(self.signal, 1e-30)
                figures.append(float(-10.0 * np.mean(np.log10(ratios))))
        return figures


def _search_scale(search: _Search, members: Sequence[str], cuts: Sequence[dict[str, np.ndarray]], base: float) -> (
    Change | None
):
    """The readers' shared input scale: the current one (whose figure is ``base``: a run from any
    cut is the whole network's), or the candidate that lowers the outputs' error most (see the
    module docs), applied to the table."""
    table = search.table
    current = table.activations[members[0]]
    scores: dict[float, float] = {0.0: base}

    def trial(exponent: float) -> dict[str, float]:
        activations = dict(table.activations)
        for m in members:
            activations[m] = current if exponent == 0.0 else stored_scale(current * 2.0 ** exponent)
        return activations

    def score(exponent: float) -> float:
        if exponent not in scores:
            scores[exponent] = search.db(trial(exponent), cuts)
        return scores[exponent]

    # Nearest candidates first (both always scored, so together), then further in a direction
    # that helped while it helps.
    scores.update(zip((-STEP, STEP), search.dbs([trial(-STEP), trial(STEP)], cuts)))
    near = max((-STEP, STEP), key=score)
    best = near if score(near) > base else 0.0
    while best != 0.0 and abs(best) < MAX_OCTAVES and score(best + near) > score(best):
        best += near
    if best == 0.0 or score(best) - base < MIN_GAIN:
        return None
    for m in members:
        table.activations[m] = stored_scale(current * 2.0 ** best)
    return Change(list(members), 2.0 ** best, base, score(best))


def tune(
    model: Model,
    table: Table,
    overrides: Overrides,
    samples: Sequence[dict[str, np.ndarray]],
    threads: int,
    fp32: bool,
    progress: Progress,
) -> Report:
    """Re-chooses ``table``'s input scales in place (see the module docs); ``overrides`` are the
    int8 weights and biases the file will hold."""
    search = _Search(model, table, overrides, list(samples)[:MAX_SAMPLES], threads, fp32)
    made_by = producers(model)
    groups = sorted(((_first_moved(model, g, search.index, made_by), g) for g in _scale_groups(model, table)),
                    key=lambda p: p[0])
    report = Report(searched=len(groups))
    cuts = [dict(s) for s in search.samples]
    db = search.db(table.activations, cuts)
    progress.start("tune: input scales on the outputs", len(groups))
    for start, members in groups:
        cuts = search.advance(cuts, start)
        change = _search_scale(search, members, cuts, db)
        if change is not None:
            report.changes.append(change)
            db = change.after_db
        progress.advance(1)
    progress.finish()
    reports = {r.layer: r for r in table.report}
    for change in report.changes:
        for m in change.layers:
            if m in reports:
                reports[m].scale = table.activations[m]
                reports[m].threshold = 127.0 / table.activations[m]
    return report
