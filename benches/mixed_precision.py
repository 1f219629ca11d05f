"""Automatic mixed precision on real models, judged on held-out images in real ncnn.

    python benches/mixed_precision.py [--models squeezenet,nanodet,ppocr] [--threads 2] [--eval 250]
        [--method best+cle+shift+round+bc] [--swap] [--out dir]

Protocol: ``ncnnq.quantize_model(..., target=...)`` gets the even-indexed sorted shared JPEGs (it
splits them into calibration and validation itself, ``--val``); the written int8 files and the
fp32 model then run in real ncnn (PyPI ``ncnn``, fp32 float layers) on the odd-indexed JPEGs,
which took no part in calibration or in any choice. For each model it prints the target, the
layers kept float, the share of the quantizable MACs int8, the held-out figure (pooled SQNR per
output via ``evaluate.compare``: the worst output's, and the mean over outputs; per-image worst
for ppocrv4_det; top-1 agreement for squeezenet), the same for the all-int8 file of the method's
table, and ncnnq's latency of the result, of all-int8 and of fp32 (median of ``--runs``).
The search starts from ``--method`` (default: what ``target=`` starts from,
``best+cle+shift+round+bc``); "all int8" is that method's all-int8 file. The files are written
with the float arrays as the search judged them (fp32 from a recipe with ``cle`` or ``shift``;
``--fp32 0`` or ``1`` decides instead). ``--out`` keeps each
model's files; the peak RSS of the process is printed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ncnnq
from ncnnq.evaluate import Quality, compare
from ncnnq.images import InputSpec, image_tensor
from ncnnq.int8 import save_int8
from ncnnq.pipeline import quantize_model
from ncnnq.runner import bench
from ncnnq.verify import load_ncnn, run_ncnn

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")


@dataclass(frozen=True)
class Case:
    name: str
    model: Path
    spec: InputSpec
    target: str


CASES = {
    "squeezenet": Case(
        "squeezenet_v1.1", SHARED / "models" / "squeezenet_v1.1",
        InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0)), "top1:0.99",
    ),
    "nanodet": Case(
        "nanodet_m", SHARED / "models" / "nanodet_m",
        InputSpec((320, 320, 3), "BGR", (103.53, 116.28, 123.675), (0.017429, 0.017507, 0.017125)), "sqnr:25",
    ),
    "ppocr": Case(
        "ppocrv4_det", SHARED / "models" / "ppocrv4_det.ncnn",
        InputSpec((640, 640, 3), "RGB", (123.675, 116.28, 103.53), (0.017125, 0.017507, 0.017429)), "sqnr:20",
    ),
}


def describe(q: Quality, target: str) -> str:
    metric = target.split(":")[0]
    if metric == "top1":
        return f"top-1 {q.top1:.1%}, expected {q.top1_expected:.1%} (SQNR {q.sqnr_worst:.1f} dB)"
    worst_image = min(o.sqnr_db_worst_sample for o in q.outputs)
    return f"{q.sqnr_worst:.1f} dB worst output, {q.sqnr_mean:.1f} mean, worst image {worst_image:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="squeezenet,nanodet,ppocr")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib", type=int, default=250, help="even-indexed images given to the tool")
    ap.add_argument("--eval", type=int, default=250, help="odd-indexed images evaluated in real ncnn")
    ap.add_argument("--swap", action="store_true",
                    help="the other way round: the tool gets the odd-indexed images, the even ones are held out")
    ap.add_argument("--val", type=float, default=0.2, help="validation fraction the tool splits off")
    ap.add_argument("--runs", type=int, default=10, help="latency runs per model")
    ap.add_argument("--target", default="", help="override every model's target")
    ap.add_argument("--method", default=None, help="the method the search starts from (default: target='s)")
    ap.add_argument("--fp32", type=int, choices=(0, 1), default=None,
                    help="float arrays as fp32 (1) or fp16 (0); default: as quantize_model chooses")
    ap.add_argument("--out", type=Path, help="also keep each model's result and all-int8 files here")
    args = ap.parse_args()

    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    given, held = (images[1::2], images[0::2]) if args.swap else (images[0::2], images[1::2])
    given, evaluated = given[: args.calib], held[: args.eval]
    rows = []
    for key in args.models.split(","):
        case = CASES[key]
        target = args.target or case.target
        param, bin_path = case.model.with_suffix(case.model.suffix + ".param"), case.model.with_suffix(
            case.model.suffix + ".bin")
        model = ncnnq.Model.load(param, bin_path)
        outputs = list(model.outputs)
        t0 = time.perf_counter()
        result = quantize_model(model, given, args.method, specs=[case.spec], threads=args.threads, target=target,
                                validation=args.val, fp32_storage=None if args.fp32 is None else bool(args.fp32))
        seconds = time.perf_counter() - t0
        assert result.mixed is not None
        search = result.mixed.search
        print(f"{case.name}: search {seconds:.0f} s; validation {search.value:.4g} "
              f"(all int8 {search.all_int8_value:.4g}); float {list(search.float_layers)}", flush=True)
        for step in search.steps:
            print(f"  {step.action:50} {step.value:10.4g} {'met' if step.met else ''}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            files = {"result": (Path(tmp) / "r.param", Path(tmp) / "r.bin"),
                     "all int8": (Path(tmp) / "a.param", Path(tmp) / "a.bin")}
            save_int8(result.model, *files["result"], fp32=result.fp32_storage)
            save_int8(result.mixed.all_int8, *files["all int8"], fp32=result.fp32_storage)
            if args.out is not None:
                args.out.mkdir(parents=True, exist_ok=True)
                for label, paths in files.items():
                    for path in paths:
                        shutil.copy(path, args.out / f"{key}-{label.replace(' ', '')}{path.suffix}")
                (args.out / f"{key}.table").write_text(result.table_text)
            name = model.inputs[0]
            tensors = [{name: image_tensor(p, case.spec)} for p in evaluated]
            fp32_net = load_ncnn(param, bin_path, args.threads)
            reference = [run_ncnn(fp32_net, t, outputs) for t in tensors]
            figures = {}
            for label, (p, b) in files.items():
                net = load_ncnn(p, b, args.threads)
                figures[label] = compare(reference, [run_ncnn(net, t, outputs) for t in tensors], outputs)
        sample = tensors[0]
        latency = {label: bench(m, sample, threads=args.threads, loops=args.runs, warmup=2).median
                   for label, m in [("result", result.model), ("all int8", result.mixed.all_int8),
                                    ("fp32", result.optimized)]}
        rows.append((case.name, target, search, figures, latency, seconds))
        print(f"  held out ({len(evaluated)} images, real ncnn): result {describe(figures['result'], target)}; "
              f"all int8 {describe(figures['all int8'], target)}", flush=True)
        print("  latency " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in latency.items())
              + f" (load average {os.getloadavg()[0]:.1f})", flush=True)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    held_half = "even" if args.swap else "odd"
    print(f"\nheld-out images: {args.eval} ({held_half}-indexed, real ncnn), tool given {args.calib} "
          f"(validation {args.val:.0%}); "
          f"peak RSS {peak:.0f} MB; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("| model | target | float layers | MACs int8 | held out: result | held out: all int8 (base) | "
          "ncnnq latency result / all int8 / fp32 | search |")
    print("|---|---|---|---|---|---|---|---|")
    for name, target, search, figures, latency, seconds in rows:
        floats = ", ".join(search.float_layers) or "none"
        lat = " / ".join(f"{latency[k] * 1e3:.1f}" for k in ("result", "all int8", "fp32"))
        print(f"| {name} | {target} | {floats} | {search.int8_mac_share:.1%} | {describe(figures['result'], target)} "
              f"| {describe(figures['all int8'], target)} | {lat} ms | {seconds:.0f} s |")


if __name__ == "__main__":
    sys.exit(main())
