"""PP-OCRv4's text detector (pnnx export) in int8: ncnnq's file against ncnn's own, in real ncnn.

    python benches/ppocr_int8.py [--calib 250] [--eval 250] [--methods kl] [--threads 2]

Calibrates ``ncnnq quantize`` (optimize, table, int8) on the even-indexed sorted shared JPEGs and
evaluates on the odd-indexed ones (held out). Real ncnn runs every file; the fp32 reference is
real ncnn on the fp32 model. For each file it prints the SQNR against fp32, in dB (mean and
worst image), of the probability map ``out0`` and of the logits the final Sigmoid reads.

The out0 figure is dominated by the images without text: there the map is ~1e-9 and any logit
error of a few units is a large relative error, for every int8 file alike; the logits and the
text images (``--text``: images whose fp32 map has > 0.3 somewhere) show the quantization error.

ncnn's own file (``reference/ppocrv4_det``: ncnn2table kl on all 500 images + ncnn2int8) comes
back from real ncnn as a 1×32×32 blob; its figure is also given with the Reshape batch axes
12=0 13=0 that ncnn2int8 dropped put back, which is the quantization error of ncnn's table alone.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ncnnq
from ncnnq.images import InputSpec, image_tensor
from ncnnq.int8 import save_int8
from ncnnq.pipeline import quantize_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference import SHARED, make_ncnn_net, run_ncnn_net

SPEC = InputSpec((640, 640, 3), "RGB", (123.675, 116.28, 103.53), (0.017125, 0.017507, 0.017429))
MODEL = SHARED / "models" / "ppocrv4_det.ncnn"
NCNN_INT8 = SHARED / "reference" / "ppocrv4_det" / "ppocrv4_det-int8-kl"


def sqnr(reference: np.ndarray, x: np.ndarray) -> float:
    r, d = reference.astype(np.float64), x.astype(np.float64) - reference
    return float(10 * np.log10((r * r).sum() / max((d * d).sum(), 1e-300)))


def restore_batch_axes(param: Path, out: Path) -> None:
    """ncnn's int8 file with the Reshape batch axes of the fp32 file put back."""
    fp32_param = MODEL.with_suffix(".ncnn.param").read_text()
    axes = {m.group(1): m.group(2) for m in re.finditer(r"^Reshape\s+(\S+).*?( 12=\S+ 13=\S+)", fp32_param, re.M)}
    lines = []
    for line in param.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "Reshape" and fields[1] in axes:
            line += axes[fields[1]]
        lines.append(line)
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calib", type=int, default=250, help="even-indexed images to calibrate on")
    ap.add_argument("--eval", type=int, default=250, help="odd-indexed images to evaluate on")
    ap.add_argument("--methods", default="kl")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    calib, held_out = images[0::2][: args.calib], images[1::2][: args.eval]
    param, bin_path = MODEL.with_suffix(".ncnn.param"), MODEL.with_suffix(".ncnn.bin")
    model = ncnnq.Model.load(param, bin_path)
    logits = next(layer for layer in model.layers if layer.tops == ["out0"]).bottoms[0]
    outputs = ["out0", logits]

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for method in args.methods.split(","):
            t0 = time.perf_counter()
            result = quantize_model(model, calib, method, specs=[SPEC], threads=args.threads)
            files[f"ncnnq {method}"] = (Path(tmp) / f"{method}.param", Path(tmp) / f"{method}.bin")
            save_int8(result.model, *files[f"ncnnq {method}"])
            kept = [name for name, _ in result.quantize.kept_float]
            print(f"ncnnq {method}: calibrated on {len(calib)} images in {time.perf_counter() - t0:.1f} s; "
                  f"{len(result.quantize.quantized)} layers int8, {len(kept)} float; "
                  f"warnings {result.quantize.warnings}", flush=True)
        files["ncnn's file"] = (NCNN_INT8.with_suffix(".param"), NCNN_INT8.with_suffix(".bin"))
        restored = Path(tmp) / "ncnn-restored.param"
        restore_batch_axes(NCNN_INT8.with_suffix(".param"), restored)
        files["ncnn's file, 12/13 restored"] = (restored, NCNN_INT8.with_suffix(".bin"))

        fp32 = make_ncnn_net(param, bin_path, threads=args.threads)
        nets = {name: make_ncnn_net(p, b, threads=args.threads) for name, (p, b) in files.items()}
        scores: dict[str, dict[str, list[float]]] = {name: {"out0": [], "logits": [], "text": []} for name in nets}
        shapes: dict[str, tuple] = {}
        for i, path in enumerate(held_out):
            if i % 50 == 0:
                print(f"evaluating image {i} of {len(held_out)}", file=sys.stderr, flush=True)
            x = {"in0": image_tensor(path, SPEC)}
            ref = run_ncnn_net(fp32, x, outputs)
            has_text = float(ref["out0"].max()) > 0.3
            for name, net in nets.items():
                out = run_ncnn_net(net, x, outputs)
                shapes[name] = out["out0"].shape
                if out["out0"].shape != ref["out0"].shape:
                    continue
                scores[name]["out0"].append(sqnr(ref["out0"], out["out0"]))
                scores[name]["logits"].append(sqnr(ref[logits], out[logits]))
                if has_text:
                    scores[name]["text"].append(sqnr(ref["out0"], out["out0"]))

    print(f"\nSQNR vs fp32 in real ncnn, dB, on {len(held_out)} held-out images (mean / worst)")
    print(f"{'file':30} {'out0 shape':>14} {'out0':>15} {'logits':>15} {'out0, text images':>22}")
    for name, s in scores.items():
        def cell(v: list[float]) -> str:
            return f"{np.mean(v):6.2f} / {np.min(v):6.2f}" if v else "—"
        text = f"{cell(s['text'])} ({len(s['text'])})" if s["text"] else "—"
        print(f"{name:30} {shapes[name]!s:>14} {cell(s['out0']):>15} {cell(s['logits']):>15} {text:>22}")


if __name__ == "__main__":
    main()
