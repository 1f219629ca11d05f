"""Top-1 agreement of int8 with fp32 on held-out images: calibrate on one half of the shared
ImageNet sample, evaluate on the other half.

    python benches/accuracy.py [--methods kl,aciq,eq] [--engine ncnn|ncnnq] [--threads 2]

The int8 model is run by real ncnn (``--engine ncnn``, default) or by ncnnq's engine; the fp32
reference is run by the same engine. Prints one row per method.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ncnnq
from ncnnq.calibrate import calibrate
from ncnnq.images import InputSpec, image_tensor
from ncnnq.int8 import quantize, save_int8

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference import SHARED, make_ncnn_net, run_ncnn_net

SPEC = InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0))


def split_images() -> tuple[list[Path], list[Path]]:
    """Even positions calibrate, odd positions evaluate (both halves span all 500 classes' order)."""
    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    return images[0::2], images[1::2]


def run_all(param: Path, bin_path: Path, tensors: list[np.ndarray], engine: str, threads: int) -> np.ndarray:
    if engine == "ncnn":
        net = make_ncnn_net(param, bin_path, threads=threads)
        return np.stack([run_ncnn_net(net, {"data": x}, ["prob"])["prob"] for x in tensors])
    net = ncnnq.Net(param, bin_path, threads=threads)
    return np.stack([net.run({"data": x}, ["prob"])["prob"] for x in tensors])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="kl,aciq,eq")
    ap.add_argument("--engine", default="ncnn", choices=["ncnn", "ncnnq"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    ref = SHARED / "reference" / "squeezenet_v1.1"
    param, bin_path = ref / "squeezenet_v1.1-opt.param", ref / "squeezenet_v1.1-opt.bin"
    model = ncnnq.Model.load(param, bin_path)
    calib, held_out = split_images()
    tensors = [image_tensor(p, SPEC) for p in held_out]
    fp32 = run_all(param, bin_path, tensors, args.engine, args.threads).argmax(1)
    print(
        f"squeezenet_v1.1: calibrate on {len(calib)} images, evaluate on {len(held_out)} held-out "
        f"({args.engine} runs both)"
    )
    print(f"{'method':8} {'calib s':>8} {'top-1 agreement':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            t0 = time.perf_counter()
            table = calibrate(model, calib, method, specs=[SPEC], threads=args.threads)
            seconds = time.perf_counter() - t0
            int8, _ = quantize(model, table)
            q_param, q_bin = Path(tmp) / f"{method}.param", Path(tmp) / f"{method}.bin"
            save_int8(int8, q_param, q_bin)
            top1 = run_all(q_param, q_bin, tensors, args.engine, args.threads).argmax(1)
            print(f"{method:8} {seconds:8.1f} {np.mean(top1 == fp32):16.1%}", flush=True)


if __name__ == "__main__":
    main()
