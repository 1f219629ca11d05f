"""Each layer of a model alone, in ncnnq and in real ncnn: where the time goes, layer by layer.

    python benches/layer_bench.py resnet18 [--types Convolution Pooling] [--threads 1] [--runs 100]

Every layer of the chosen types is cut out of the model (ncnnq's optimize with cut_start =
cut_end = the layer: one Input of the blob's shape, then the layer, with the model's weights) and
timed in each engine in a process of its own (engine_worker.py), the minimum of `--runs` runs:
on a busy machine the minimum is what other processes disturb least. Unlike profile_layers.py,
the layer's time is not mixed with the extractor's per-call overhead or with the neighbours'
cache footprint. Rows are sorted by excess (ncnnq - ncnn); models are bench_models.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import ncnnq
from bench_models import prepare

WORKER = Path(__file__).resolve().with_name("engine_worker.py")


def best(engine: str, param: Path, bin_path: Path, inp: str, out: str, shape: tuple[int, ...], threads: int,
         runs: int, clock: str = "wall") -> float:
    cmd = [sys.executable, str(WORKER), engine, str(param), str(bin_path), "--input", inp, "--output", out,
           "--shape", ",".join(map(str, shape)), "--threads", str(threads), "--warmup", "5", "--runs", str(runs)]
    # A network run finds the heap grown by earlier runs; a lone layer's buffers would go back to
    # the system after each run and page-fault in again: keep glibc from trimming, as a network
    # run's live blobs do.
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="1000000000", MALLOC_MMAP_THRESHOLD_="1000000000")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "worker failed")
    return min(json.loads(done.stdout)[clock])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--types", nargs="+", default=["Convolution", "ConvolutionDepthWise", "Pooling"])
    ap.add_argument("--layers", nargs="+", help="only these layers")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: the process's CPU time (at 1 thread, what a busy machine disturbs least)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ncnnq-layers-") as tmp_dir:
        tmp = Path(tmp_dir)
        f = prepare(args.model, tmp)
        model = ncnnq.Model.load(f.param, f.bin)
        for layer in model.layers:
            if layer.type not in args.types or (args.layers and layer.name not in args.layers):
                continue
            shape = model.blob_shape(layer.bottoms[0])
            if shape is None:
                print(f"{layer.name}: no shape hint for its input; skipped", file=sys.stderr)
                continue
            dims, w, h, d, c = shape
            np_shape = {1: (w,), 2: (h, w), 3: (c, h, w), 4: (c, d, h, w)}[dims]
            cut, _ = ncnnq.optimize(model, cut_start=layer.name, cut_end=layer.name, shape_inference=False)
            param, bin_path = tmp / "layer.param", tmp / "layer.bin"
            cut.save(param, bin_path)
            inp = cut.inputs[0]
            top = layer.tops[0]
            try:
                q = best("ncnnq", param, bin_path, inp, top, np_shape, args.threads, args.runs, args.clock)
                n = best("ncnn", param, bin_path, inp, top, np_shape, args.threads, args.runs, args.clock)
            except RuntimeError as e:
                print(f"{layer.name}: {e}", file=sys.stderr)
                continue
            key = {i: layer.param(i) for i in (0, 1, 3, 8) if layer.param(i) is not None}
            rows.append((q - n, layer.name, layer.type, q, n, f"{np_shape}", key))
            print(f"  {layer.name:<32} {q:8.3f} {n:8.3f} {q / n:5.2f}", file=sys.stderr, flush=True)
    total_q, total_n = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"{args.model}, {args.threads} thread(s), {len(rows)} layers alone, minimum {args.clock} time of "
          f"{args.runs} runs each: ncnnq {total_q:.2f} ms, ncnn {total_n:.2f} ms, ratio {total_q / total_n:.2f}")
    print(f"{'layer':<32} {'type':<22} {'ncnnq':>8} {'ncnn':>8} {'ratio':>6}  input, params")
    for _, name, type_name, q, n, shape, key in sorted(rows, reverse=True):
        print(f"{name:<32} {type_name:<22} {q:8.3f} {n:8.3f} {q / n:6.2f}  {shape} {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
