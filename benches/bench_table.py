"""Wall time of `ncnnq table` against real ncnn2table, in the same run, rounds alternating.

    python benches/bench_table.py [--rounds 3] [--models squeezenet_v1.1 nanodet_m ppocrv4_det]
                                  [--method kl] [--thread 2] [--images 500]

Both tools calibrate the same model on the same list of the shared ImageNet JPEGs with the same
options (ncnn2table's syntax; defaults method=kl thread=2, every one of the 500 images); each
round runs each tool once as a whole process, the order alternating between rounds. Prints per
model the median wall and CPU (user+sys) times, the ratio ncnnq/ncnn2table with its goal (<= 0.5),
the load average, and how the tables compare: ncnnq's must be the same file in every round, and
its scales are compared with ncnn2table's (median and largest relative difference).

`../shared/tools/ncnn/ncnn2table` is real ncnn's tool built for this machine: for benches only.
A model the engine cannot run yet is reported and skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared" / "data").resolve()
NCNN2TABLE = (ROOT / ".." / "shared" / "tools" / "ncnn" / "ncnn2table").resolve()
GOAL = 0.5


@dataclass(frozen=True)
class Model:
    param: Path
    options: list[str]

    @property
    def bin(self) -> Path:
        return self.param.with_suffix(".bin")


MODELS = {
    "squeezenet_v1.1": Model(SHARED / "reference" / "squeezenet_v1.1" / "squeezenet_v1.1-opt.param",
                             ["mean=[104,117,123]", "norm=[1,1,1]", "shape=[227,227,3]", "pixel=BGR"]),
    "nanodet_m": Model(SHARED / "models" / "nanodet_m.param",
                       ["mean=[103.53,116.28,123.675]", "norm=[0.017429,0.017507,0.017125]", "shape=[320,320,3]",
                        "pixel=BGR"]),
    "ppocrv4_det": Model(SHARED / "models" / "ppocrv4_det.ncnn.param",
                         ["mean=[123.675,116.28,103.53]", "norm=[0.017125,0.017507,0.017429]", "shape=[640,640,3]",
                          "pixel=RGB"]),
}


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stderr tail) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, done.stderr


def read_table(path: Path) -> dict[str, np.ndarray]:
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts:
            out[parts[0]] = np.array([float(v) for v in parts[1:]], dtype=np.float64)
    return out


def compare(ours: Path, theirs: Path) -> str:
    a, b = read_table(ours), read_table(theirs)
    common = [k for k in a if k in b and a[k].shape == b[k].shape]
    if not common:
        return "no common entries"
    rel = []
    for k in common:
        ok = np.isfinite(b[k]) & (b[k] != 0)
        rel.extend(np.abs(a[k][ok] - b[k][ok]) / np.abs(b[k][ok]))
    rel = np.array(rel)
    return (f"{len(common)}/{len(b)} entries in common, scales vs ncnn2table: median rel diff {np.median(rel):.2%}, "
            f"max {rel.max():.2%}")


def runnable(model: Model) -> str | None:
    """Why ncnnq's engine cannot run the model, or None."""
    import ncnnq
    from ncnnq.errors import Error

    try:
        ncnnq.Net(ncnnq.Model.load(model.param, model.bin), threads=1)
    except Error as e:
        return str(e)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--method", default="kl")
    ap.add_argument("--thread", type=int, default=2)
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args(argv)
    if not NCNN2TABLE.exists():
        raise SystemExit(f"real ncnn2table not found at {NCNN2TABLE}")
    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))[: args.images]
    print(f"{len(images)} JPEGs, method={args.method} thread={args.thread}, {args.rounds} rounds, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs, "
          f"started {time.strftime('%H:%M:%S')}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ncnnq-bench-table-") as tmp_dir:
        tmp = Path(tmp_dir)
        listing = tmp / "list.txt"
        listing.write_text("".join(f"{p}\n" for p in images))
        for name in args.models:
            model = MODELS[name]
            why = runnable(model)
            if why:
                print(f"{name}: skipped, ncnnq's engine cannot run it yet: {why}", flush=True)
                continue
            opts = [*model.options, f"thread={args.thread}", f"method={args.method}"]
            cmds = {
                "ncnnq": [sys.executable, "-m", "ncnnq.cli", "table", str(model.param), str(model.bin), str(listing),
                          str(tmp / "ncnnq.table"), *opts],
                "ncnn2table": [str(NCNN2TABLE), str(model.param), str(model.bin), str(listing),
                               str(tmp / "ncnn.table"), *opts],
            }
            times: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
            loads, digests = [], set()
            for r in range(args.rounds):
                for tool in (cmds if r % 2 == 0 else dict(reversed(list(cmds.items())))):
                    loads.append(os.getloadavg()[0])
                    wall, cpu, _ = timed(cmds[tool])
                    times[tool].append((wall, cpu))
                digests.add(hashlib.sha256((tmp / "ncnnq.table").read_bytes()).hexdigest()[:12])
            med = {
                k: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for k, v in times.items()
            }
            ratio = med["ncnnq"][0] / med["ncnn2table"][0]
            print(f"{name}: ncnnq {med['ncnnq'][0]:.2f} s (cpu {med['ncnnq'][1]:.2f}), ncnn2table "
                  f"{med['ncnn2table'][0]:.2f} s (cpu {med['ncnn2table'][1]:.2f}), ratio {ratio:.2f} "
                  f"(goal <= {GOAL}: {'ok' if ratio <= GOAL else 'ABOVE GOAL'}), "
                  f"load {min(loads):.1f}-{max(loads):.1f}")
            versions = len(digests)
            same = "the same in every round" if versions == 1 else f"DIFFERS between rounds ({versions} versions)"
            print(f"    ncnnq's table {'/'.join(sorted(digests))} {same}; "
                  f"{compare(tmp / 'ncnnq.table', tmp / 'ncnn.table')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
