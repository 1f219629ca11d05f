"""Per-layer times of ncnnq against real ncnn on one model, to find which layers to speed up
(bench_speed.py runs it on its slowest ratios).

    cargo build --release --example profile_net
    python benches/profile_layers.py squeezenet_v1.1 [--threads 1] [--runs 30] [--top 25]

Models are bench_models.py's (fp32 and int8 files alike). Each engine runs in a process of its
own: ncnnq's times come from examples/profile_net (NCNNQ_PROFILE_LAYERS=tsv: the gap between
consecutive blobs produced, minimum over the runs), ncnn's from a child process of this script
with one extractor per run, light mode off: the layer's bottoms are extracted first (untimed), then
its top alone is timed (`extract(type=1)`, so no unpacking is counted), minimum over the runs.
With light mode off ncnn clones the bottom of an in-place layer first, so its in-place layers
(ReLU, ...) look a little slower than they are. Minimums make the numbers robust to load; totals
are sums of minimums.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_models import ROOT, prepare

PROFILER = ROOT / "target" / "release" / "examples" / "profile_net"


def ncnnq_layers(param: Path, threads: int, runs: int) -> dict[str, tuple[str, float]]:
    if not PROFILER.exists():
        raise SystemExit(f"build the profiler first: cargo build --release --example profile_net ({PROFILER})")
    env = dict(os.environ, NCNNQ_PROFILE_LAYERS="tsv")
    out = subprocess.run([str(PROFILER), str(param), str(runs), str(threads)], env=env, check=True,
                         capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines()[1:]:
        name, type_name, ms = line.split("\t")
        rows[name] = (type_name, float(ms))
    return rows


def ncnn_layers(
    param: Path, bin_path: Path, inp: str, shape: tuple[int, ...], threads: int, runs: int
) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "tests"))
    import ncnn

    from reference import make_ncnn_net

    net = make_ncnn_net(param, bin_path, threads=threads)
    blobs = [b.name for b in net.blobs()]
    mat = ncnn.Mat(np.full(shape, 0.5, dtype=np.float32)).clone()
    best: dict[str, float] = {}
    for layer in net.layers():
        if layer.type == "Input":
            continue
        for _ in range(runs):
            ex = net.create_extractor()
            ex.set_light_mode(False)
            ex.input(inp, mat)
            for b in layer.bottoms:
                ex.extract(blobs[b], 1)
            t0 = time.perf_counter()
            ex.extract(blobs[layer.tops[0]], 1)
            ms = (time.perf_counter() - t0) * 1000.0
            best[layer.name] = min(best.get(layer.name, float("inf")), ms)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--top", type=int, default=25, help="layers listed (largest excess over ncnn first)")
    ap.add_argument("--tmp", type=Path, help="folder for the random-weight files (default: a temporary one)")
    ap.add_argument("--ncnn-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ncnnq-prof-") as own_tmp:
        f = prepare(args.model, args.tmp or Path(own_tmp))
        if args.ncnn_child:
            json.dump(ncnn_layers(f.param, f.bin, f.input, f.shape, args.threads, args.runs), sys.stdout)
            sys.stdout.flush()
            os._exit(0)
        ours = ncnnq_layers(f.param, args.threads, args.runs)
        child = [sys.executable, __file__, args.model, "--threads", str(args.threads), "--runs", str(args.runs),
                 "--tmp", str(args.tmp or own_tmp), "--ncnn-child"]
        theirs = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        import ncnnq

        model = ncnnq.Model.load(f.param)
    shapes = {layer.name: layer for layer in model.layers}
    per_type: dict[str, list[float]] = {}
    rows = []
    for name, (type_name, ms) in ours.items():
        if name not in theirs:  # Input
            continue
        ref = theirs[name]
        t = per_type.setdefault(type_name, [0.0, 0.0, 0])
        t[0] += ms
        t[1] += ref
        t[2] += 1
        layer = shapes.get(name)
        shape = model.blob_shape(layer.tops[0]) if layer else None
        rows.append((ms, name, type_name, ref, shape))
    total_ours = sum(t[0] for t in per_type.values())
    total_theirs = sum(t[1] for t in per_type.values())
    print(f"{args.model}, {args.threads} thread(s), sums of per-layer minimums: ncnnq {total_ours:.2f} ms, "
          f"ncnn {total_theirs:.2f} ms, ratio {total_ours / total_theirs:.2f}")
    print(f"{'type':<22} {'layers':>6} {'ncnnq':>8} {'ncnn':>8} {'ratio':>6} {'excess':>7}")
    for type_name, (a, b, n) in sorted(per_type.items(), key=lambda kv: kv[1][1] - kv[1][0]):
        print(f"{type_name:<22} {n:>6} {a:>8.3f} {b:>8.3f} {a / b if b else float('nan'):>6.2f} {a - b:>7.3f}")
    print(f"\n{'layer':<36} {'type':<20} {'ncnnq':>7} {'ncnn':>7} {'ratio':>6}  out shape")
    for ms, name, type_name, ref, shape in sorted(rows, key=lambda r: r[3] - r[0])[: args.top]:
        print(f"{name:<36} {type_name:<20} {ms:>7.3f} {ref:>7.3f} {ms / ref if ref else float('nan'):>6.2f}  {shape}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
