"""Latency of ncnnq against real ncnn (PyPI ``ncnn``), each engine in a process of its own.

    python benches/bench_speed.py [--rounds 15] [--threads 1 2] [--precisions fp32 int8]
                                  [--models squeezenet vgg16 ...] [--profile 3]

Models: ncnn's benchmark architectures squeezenet, mobilenet, mobilenet_v2, shufflenet_v2,
resnet18, googlenet and vgg16 with the same seeded random weights for both engines, their `_int8`
files where ncnn ships one, and the real squeezenet_v1.1 (ncnnoptimize's fp32 file, ncnn2int8's kl
file); every input is filled with 0.5 (see bench_models.py).

How it measures: a row is `--rounds` rounds; a round runs each engine once, in a fresh process
(benches/engine_worker.py: load, warm up, time `--runs` runs, exit), the engines' order alternating
between rounds. So no idle engine spins beside the measured one (ncnn's OpenMP workers spin after
a call and steal a core from anything in the same process), and background load hits both alike.
A round's figure is the median of its runs; a row's, the median of its rounds (`--stat min`:
minimums, for development on a busy machine). Each row prints the load average (1 min) seen by
the workers, and the cosine of the two engines' outputs.

Then the ratio table with the goals beside each figure:
- fp32 ncnnq/ncnn <= 1.0, int8 ncnnq/ncnn <= 0.8;
- int8 speed-up over ncnnq fp32 >= 1.6;
- 1->2-thread gain (t1/t2) of ncnnq >= ncnn's;
and a per-layer comparison (benches/profile_layers.py) of the `--profile` slowest ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench_models import MODELS, ROOT, Files, prepare

WORKER = Path(__file__).resolve().with_name("engine_worker.py")
PROFILER = Path(__file__).resolve().with_name("profile_layers.py")
ENGINES = ("ncnn", "ncnnq")
GOAL = {"fp32": 1.0, "int8": 0.8}
INT8_SPEEDUP_GOAL = 1.6
STATS = {"median": statistics.median, "min": min}


@dataclass
class Row:
    model: str
    precision: str
    threads: int
    wall: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in ENGINES})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in ENGINES})
    loads: list[float] = field(default_factory=list)
    cosine: float = float("nan")

    stat: str = "median"

    def ms(self, engine: str) -> float:
        return STATS[self.stat](self.wall[engine])

    def cpu_ms(self, engine: str) -> float:
        return STATS[self.stat](self.cpu[engine])

    @property
    def ratio(self) -> float:
        return self.ms("ncnnq") / self.ms("ncnn")


def worker(engine: str, f: Files, threads: int, warmup: int, runs: int, save: Path | None) -> dict:
    cmd = [sys.executable, str(WORKER), engine, str(f.param), str(f.bin), "--input", f.input, "--output", f.output,
           "--shape", ",".join(map(str, f.shape)), "--threads", str(threads), "--warmup", str(warmup),
           "--runs", str(runs)]
    if save:
        cmd += ["--save-output", str(save)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{engine} worker failed on {f.stem} ({threads} threads):\n{done.stderr}")
    return json.loads(done.stdout)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    if a.shape != b.shape:
        return float("nan")
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))


def measure(f: Files, precision: str, threads: int, args, tmp: Path) -> Row:
    row = Row(f.stem, precision, threads, stat=args.stat)
    outputs = {e: tmp / f"{f.stem}-{threads}-{e}.npy" for e in ENGINES}
    for r in range(args.rounds):
        order = ENGINES if r % 2 == 0 else ENGINES[::-1]
        for engine in order:
            res = worker(engine, f, threads, args.warmup, args.runs, outputs[engine] if r == 0 else None)
            row.wall[engine].append(STATS[args.stat](res["wall"]))
            row.cpu[engine].append(STATS[args.stat](res["cpu"]))
            row.loads.append(res["load"])
    row.cosine = cosine(np.load(outputs["ncnnq"]), np.load(outputs["ncnn"]))
    return row


def verdict(ok: bool) -> str:
    return "ok" if ok else "ABOVE GOAL"


def print_row(row: Row) -> None:
    q, n = row.ms("ncnnq"), row.ms("ncnn")
    goal = GOAL[row.precision]
    cq, cn = row.cpu_ms("ncnnq"), row.cpu_ms("ncnn")
    print(f"{row.model:<24} {row.precision:<5} {row.threads:>3} | {q:8.2f} {n:8.2f} {row.ratio:6.2f} <= {goal:.1f} "
          f"{verdict(row.ratio <= goal):<10} | cpu {cq / cn:5.2f} | load {min(row.loads):4.1f}-{max(row.loads):4.1f}"
          f" | cos {row.cosine:.6f}", flush=True)


def summary(rows: list[Row]) -> list[tuple[float, Row]]:
    """Prints the goal tables; returns every (ratio, row) measured against a ratio goal."""
    by = {(r.model, r.precision, r.threads): r for r in rows}
    threads = sorted({r.threads for r in rows})
    fp32_models = [m for m in MODELS if any(k[0] == m for k in by)]
    print("\nratios ncnnq/ncnn (lower is better; goal fp32 <= 1.0, int8 <= 0.8)")
    cols = [(p, t) for p in ("fp32", "int8") for t in threads]
    print(f"{'model':<18}" + "".join(f" {p + ' ' + str(t) + 'T':>10}" for p, t in cols))
    for m in fp32_models:
        cells = []
        for p, t in cols:
            r = by.get((m if p == "fp32" else MODELS[m] or "", p, t))
            cells.append(f" {'-':>10}" if r is None else f" {r.ratio:9.2f}{'' if r.ratio <= GOAL[p] else '*'}")
        print(f"{m:<18}" + "".join(cells))
    print("(* above goal)")

    print(f"\nint8 speed-up over ncnnq fp32 (goal >= {INT8_SPEEDUP_GOAL})")
    for m in fp32_models:
        cells = []
        for t in threads:
            f, q = by.get((m, "fp32", t)), by.get((MODELS[m] or "", "int8", t))
            if f and q:
                s = f.ms("ncnnq") / q.ms("ncnnq")
                cells.append(f" {t}T {s:5.2f} {verdict(s >= INT8_SPEEDUP_GOAL):<10}")
        if cells:
            print(f"{m:<18}" + "".join(cells))

    if 1 in threads and 2 in threads:
        print("\n1->2-thread gain t1/t2 (goal: ncnnq's >= ncnn's)")
        print(f"{'model':<24} {'prec':<5} {'ncnnq':>6} {'ncnn':>6}")
        for (m, p, t), r1 in by.items():
            r2 = by.get((m, p, 2))
            if t == 1 and r2:
                gq, gn = r1.ms("ncnnq") / r2.ms("ncnnq"), r1.ms("ncnn") / r2.ms("ncnn")
                print(f"{m:<24} {p:<5} {gq:6.2f} {gn:6.2f} {verdict(gq >= gn)}")
    return [(r.ratio / GOAL[r.precision], r) for r in rows]


def profile(rows: list[tuple[float, Row]], count: int, tmp: Path) -> None:
    """Per-layer comparison of the `count` rows furthest above (or least below) their goal."""
    if count <= 0:
        return
    build = subprocess.run(["cargo", "build", "--release", "--example", "profile_net"], cwd=ROOT,
                           capture_output=True, text=True)
    if build.returncode != 0:
        print(f"\nper-layer comparison skipped: cannot build examples/profile_net\n{build.stderr[-2000:]}")
        return
    for _, r in sorted(rows, key=lambda x: -x[0])[:count]:
        print(f"\n== per layer: {r.model} {r.precision} {r.threads} thread(s), ratio {r.ratio:.2f} ==", flush=True)
        subprocess.run([sys.executable, str(PROFILER), r.model, "--threads", str(r.threads), "--runs", "20",
                        "--top", "12", "--tmp", str(tmp)], check=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=["fp32", "int8"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=15, help="rounds per row, each engine once a round (>= 5)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per engine-round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs per engine-round, after the first")
    ap.add_argument("--stat", choices=list(STATS), default="median",
                    help="figure of a round's runs and of a row's rounds (min: for development on a busy machine)")
    ap.add_argument("--profile", type=int, default=3, help="per-layer comparison of this many slowest ratios")
    args = ap.parse_args(argv)
    if args.rounds < 5:
        ap.error("--rounds must be at least 5")
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"{args.rounds} rounds x {args.runs} runs after {args.warmup + 1} warm-up, a fresh process per engine-round; "
          f"{args.stat}s in ms; started {time.strftime('%H:%M:%S')}")
    head = (f"{'model':<24} {'prec':<5} {'thr':>3} | {'ncnnq':>8} {'ncnn':>8} {'q/n':>6} {'goal':>7} {'':<10} |"
            f" {'cpu q/n':>9} | {'load':>9} | cosine")
    print(head)
    print("-" * len(head))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ncnnq-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        cases = []
        for m in args.models:
            if "fp32" in args.precisions:
                cases.append((m, "fp32"))
            if "int8" in args.precisions and MODELS[m]:
                cases.append((MODELS[m], "int8"))
        for threads in args.threads:
            for stem, precision in cases:
                row = measure(prepare(stem, tmp), precision, threads, args, tmp)
                rows.append(row)
                print_row(row)
        scored = summary(rows)
        print(f"\nfinished {time.strftime('%H:%M:%S')}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        profile(scored, args.profile, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
