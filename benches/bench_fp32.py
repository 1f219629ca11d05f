"""fp32 latency of ncnnq against real ncnn, in the same process, on the same inputs.

    python benches/bench_fp32.py [--threads 1 2] [--runs 15] [--models squeezenet_v1.1 resnet18 ...]

squeezenet_v1.1 runs with its real weights (../shared/data/models); the benchmark architectures
(../shared/data/benchmark-params) get seeded random weights (ncnnq's with_random_weights(1)),
saved to a temporary .bin that both engines load. ncnn is configured as tests/reference.py's
make_ncnn_net does (fp16/bf16 off) with its usual fast paths (Winograd, sgemm, packing) on.
Runs alternate between the engines so background load hits both alike; the table shows medians
after warm-up of wall-clock time and of process CPU time (all threads: on a busy machine the
1-thread CPU time is the load-independent measure), and the cosine of the two outputs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ncnnq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from reference import SHARED, input_shape, make_ncnn_net  # noqa: E402

MODELS = ["squeezenet_v1.1", "mobilenet", "mobilenet_v2", "resnet18", "shufflenet_v2", "googlenet"]


def model_files(stem: str, tmp: Path) -> tuple[Path, Path]:
    """The .param/.bin pair both engines load (random weights for the benchmark params)."""
    real = SHARED / "models" / f"{stem}.param"
    if real.exists():
        return real, real.with_suffix(".bin")
    param = SHARED / "benchmark-params" / f"{stem}.param"
    if not param.exists():
        raise SystemExit(f"no model {stem!r} in {SHARED}")
    out_param, out_bin = tmp / f"{stem}.param", tmp / f"{stem}.bin"
    ncnnq.Model.load(param).with_random_weights(1).save(out_param, out_bin)
    return out_param, out_bin


def make_ncnn(param: Path, bin_path: Path, threads: int):
    net = make_ncnn_net(param, bin_path, threads=threads)
    # make_ncnn_net sets fp16/bf16 off before loading; the fast fp32 paths stay at their defaults
    # (checked here so a changed default shows up rather than skewing the comparison).
    opt = net.opt
    assert opt.use_winograd_convolution and opt.use_sgemm_convolution and opt.use_packing_layout
    return net


def time_once(fn) -> tuple[float, float]:
    """(wall ms, process CPU ms) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - t0) * 1000.0, (time.process_time() - c0) * 1000.0


def bench(stem: str, threads: int, runs: int, warmup: int, tmp: Path) -> dict:
    import ncnn

    param, bin_path = model_files(stem, tmp)
    model = ncnnq.Model.load(param)
    inp, out = model.inputs[0], model.outputs[0]
    x = np.random.default_rng(0).uniform(-1, 1, size=input_shape(model, stem)).astype(np.float32)

    ours = ncnnq.Net(param, bin_path, threads=threads)
    theirs = make_ncnn(param, bin_path, threads)
    mat = ncnn.Mat(x)

    def run_ours():
        return ours.run({inp: x}, [out])[out]

    def run_theirs():
        ex = theirs.create_extractor()
        ex.input(inp, mat)
        _, y = ex.extract(out)
        return y

    a, b = run_ours(), np.array(run_theirs())
    cos = float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
    for _ in range(warmup):
        run_ours()
        run_theirs()
    t_ours, t_theirs = [], []
    for _ in range(runs):
        t_ours.append(time_once(run_ours))
        t_theirs.append(time_once(run_theirs))
    med = lambda ts, i: statistics.median(t[i] for t in ts)  # noqa: E731
    m_ours, m_theirs = med(t_ours, 0), med(t_theirs, 0)
    c_ours, c_theirs = med(t_ours, 1), med(t_theirs, 1)
    return {
        "ours": m_ours,
        "ncnn": m_theirs,
        "ratio": m_ours / m_theirs,
        "cpu_ours": c_ours,
        "cpu_ncnn": c_theirs,
        "cpu_ratio": c_ours / c_theirs,
        "cos": cos,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--runs", type=int, default=15, help="timed runs per engine (>= 10)")
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args(argv)
    if args.runs < 10:
        ap.error("--runs must be at least 10")
    print(
        f"{'model':<16} {'threads':>7} {'ncnnq ms':>9} {'ncnn ms':>9} {'ratio':>6}"
        f" {'ncnnq cpu':>9} {'ncnn cpu':>9} {'ratio':>6} {'cosine':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="ncnnq-bench-") as tmp:
        for stem in args.models:
            for threads in args.threads:
                try:
                    r = bench(stem, threads, args.runs, args.warmup, Path(tmp))
                except ncnnq.UnsupportedLayerError as e:
                    print(f"{stem:<16} {threads:>7}   skipped: {e}")
                    continue
                print(
                    f"{stem:<16} {threads:>7} {r['ours']:>9.2f} {r['ncnn']:>9.2f} {r['ratio']:>6.2f}"
                    f" {r['cpu_ours']:>9.2f} {r['cpu_ncnn']:>9.2f} {r['cpu_ratio']:>6.2f} {r['cos']:>9.6f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
