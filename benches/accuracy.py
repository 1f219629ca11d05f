"""Every calibration method and technique on held-out images, the int8 files run by real ncnn.

    python benches/accuracy.py [--models squeezenet,mnet,nanodet] [--methods kl,...,auto] [--threads 2] [--swap]

Protocol (as ``benches/mixed_precision.py``): ``ncnnq.quantize_model(model, images, method)`` gets
the even-indexed sorted shared JPEGs (``--calib`` of them; methods with techniques and ``auto``
split a validation part off them, ``--val``); the written int8 files and the fp32 model then run in
real ncnn (PyPI ``ncnn``, float layers in fp32) on the odd-indexed JPEGs (``--eval``), which took no
part in calibration or in any choice. Per model and method: top-1 agreement with fp32 (squeezenet),
the output SQNR pooled over the images, as the mean over outputs and the worst output (dB), and
the wall time of ``quantize_model`` (optimize, calibrate, quantize) with ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import os
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
from ncnnq.verify import load_ncnn, run_ncnn

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")

METHODS = ("kl,aciq,mse,eq,best,kl+bc,kl+cle+shift+bc,best+cle+shift+bc,best+cle+shift+round+bc,"
           "best+cle+shift+round+bc+tune,auto")


@dataclass(frozen=True)
class Case:
    name: str
    model: Path
    spec: InputSpec


CASES = {
    "squeezenet": Case(
        "squeezenet_v1.1", SHARED / "models" / "squeezenet_v1.1",
        InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0)),
    ),
    "mnet": Case(
        "mnet.25", SHARED / "models" / "mnet.25-opt",
        InputSpec((320, 320, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0)),
    ),
    "nanodet": Case(
        "nanodet_m", SHARED / "models" / "nanodet_m",
        InputSpec((320, 320, 3), "BGR", (103.53, 116.28, 123.675), (0.017429, 0.017507, 0.017125)),
    ),
}


def describe(q: Quality, classifier: bool) -> str:
    top1 = f"top-1 {q.top1:.1%}, " if classifier else ""
    return f"{top1}SQNR mean {q.sqnr_mean:.1f} dB, worst {q.sqnr_worst:.1f} dB"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(CASES))
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib", type=int, default=250, help="even-indexed images given to the tool")
    ap.add_argument("--eval", type=int, default=250, help="odd-indexed images evaluated in real ncnn")
    ap.add_argument("--swap", action="store_true",
                    help="the other way round: the tool gets the odd-indexed images, the even ones are held out")
    ap.add_argument("--val", type=float, default=0.2, help="validation fraction recipes split off")
    args = ap.parse_args()

    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    given, held = (images[1::2], images[0::2]) if args.swap else (images[0::2], images[1::2])
    given, evaluated = given[: args.calib], held[: args.eval]
    rows: list[tuple[str, str, Quality, float, str]] = []
    for key in args.models.split(","):
        case = CASES[key]
        param, bin_path = (case.model.with_suffix(case.model.suffix + ext) for ext in (".param", ".bin"))
        model = ncnnq.Model.load(param, bin_path)
        outputs = list(model.outputs)
        tensors = [{model.inputs[0]: image_tensor(p, case.spec)} for p in evaluated]
        fp32_net = load_ncnn(param, bin_path, args.threads)
        reference = [run_ncnn(fp32_net, t, outputs) for t in tensors]
        classifier = key == "squeezenet"
        for method in args.methods.split(","):
            t0 = time.perf_counter()
            result = quantize_model(model, given, method, specs=[case.spec], threads=args.threads,
                                    validation=args.val)
            seconds = time.perf_counter() - t0
            chosen = result.calibration.method if result.calibration is not None else method
            with tempfile.TemporaryDirectory() as tmp:
                q_param, q_bin = Path(tmp) / "int8.param", Path(tmp) / "int8.bin"
                save_int8(result.model, q_param, q_bin)
                net = load_ncnn(q_param, q_bin, args.threads)
                quality = compare(reference, [run_ncnn(net, t, outputs) for t in tensors], outputs)
            rows.append((case.name, method, quality, seconds, chosen))
            print(f"{case.name:16} {chosen:32} {describe(quality, classifier)}; {seconds:.1f} s", flush=True)

    load = os.getloadavg()
    given_half, held_half = ("odd", "even") if args.swap else ("even", "odd")
    print(f"\nheld out: {args.eval} {held_half}-indexed images in real ncnn; tool given {args.calib} "
          f"{given_half}-indexed "
          f"(recipes validate on {args.val:.0%} of them); {args.threads} threads; load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("| model | method | top-1 agreement | SQNR mean / worst output (dB) | calibration wall time |")
    print("|---|---|---|---|---|")
    for name, method, q, seconds, chosen in rows:
        top1 = f"{q.top1:.1%}" if name.startswith("squeezenet") else ""
        label = method if chosen == method else f"{method} → {chosen.removeprefix('auto (').removesuffix(')')}"
        print(f"| {name} | {label} | {top1} | {q.sqnr_mean:.1f} / {q.sqnr_worst:.1f} | {seconds:.1f} s |")


if __name__ == "__main__":
    sys.exit(main())
