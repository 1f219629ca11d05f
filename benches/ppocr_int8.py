"""PP-OCRv4's text detector (pnnx export) in int8: ncnnq's file against ncnn's own, in real ncnn.

    python benches/ppocr_int8.py [--calib 250] [--eval 250] [--synthetic 40] [--methods kl] [--threads 2]

Calibrates ``ncnnq quantize`` (optimize, table, int8) on the even-indexed sorted shared JPEGs and
evaluates on the odd-indexed ones (held out). Real ncnn runs every file; the fp32 reference is
real ncnn on the fp32 model. For each file it prints the SQNR against fp32, in dB, of the
probability map ``out0`` (pooled over the images, the mean over images and the worst image), of
the logits the final Sigmoid reads (pooled), of ``out0`` on the images with text (fp32 map > 0.3
somewhere), and the text pixels (fp32 > 0.3) the int8 map loses and adds.

The pooled out0 figure is set by the few images with text; the per-image mean by the many
without, where the map is ~1e-9 and a change of a unit in a logit is a large relative error.
Few ImageNet images hold text, so ``--synthetic N`` also evaluates N held-out images with words
drawn on them (white or black boxes, Pillow's built-in font, seeded). The row "fp32, input noise
40 dB" is the fp32 model fed its input plus Gaussian noise 40 dB below it (about half a pixel
level): how much the map moves under a perturbation no one would see.

ncnn's own file (``reference/ppocrv4_det``: ncnn2table kl on all 500 images + ncnn2int8) comes
back from real ncnn as a 1×32×32 blob; its figure is also given with the Reshape batch axes
12=0 13=0 that ncnn2int8 dropped put back, which is the quantization error of ncnn's table alone.
"""

from __future__ import annotations

import argparse
import random
import re
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


class Scores:
    """One file's figures over a set of images."""

    def __init__(self) -> None:
        self.energy = np.zeros(6)  # out0 signal, noise; logits signal, noise; text images' out0 signal, noise
        self.per_image: list[float] = []
        self.text, self.lost, self.added = 0, 0, 0
        self.shape: tuple[int, ...] = ()

    def add(self, ref: dict[str, np.ndarray], out: dict[str, np.ndarray], logits: str) -> None:
        self.shape = out["out0"].shape
        if out["out0"].shape != ref["out0"].shape:
            return
        r, o = ref["out0"].astype(np.float64), out["out0"].astype(np.float64)
        lr, lo = ref[logits].astype(np.float64), out[logits].astype(np.float64)
        parts = [(r * r).sum(), ((r - o) ** 2).sum(), (lr * lr).sum(), ((lr - lo) ** 2).sum()]
        has_text = r.max() > 0.3
        parts += parts[:2] if has_text else [0.0, 0.0]
        self.energy += parts
        self.per_image.append(sqnr(r, o))
        self.text += int((r > 0.3).sum())
        self.lost += int(((r > 0.3) & (o <= 0.3)).sum())
        self.added += int(((r <= 0.3) & (o > 0.3)).sum())

    def row(self, name: str) -> str:
        if not self.per_image:
            return f"{name:34} {self.shape!s:>14}"
        db = lambda s, n: 10 * np.log10(s / max(n, 1e-300)) if s else float("nan")  # noqa: E731
        e = self.energy
        return (f"{name:34} {self.shape!s:>14} {db(e[0], e[1]):7.2f} {np.mean(self.per_image):7.2f} "
                f"{min(self.per_image):7.2f} {db(e[2], e[3]):7.2f} {db(e[4], e[5]):7.2f} "
                f"{self.lost / max(self.text, 1):6.1%} {self.added / max(self.text, 1):6.1%}")


HEADER = (f"{'file':34} {'out0 shape':>14} {'out0':>7} {'mean':>7} {'worst':>7} {'logits':>7} "
          f"{'text im':>7} {'lost':>6} {'added':>6}")


def with_words(src: Path, dst: Path, seed: int) -> None:
    """``src`` at 640×640 with 3 to 6 lines of random words in black-on-white or white-on-black boxes."""
    rng = random.Random(seed)
    image = Image.open(src).convert("RGB").resize((640, 640))
    draw = ImageDraw.Draw(image)
    letters = string.ascii_letters + string.digits
    for _ in range(rng.randint(3, 6)):
        size = rng.randint(22, 56)
        font = ImageFont.load_default(size=size)
        words = " ".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 9)))
                         for _ in range(rng.randint(1, 4)))
        x, y = rng.randint(0, 300), rng.randint(0, 600 - size)
        box = draw.textbbox((x, y), words, font=font)
        background, ink = ((255, 255, 255), (0, 0, 0)) if rng.random() < 0.5 else ((20, 20, 20), (250, 250, 250))
        draw.rectangle((box[0] - 6, box[1] - 6, box[2] + 6, box[3] + 6), fill=background)
        draw.text((x, y), words, font=font, fill=ink)
    image.save(dst)


def evaluate(fp32: object, nets: dict[str, object], paths: list[Path], logits: str, label: str) -> dict[str, Scores]:
    outputs = ["out0", logits]
    scores = {name: Scores() for name in [*nets, "fp32, input noise 40 dB"]}
    rng = np.random.default_rng(0)
    for i, path in enumerate(paths):
        if i % 50 == 0:
            print(f"{label}: image {i} of {len(paths)}", file=sys.stderr, flush=True)
        x = image_tensor(path, SPEC)
        ref = run_ncnn_net(fp32, {"in0": x}, outputs)
        for name, net in nets.items():
            scores[name].add(ref, run_ncnn_net(net, {"in0": x}, outputs), logits)
        noise = rng.standard_normal(x.shape) * np.sqrt(float((x.astype(np.float64) ** 2).mean()) / 1e4)
        noisy = run_ncnn_net(fp32, {"in0": (x + noise).astype(np.float32)}, outputs)
        scores["fp32, input noise 40 dB"].add(ref, noisy, logits)
    return scores


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
    ap.add_argument("--synthetic", type=int, default=40, help="held-out images to draw words on (0: none)")
    ap.add_argument("--methods", default="kl")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    calib, held_out = images[0::2][: args.calib], images[1::2][: args.eval]
    param, bin_path = MODEL.with_suffix(".ncnn.param"), MODEL.with_suffix(".ncnn.bin")
    model = ncnnq.Model.load(param, bin_path)
    logits = next(layer for layer in model.layers if layer.tops == ["out0"]).bottoms[0]

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
        tables = {f"{len(held_out)} held-out images": evaluate(fp32, nets, held_out, logits, "held out")}
        if args.synthetic:
            drawn = []
            for i, path in enumerate(held_out[: args.synthetic]):
                drawn.append(Path(tmp) / f"words{i:03d}.png")
                with_words(path, drawn[-1], seed=i)
            tables[f"{len(drawn)} held-out images with words drawn on"] = evaluate(
                fp32, nets, drawn, logits, "with words")

    for title, scores in tables.items():
        print(f"\nAgainst fp32 in real ncnn on {title}: SQNR in dB of out0 (pooled, mean and worst "
              "image), of the logits (pooled) and of out0 on the images with text (pooled); text pixels "
              "(fp32 > 0.3) lost and added, as a share of the text pixels")
        print(HEADER)
        for name, s in scores.items():
            print(s.row(name))


if __name__ == "__main__":
    main()
