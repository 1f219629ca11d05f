"""Wall time of `ncnnq table ... method=kl thread=2` on the 500 shared ImageNet images for
squeezenet_v1.1, beside real ncnn2table's time from ../shared/data/reference/README.md.

    python benches/bench_table.py [--runs 3] [--method kl] [--threads 2]

Times the whole process (as the reference was timed), median of --runs runs. Goal: < 0.5 of
ncnn2table's time.
"""

from __future__ import annotations

import argparse
import re
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
    m = re.search(r"Wall time of ncnn2table.*?kl ([\d.]+) s with thread=2, ([\d.]+) s with thread=1; aciq ([\d.]+) s / ([\d.]+) s", text, re.S)
    if not m:
        return None
    kl2, kl1, aciq2, aciq1 = map(float, m.groups())
    return {("kl", 2): kl2, ("kl", 1): kl1, ("aciq", 2): aciq2, ("aciq", 1): aciq1}.get((method, threads))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--method", default="kl")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    ref = SHARED / "reference" / "squeezenet_v1.1"
    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "list.txt"
        listing.write_text("".join(f"{p}\n" for p in images))
        cmd = [sys.executable, "-m", "ncnnq.cli", "table", str(ref / "squeezenet_v1.1-opt.param"),
               str(ref / "squeezenet_v1.1-opt.bin"), str(listing), str(Path(tmp) / "out.table"),
               "mean=[104,117,123]", "norm=[1,1,1]", "shape=[227,227,3]", "pixel=BGR",
               f"thread={args.threads}", f"method={args.method}"]
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
    ours = statistics.median(times)
    theirs = reference_seconds(args.method, args.threads)
    print(f"squeezenet_v1.1, {len(images)} images, method={args.method}, thread={args.threads}")
    print(f"ncnnq table: median {ours:.2f} s of {args.runs} ({', '.join(f'{t:.2f}' for t in times)})")
    if theirs:
        print(f"ncnn2table:  {theirs:.2f} s (reference README)   ratio ncnnq/ncnn = {ours / theirs:.2f}  (goal < 0.5)")


if __name__ == "__main__":
    main()
