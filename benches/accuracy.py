"""Every calibration method and technique on held-out images, the int8 files run by real ncnn.

    python benches/accuracy.py [--models squeezenet,mnet,nanodet] [--methods kl,...,auto]
        [--swap | --both | --within-even] [--self]

Protocol (as ``benches/mixed_precision.py``): ``ncnnq.quantize_model(model, images, method)`` gets
the even-indexed sorted shared JPEGs (``--calib`` of them; methods with techniques and ``auto``
split a validation part off them, ``--val``); the written int8 files and the fp32 model then run in
real ncnn (PyPI ``ncnn``, float layers in fp32) on the odd-indexed JPEGs (``--eval``), which took no
part in calibration or in any choice. Per model and method: top-1 agreement with fp32 (squeezenet),
the output SQNR pooled over the images, as the mean over outputs and the worst output (dB), and
the wall time of ``quantize_model`` (optimize, calibrate, quantize) with ``--threads`` threads.
``--swap`` runs the other way round (the tool gets the odd-indexed JPEGs); ``--both`` runs both ways
and also pools each method's figures over the 500 held-out images (the agreement expected from each
image's logit margins beside the count: steadier than the count on a few near ties).

``--within-even`` never touches the odd-indexed JPEGs: the even-indexed ones are halved again (every
other one), the tool gets one half and real ncnn judges the other, both ways round and pooled (what
a candidate is developed and chosen on, keeping the odd-indexed JPEGs for one final measurement).
``--self`` judges each way on the very images the tool was given: a bound on what any calibration
of the method could reach on those images.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ncnnq
from ncnnq.evaluate import Outputs, Quality, compare
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
    top1 = f"top-1 {q.top1:.1%} (expected {q.top1_expected:.1%}), " if classifier else ""
    return f"{top1}SQNR mean {q.sqnr_mean:.1f} dB, worst {q.sqnr_worst:.1f} dB"


@dataclass(frozen=True)
class Fold:
    """One way round: the images the tool gets and those held out, named by their indices' parity."""

    given: list[Path]
    held: list[Path]
    label: str


def folds(images: list[Path], args: argparse.Namespace) -> list[Fold]:
    """even → odd (the default), odd → even (``--swap``), both (``--both``), or the even-indexed halves
    both ways (``--within-even``); ``--self``: each judged on its own given images."""
    even, odd = images[0::2], images[1::2]
    if args.within_even:
        ways = [Fold(even[0::2], even[1::2], "evenA→evenB"), Fold(even[1::2], even[0::2], "evenB→evenA")]
        chosen = ways
    else:
        ways = [Fold(even, odd, "even→odd"), Fold(odd, even, "odd→even")]
        chosen = ways if args.both else [ways[1]] if args.swap else [ways[0]]
    if args.self_bound:
        chosen = [Fold(f.given, f.given, f"{f.label.split('→')[0]}→itself") for f in chosen]
    return [Fold(f.given[: args.calib], f.held[: args.eval], f.label) for f in chosen]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(CASES))
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib", type=int, default=250, help="even-indexed images given to the tool")
    ap.add_argument("--eval", type=int, default=250, help="odd-indexed images evaluated in real ncnn")
    ap.add_argument("--swap", action="store_true",
                    help="the other way round: the tool gets the odd-indexed images, the even ones are held out")
    ap.add_argument("--both", action="store_true",
                    help="both ways round, each method's figures also pooled over the two held-out halves "
                         "(500 images: one standard deviation of the top-1 count at 97 %% is ~0.8 points, "
                         "~1.1 on one half)")
    ap.add_argument("--within-even", action="store_true",
                    help="the even-indexed images only, halved: the tool gets one half, the other is judged, both "
                         "ways round and pooled (the odd-indexed images stay unseen)")
    ap.add_argument("--self", dest="self_bound", action="store_true",
                    help="judge each way on the images the tool was given (a bound, not a held-out figure)")
    ap.add_argument("--val", type=float, default=0.2, help="validation fraction recipes split off")
    args = ap.parse_args()

    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    ways = folds(images, args)
    rows: list[tuple[str, str, str, Quality, float, str]] = []
    for key in args.models.split(","):
        case = CASES[key]
        param, bin_path = (case.model.with_suffix(case.model.suffix + ext) for ext in (".param", ".bin"))
        model = ncnnq.Model.load(param, bin_path)
        outputs = list(model.outputs)
        fp32_net = load_ncnn(param, bin_path, args.threads)
        tensors = [[{model.inputs[0]: image_tensor(p, case.spec)} for p in f.held] for f in ways]
        references = [[run_ncnn(fp32_net, t, outputs) for t in fold] for fold in tensors]
        classifier = key == "squeezenet"
        for method in args.methods.split(","):
            pooled_ref: list[Outputs] = []
            pooled_got: list[Outputs] = []
            for fold, fold_tensors, reference in zip(ways, tensors, references):
                t0 = time.perf_counter()
                result = quantize_model(model, fold.given, method, specs=[case.spec], threads=args.threads,
                                        validation=args.val)
                seconds = time.perf_counter() - t0
                chosen = result.calibration.method if result.calibration is not None else method
                with tempfile.TemporaryDirectory() as tmp:
                    q_param, q_bin = Path(tmp) / "int8.param", Path(tmp) / "int8.bin"
                    save_int8(result.model, q_param, q_bin)
                    net = load_ncnn(q_param, q_bin, args.threads)
                    got = [run_ncnn(net, t, outputs) for t in fold_tensors]
                quality = compare(reference, got, outputs)
                pooled_ref += reference
                pooled_got += got
                rows.append((case.name, method, fold.label, quality, seconds, chosen))
                print(f"{case.name:16} {fold.label:9} {chosen:32} {describe(quality, classifier)}; {seconds:.1f} s",
                      flush=True)
            if len(ways) > 1:
                quality = compare(pooled_ref, pooled_got, outputs)
                rows.append((case.name, method, "pooled", quality, math.nan, method))
                print(f"{case.name:16} {'pooled':9} {method:32} {describe(quality, classifier)}", flush=True)

    load = os.getloadavg()
    print(f"\nheld out in real ncnn, tool given the other half: {', '.join(f.label for f in ways)} "
          f"({len(ways[0].given)} images given, {len(ways[0].held)} judged; "
          f"recipes validate on {args.val:.0%} of those given); "
          f"{args.threads} threads; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("| model | method | images | top-1 agreement (expected from the margins) | SQNR mean / worst output (dB) "
          "| calibration wall time |")
    print("|---|---|---|---|---|---|")
    for name, method, label, q, seconds, chosen in rows:
        top1 = f"{q.top1:.1%} ({q.top1_expected:.1%})" if name.startswith("squeezenet") else ""
        shown = method if chosen == method else f"{method} → {chosen.removeprefix('auto (').removesuffix(')')}"
        wall = "" if math.isnan(seconds) else f"{seconds:.1f} s"
        print(f"| {name} | {shown} | {label} | {top1} | {q.sqnr_mean:.1f} / {q.sqnr_worst:.1f} | {wall} |")


if __name__ == "__main__":
    sys.exit(main())
