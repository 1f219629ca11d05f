"""Per-layer times of ncnnq against real ncnn on one model, to find which layers to speed up
(bench_speed.py runs it on its slowest ratios).

    cargo build --release --example profile_net
    python benches/profile_layers.py squeezenet_v1.1 [--threads 1] [--runs 30] [--top 25]

Models are bench_models.py's (fp32 and int8 files alike). Each engine runs in a process of its
own: ncnnq's times come from examples/profile_net (NCNNQ_PROFILE_LAYERS=tsv: the gap between
consecutive blobs produced), ncnn's from a child process of this script that runs the net as
bench_speed.py's worker does (light mode on, same options) but asks one extractor for every
layer's top in layer order (`extract(type=1)`, no unpacking): ncnn computes lazily, so each call
runs just that layer, and its time less the cost of a call that computes nothing (extracting the
same blob again, median over all calls) is that layer's cost. (The old way, a fresh extractor
per layer with its bottoms extracted untimed first and light mode off, charged every layer a
call's overhead, ~4 us, and the in-place layers a clone.) Both engines give each layer's minimum
and median over the runs; the header compares the sums with ncnn's whole run (one extract of the
output), so a bias shows: on mobilenet_v2 ncnn's sums of minimums came out 4-7 % above its whole
run (5.23 vs 5.05 ms, 5.39 vs 5.04 ms), a few us a layer (the Python between calls), so read
single-layer excesses of a few us as noise. Minimums resist load
(a layer is rarely preempted: runs are, every few ms), medians resist the vCPUs' speed changes;
the tables sort by the excess of medians.
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
from pathlib import Path

import numpy as np

from bench_models import ROOT, prepare

PROFILER = ROOT / "target" / "release" / "examples" / "profile_net"


Times = dict[str, tuple[str, float, float]]  # layer -> (type, minimum ms, median ms)


def ncnnq_layers(param: Path, threads: int, runs: int) -> Times:
    if not PROFILER.exists():
        raise SystemExit(f"build the profiler first: cargo build --release --example profile_net ({PROFILER})")
    env = dict(os.environ, NCNNQ_PROFILE_LAYERS="tsv")
    out = subprocess.run([str(PROFILER), str(param), str(runs), str(threads)], env=env, check=True,
                         capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines()[1:]:
        name, type_name, low, mid = line.split("\t")
        rows[name] = (type_name, float(low), float(mid))
    return rows


def ncnn_layers(
    param: Path, bin_path: Path, inp: str, shape: tuple[int, ...], threads: int, runs: int
) -> dict[str, object]:
    """Per-layer (type, minimum, median) of ncnn, and its whole run's minimum and median."""
    sys.path.insert(0, str(ROOT / "tests"))
    import ncnn

    from reference import make_ncnn_net

    net = make_ncnn_net(param, bin_path, threads=threads)
    blobs = [b.name for b in net.blobs()]
    layers = [(layer.name, layer.type, blobs[layer.tops[0]]) for layer in net.layers() if layer.type != "Input"]
    out = blobs[net.layers()[-1].tops[0]]
    mat = ncnn.Mat(np.full(shape, 0.5, dtype=np.float32)).clone()
    clock = time.perf_counter
    spans: dict[str, list[float]] = {name: [] for name, _, _ in layers}
    idle: list[float] = []
    whole: list[float] = []
    for _ in range(runs):
        ex = net.create_extractor()
        ex.input(inp, mat)
        t0 = clock()
        ex.extract(out, 1)
        whole.append(clock() - t0)
        ex = net.create_extractor()
        ex.input(inp, mat)
        for name, _, top in layers:
            t0 = clock()
            ex.extract(top, 1)  # runs this layer only: its bottoms are there already
            t1 = clock()
            ex.extract(top, 1)  # runs nothing: the cost of a call
            t2 = clock()
            spans[name].append(t1 - t0)
            idle.append(t2 - t1)
    call = statistics.median(idle)
    ms = 1000.0
    times = {name: (type_name, (min(spans[name]) - call) * ms, (statistics.median(spans[name]) - call) * ms)
             for name, type_name, _ in layers}
    return {"layers": times, "whole": (min(whole) * ms, statistics.median(whole) * ms), "call": call * ms}


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
        ncnn_run = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        import ncnnq

        model = ncnnq.Model.load(f.param)
    theirs = {name: tuple(v) for name, v in ncnn_run["layers"].items()}
    shapes = {layer.name: layer for layer in model.layers}
    per_type: dict[str, list[float]] = {}
    rows = []
    for name, (type_name, low, mid) in ours.items():
        if name not in theirs:  # Input
            continue
        _, ref_low, ref_mid = theirs[name]
        t = per_type.setdefault(type_name, [0.0, 0.0, 0.0, 0.0, 0])
        for i, v in enumerate((low, ref_low, mid, ref_mid)):
            t[i] += v
        t[4] += 1
        layer = shapes.get(name)
        shape = model.blob_shape(layer.tops[0]) if layer else None
        rows.append((name, type_name, low, ref_low, mid, ref_mid, shape))
    sums = [sum(t[i] for t in per_type.values()) for i in range(4)]
    whole_low, whole_mid = ncnn_run["whole"]
    print(f"{args.model}, {args.threads} thread(s), {args.runs} runs; sums over layers, minimums: ncnnq "
          f"{sums[0]:.2f} ms, ncnn {sums[1]:.2f} ms, ratio {sums[0] / sums[1]:.2f}; medians: ncnnq {sums[2]:.2f} "
          f"ms, ncnn {sums[3]:.2f} ms, ratio {sums[2] / sums[3]:.2f}")
    print(f"ncnn's whole run: minimum {whole_low:.2f} ms, median {whole_mid:.2f} ms (a call that computes "
          f"nothing: {ncnn_run['call'] * 1000:.1f} us, taken off each layer)")
    print(f"\n{'type':<22} {'layers':>6} {'ncnnq':>8} {'ncnn':>8} {'ratio':>6} {'excess':>7}   (medians)")
    for type_name, (_, _, a, b, n) in sorted(per_type.items(), key=lambda kv: kv[1][3] - kv[1][2]):
        print(f"{type_name:<22} {n:>6} {a:>8.3f} {b:>8.3f} {a / b if b else float('nan'):>6.2f} {a - b:>7.3f}")
    print(f"\n{'layer':<36} {'type':<20} {'min: ncnnq':>10} {'ncnn':>7} {'med: ncnnq':>10} {'ncnn':>7} "
          f"{'excess':>7}  out shape")
    for name, type_name, low, ref_low, mid, ref_mid, shape in sorted(rows, key=lambda r: r[5] - r[4])[: args.top]:
        print(f"{name:<36} {type_name:<20} {low:>10.3f} {ref_low:>7.3f} {mid:>10.3f} {ref_mid:>7.3f} "
              f"{mid - ref_mid:>7.3f}  {shape}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
