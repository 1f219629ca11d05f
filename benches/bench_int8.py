"""int8 latency of ncnnq against real ncnn in the same run, and against ncnnq's own fp32.

    python benches/bench_int8.py [--threads 1 2] [--runs 15] [--models squeezenet_int8 ...]

Models: ncnn's benchmark int8 architectures (../shared/data/benchmark-params, seeded random
weights from ncnnq's with_random_weights(1), saved to a temporary .bin both engines load) and the
squeezenet_v1.1 file ncnn2int8 wrote (../shared/data/reference). The fp32 column runs the same
architecture's float model in ncnnq (the benchmark fp32 param, or squeezenet_v1.1-opt), for the
"int8 at least 1.5x faster than fp32" goal.

ncnn runs as tests/reference.py's make_ncnn_net configures it (fp16/bf16 off, int8 inference,
Winograd, sgemm and packing on). Runs alternate between the engines so background load hits both
alike. The table shows medians (after warm-up) of wall time and of process CPU time: on a busy
machine the 1-thread CPU time is the measure least disturbed by other processes. The header
prints the load average and the int8 kernel path; each row the kernels that ran.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ncnnq
from ncnnq import _native

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from reference import SHARED, input_shape, make_ncnn_net  # noqa: E402

# int8 model -> (its fp32 counterpart, stem for input_shape)
MODELS = {
    "squeezenet_int8": "squeezenet",
    "mobilenet_int8": "mobilenet",
    "resnet18_int8": "resnet18",
    "googlenet_int8": "googlenet",
    "squeezenet_v1.1-int8-kl": "squeezenet_v1.1-opt",
}


def files(stem: str, tmp: Path) -> tuple[Path, Path]:
    """The .param/.bin both engines load: shared weights, or random ones saved to ``tmp``."""
    for folder in (SHARED / "reference" / "squeezenet_v1.1", SHARED / "models"):
        if (folder / f"{stem}.param").exists():
            return folder / f"{stem}.param", folder / f"{stem}.bin"
    param = SHARED / "benchmark-params" / f"{stem}.param"
    if not param.exists():
        raise SystemExit(f"no model {stem!r} in {SHARED}")
    out = tmp / f"{stem}.param"
    ncnnq.Model.load(param).with_random_weights(1).save(out, out.with_suffix(".bin"))
    return out, out.with_suffix(".bin")


def shape_of(model: ncnnq.Model, stem: str) -> tuple[int, ...]:
    return input_shape(model, "squeezenet_v1.1" if stem.startswith("squeezenet_v1.1") else stem)


def timed(fn) -> tuple[float, float]:
    """(wall ms, process CPU ms) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3


class Runner:
    def __init__(self, param: Path, bin_path: Path, stem: str, threads: int, engine: str):
        model = ncnnq.Model.load(param)
        self.inp, self.out = model.inputs[0], model.outputs[0]
        self.x = np.random.default_rng(0).uniform(-1, 1, size=shape_of(model, stem)).astype(np.float32)
        if engine == "ncnn":
            import ncnn

            self.net = make_ncnn_net(param, bin_path, threads=threads)
            assert self.net.opt.use_int8_inference and self.net.opt.use_winograd_convolution
            self.mat = ncnn.Mat(self.x)
            self.run = self._ncnn
        else:
            self.net = ncnnq.Net(param, bin_path, threads=threads)
            self.run = self._ours

    def _ncnn(self) -> np.ndarray:
        ex = self.net.create_extractor()
        ex.input(self.inp, self.mat)
        _, y = ex.extract(self.out)
        return np.array(y)

    def _ours(self) -> np.ndarray:
        return self.net.run({self.inp: self.x}, [self.out])[self.out]


def median(samples: list[tuple[float, float]], i: int) -> float:
    return statistics.median(s[i] for s in samples)


def bench(stem: str, threads: int, runs: int, warmup: int, tmp: Path) -> dict:
    param, bin_path = files(stem, tmp)
    runners = {
        "ncnnq": Runner(param, bin_path, stem, threads, "ncnnq"),
        "ncnn": Runner(param, bin_path, stem, threads, "ncnn"),
    }
    fp32_stem = MODELS[stem]
    try:
        fp32_param, fp32_bin = files(fp32_stem, tmp)
        runners["fp32"] = Runner(fp32_param, fp32_bin, fp32_stem, threads, "ncnnq")
        fp32_note = ""
    except ncnnq.UnsupportedLayerError as e:
        fp32_note = f"fp32 n/a: {e}"
    a, b = runners["ncnnq"].run(), runners["ncnn"].run()
    cos = float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
    for _ in range(warmup):
        for r in runners.values():
            r.run()
    before = _native.kernel_calls()
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in runners}
    for _ in range(runs):
        for k, r in runners.items():
            samples[k].append(timed(r.run))
    start = {(kind, path): n for kind, path, n in before}
    kernels = sorted({f"{kind}:{path}" for kind, path, n in _native.kernel_calls() if n > start.get((kind, path), 0)})
    result = {k: (median(v, 0), median(v, 1)) for k, v in samples.items()}
    return {"result": result, "cos": cos, "kernels": kernels, "note": fp32_note}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--runs", type=int, default=15, help="timed runs per engine (>= 10)")
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args(argv)
    if args.runs < 10:
        ap.error("--runs must be at least 10")
    print(f"int8 path {_native.int8_kernel()} (available {', '.join(_native.int8_kernels_available())}); "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs; "
          f"{args.runs} timed runs after {args.warmup} warm-up, medians in ms")
    header = (f"{'model':<24} {'thr':>3} | {'ncnnq':>7} {'ncnn':>7} {'q/n':>5} | {'cpu q':>7} {'cpu n':>7} {'q/n':>5}"
              f" | {'fp32':>7} {'f/q':>5} {'cpu f':>7} {'f/q':>5} | {'cosine':>8}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="ncnnq-bench-int8-") as tmp:
        for stem in args.models:
            for threads in args.threads:
                r = bench(stem, threads, args.runs, args.warmup, Path(tmp))
                (q, cq), (n, cn) = r["result"]["ncnnq"], r["result"]["ncnn"]
                f, cf = r["result"].get("fp32", (float("nan"), float("nan")))
                print(f"{stem:<24} {threads:>3} | {q:7.2f} {n:7.2f} {q / n:5.2f} | {cq:7.2f} {cn:7.2f} {cq / cn:5.2f}"
                      f" | {f:7.2f} {f / q:5.2f} {cf:7.2f} {cf / cq:5.2f} | {r['cos']:8.6f}")
                print(f"{'':<28}kernels {' '.join(r['kernels'])}{'; ' + r['note'] if r['note'] else ''}")
    print("q/n < 1: ncnnq faster than ncnn int8; f/q >= 1.5: int8 at least 1.5x faster than ncnnq fp32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
