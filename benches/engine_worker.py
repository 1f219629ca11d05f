"""One engine-round of bench_speed.py: load one model in ONE engine, warm up, time a few runs, print
the times as JSON on stdout, exit.

    python benches/engine_worker.py {ncnn|ncnnq} MODEL.param MODEL.bin --input data --output prob
        --shape 3,227,227 --threads 2 [--warmup 3] [--runs 5] [--save-output out.npy]

Each engine runs in a process of its own and only while it is measured: ncnn's OpenMP workers keep
spinning after a call and would take a core from anything else in the same process, or running
beside it. This file imports only the engine it runs. The input is filled with 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# numpy's OpenBLAS starts a thread per extra core at import, and each spins (yielding) for ~0.1 s
# before it sleeps. That window covered the timed calls of whichever engine loads faster: at
# 2 threads ncnnq's first 6-8 calls of mobilenet_int8 ran at 1-thread speed (3.4-4.0 ms, then
# 2.0), ncnn's (which loads longer) did not. The harness only fills an array with numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # after the variable: OpenBLAS reads it when it loads


def ncnn_runner(param: Path, bin_path: Path, inp: str, out: str, x: np.ndarray, threads: int):
    import ncnn

    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = threads
    # fp32 arithmetic and storage, as tests/reference.py's referee; Winograd, sgemm and packing
    # stay at their defaults (checked so a changed default shows up rather than skewing results).
    opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    assert opt.use_winograd_convolution and opt.use_sgemm_convolution and opt.use_packing_layout
    assert opt.use_int8_inference
    if net.load_param(str(param)) != 0 or net.load_model(str(bin_path)) != 0:
        raise SystemExit(f"ncnn cannot load {param}")
    # clone(): a Mat wrapping numpy keeps numpy's channel step; a clone has ncnn's own layout.
    mat = ncnn.Mat(x).clone()

    def run() -> np.ndarray:
        ex = net.create_extractor()
        ex.input(inp, mat)
        _, y = ex.extract(out)
        return np.array(y)

    return run, net


def ncnnq_runner(param: Path, bin_path: Path, inp: str, out: str, x: np.ndarray, threads: int):
    import ncnnq

    net = ncnnq.Net(param, bin_path, threads=threads)

    def run() -> np.ndarray:
        return net.run({inp: x}, [out])[out]

    return run, net


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("engine", choices=["ncnn", "ncnnq"])
    ap.add_argument("param", type=Path)
    ap.add_argument("bin", type=Path)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--shape", required=True, help="numpy order, comma-separated (c,h,w)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--save-output", type=Path)
    args = ap.parse_args(argv)
    x = np.full(tuple(int(v) for v in args.shape.split(",")), 0.5, dtype=np.float32)
    make = ncnn_runner if args.engine == "ncnn" else ncnnq_runner
    run, _net = make(args.param, args.bin, args.input, args.output, x, args.threads)
    y = run()
    if args.save_output:
        np.save(args.save_output, y)
    for _ in range(args.warmup):
        run()
    wall, cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    json.dump({"wall": wall, "cpu": cpu, "load": os.getloadavg()[0]}, sys.stdout)
    sys.stdout.flush()
    # Leave at once: no teardown runs beside the next engine.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
