"""Wall time of `ncnnq table ... method=kl thread=2` on the 500 shared ImageNet images for
squeezenet_v1.1, beside real ncnn2table's time from ../shared/data/reference/README.md.

    python benches/bench_table.py [--runs 3] [--methods kl,eq] [--threads 2]

Times the whole process (as the reference was timed), median of --runs runs. Goals: kl in < 0.5 of
ncnn2table's time; eq within 10x of kl. Also prints the process CPU time (user+sys, less disturbed
by other load than wall time) and the load average, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


def reference_seconds(method: str, threads: int) -> float | None:
    """ncnn2table's median wall time as recorded in the shared reference README."""
    text = (SHARED / "reference" / "README.md").read_text()
    m = re.search(
        r"Wall time of ncnn2table.*?kl ([\d.]+) s with thread=2, ([\d.]+) s with thread=1; "
        r"aciq ([\d.]+) s / ([\d.]+) s",
        text,
        re.S,
    )
    if not m:
        return None
    kl2, kl1, aciq2, aciq1 = map(float, m.groups())
    return {("kl", 2): kl2, ("kl", 1): kl1, ("aciq", 2): aciq2, ("aciq", 1): aciq1}.get((method, threads))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--methods", default="kl")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    ref = SHARED / "reference" / "squeezenet_v1.1"
    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    medians = {}
    print(f"squeezenet_v1.1, {len(images)} images, thread={args.threads}, {args.runs} runs each")
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "list.txt"
        listing.write_text("".join(f"{p}\n" for p in images))
        for method in args.methods.split(","):
            cmd = [sys.executable, "-m", "ncnnq.cli", "table", str(ref / "squeezenet_v1.1-opt.param"),
                   str(ref / "squeezenet_v1.1-opt.bin"), str(listing), str(Path(tmp) / "out.table"),
                   "mean=[104,117,123]", "norm=[1,1,1]", "shape=[227,227,3]", "pixel=BGR",
                   f"thread={args.threads}", f"method={method}"]
            times, cpus, loads = [], [], []
            for _ in range(args.runs):
                loads.append(os.getloadavg()[0])
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times.append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            medians[method] = ours = statistics.median(times)
            line = (f"{method:5} ncnnq table: median {ours:6.2f} s ({', '.join(f'{t:.2f}' for t in times)}), "
                    f"cpu {statistics.median(cpus):.2f} s, load {min(loads):.1f}-{max(loads):.1f}")
            theirs = reference_seconds(method, args.threads)
            if theirs:
                line += f"   ncnn2table {theirs:.2f} s   ratio ncnnq/ncnn2table {ours / theirs:.2f} (goal < 0.5)"
            print(line, flush=True)
    if "kl" in medians and "eq" in medians:
        print(f"eq / kl = {medians['eq'] / medians['kl']:.1f}  (goal <= 10)")


if __name__ == "__main__":
    main()
