"""PP-OCRv4's text detector (pnnx export) in int8: ncnnq's file against ncnn's own, in real ncnn.

    python benches/ppocr_int8.py [--calib 250] [--eval 250] [--synthetic 40] [--methods kl] [--threads 2]
        [--words-calib 0] [--float conv_64,convdw_122] [--target sqnr:20] [--no-ncnn]

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

What a detector makes of the map is counted too, the way DB's post-processing starts: the map
binarized at 0.3, its 4-connected regions of at least 10 pixels whose mean probability is at
least 0.5 are text boxes (their bounding rectangles; DB's polygon fitting and unclipping left
out); each fp32 box is matched to an unused int8 box of IoU >= 0.5. ``text energy`` is the
share of the fp32 map's energy on its text pixels, ``noise at text`` the share of the int8 map's
squared error on pixels that either map calls text: how much the pooled SQNR is about text.

``--words-calib N`` calibrates on N even-indexed images with words drawn on (other seeds than
the held-out ones) instead of the photos; ``--float`` keeps the named layers float (table-only
methods: their lines are left out of the table); ``--target`` runs the mixed-precision search
(``ncnnq quantize target=``) with each method, on a fifth of the calibration images.

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
from ncnnq.int8 import quantize, save_int8
from ncnnq.mixed_precision import DEFAULT_VALIDATION
from ncnnq.pipeline import quantize_model
from ncnnq.validation import layer_macs, quantizable_layers

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
        self.text_signal, self.text_noise = 0.0, 0.0
        self.boxes, self.boxes_int8, self.matched = 0, 0, 0
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
        self.text_signal += float((r[r > 0.3] ** 2).sum())
        self.text_noise += float(((r - o)[(r > 0.3) | (o > 0.3)] ** 2).sum())
        ref_boxes, int8_boxes = text_boxes(r), text_boxes(o)
        self.boxes += len(ref_boxes)
        self.boxes_int8 += len(int8_boxes)
        self.matched += matched_boxes(ref_boxes, int8_boxes)

    def row(self, name: str) -> str:
        if not self.per_image:
            return f"{name:34} {self.shape!s:>14}"
        db = lambda s, n: 10 * np.log10(s / max(n, 1e-300)) if s else float("nan")  # noqa: E731
        e = self.energy
        return (f"{name:34} {self.shape!s:>14} {db(e[0], e[1]):7.2f} {np.mean(self.per_image):7.2f} "
                f"{min(self.per_image):7.2f} {db(e[2], e[3]):7.2f} {db(e[4], e[5]):7.2f} "
                f"{self.lost / max(self.text, 1):6.1%} {self.added / max(self.text, 1):6.1%} "
                f"{self.text_signal / max(e[0], 1e-300):6.1%} {self.text_noise / max(e[1], 1e-300):6.1%} "
                f"{self.boxes:6d} {self.boxes_int8:6d} {self.matched:7d}")


HEADER = (f"{'file':34} {'out0 shape':>14} {'out0':>7} {'mean':>7} {'worst':>7} {'logits':>7} "
          f"{'text im':>7} {'lost':>6} {'added':>6} {'text e':>6} {'n text':>6} {'boxes':>6} {'int8':>6} "
          f"{'matched':>7}")

BINARY, BOX_SCORE, MIN_AREA, MATCH_IOU = 0.3, 0.5, 10, 0.5
Box = tuple[int, int, int, int]


def components(mask: np.ndarray) -> np.ndarray:
    """4-connected regions of a boolean map: each pixel of a region holds the region's smallest
    flat index + 1, background 0 (label propagation with pointer jumping; no SciPy here)."""
    h, w = mask.shape
    empty = np.iinfo(np.int64).max
    labels = np.where(mask, np.arange(1, h * w + 1, dtype=np.int64).reshape(h, w), empty)
    while True:
        low = labels.copy()
        low[1:] = np.minimum(low[1:], labels[:-1])
        low[:-1] = np.minimum(low[:-1], labels[1:])
        low[:, 1:] = np.minimum(low[:, 1:], labels[:, :-1])
        low[:, :-1] = np.minimum(low[:, :-1], labels[:, 1:])
        flat = np.where(mask, low, empty).ravel()
        inside = flat != empty
        flat[inside] = flat[flat[inside] - 1]  # jump to the label the label's own pixel holds
        low = flat.reshape(h, w)
        if np.array_equal(low, labels):
            return np.where(mask, labels, 0)
        labels = low


def text_boxes(prob: np.ndarray) -> list[Box]:
    """DB's boxes, simplified: bounding rectangles (x0, y0, x1, y1) of the regions of ``prob`` >
    BINARY with at least MIN_AREA pixels and a mean probability of at least BOX_SCORE."""
    p = np.asarray(prob, dtype=np.float64).reshape(prob.shape[-2:])
    if not (p > BINARY).any():
        return []
    ids, region, counts = np.unique(components(p > BINARY).ravel(), return_inverse=True, return_counts=True)
    sums = np.bincount(region, weights=p.ravel())
    ys, xs = np.divmod(np.arange(p.size), p.shape[1])
    boxes = []
    for k, label in enumerate(ids):
        if label == 0 or counts[k] < MIN_AREA or sums[k] / counts[k] < BOX_SCORE:
            continue
        y, x = ys[region == k], xs[region == k]
        boxes.append((int(x.min()), int(y.min()), int(x.max()) + 1, int(y.max()) + 1))
    return boxes


def iou(a: Box, b: Box) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def matched_boxes(reference: list[Box], candidate: list[Box]) -> int:
    """Reference boxes matched, greedily in order, to an unused candidate box of IoU >= MATCH_IOU."""
    used: set[int] = set()
    for a in reference:
        best, j = max(((iou(a, b), j) for j, b in enumerate(candidate) if j not in used), default=(0.0, -1))
        if best >= MATCH_IOU:
            used.add(j)
    return len(used)


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


def int8_mac_share(model: ncnnq.Model, quantized: list[str]) -> float:
    """The share of the quantizable layers' MACs that ``quantized`` hold, at 640×640."""
    layers = quantizable_layers(model)
    macs = layer_macs(model, {"in0": np.zeros((3, 640, 640), np.float32)}, layers)
    return sum(macs[name] for name in quantized if name in macs) / sum(macs.values())


def quantize_file(model: ncnnq.Model, calib: list[Path], method: str, args: argparse.Namespace,
                  out: tuple[Path, Path]) -> None:
    """Calibrates ``method`` (with ``args.float`` kept float, or the ``args.target`` search) and
    writes its int8 file to ``out``."""
    t0 = time.perf_counter()
    floats = [name for name in args.float.split(",") if name]
    validation = 0.2 if args.target else DEFAULT_VALIDATION
    result = quantize_model(model, calib, method, specs=[SPEC], threads=args.threads, target=args.target or None,
                            validation=validation)
    int8, report = result.model, result.quantize
    if floats:
        if result.calibration is not None or result.mixed is not None:
            raise SystemExit("--float works with table-only methods (kl, mse, ...) and no --target")
        table = result.table
        for name in floats:
            table.activations.pop(name)
            table.weights.pop(f"{name}_param_0")
        int8, report = quantize(result.optimized, table)
    save_int8(int8, *out)
    quantized = [name for name, _ in report.quantized]
    print(f"ncnnq {method}: calibrated on {len(calib)} images in {time.perf_counter() - t0:.1f} s; "
          f"{len(quantized)} layers int8 ({int8_mac_share(result.optimized, quantized):.1%} of the MACs)"
          + (f", float: {','.join(result.mixed.search.float_layers)}; on {result.mixed.search.validation_samples} "
             f"validation images: target figure {result.mixed.search.value:.2f}, pooled "
             f"{result.mixed.search.quality.sqnr_worst:.2f} dB" if result.mixed is not None else "")
          + (f", float: {args.float}" if floats else ""), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calib", type=int, default=250, help="even-indexed images to calibrate on")
    ap.add_argument("--eval", type=int, default=250, help="odd-indexed images to evaluate on")
    ap.add_argument("--synthetic", type=int, default=40, help="held-out images to draw words on (0: none)")
    ap.add_argument("--methods", default="kl")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--words-calib", type=int, default=0,
                    help="calibrate on this many even-indexed images with words drawn on instead of --calib photos")
    ap.add_argument("--float", default="", help="layers kept float, comma-separated (table-only methods)")
    ap.add_argument("--target", default="", help="mixed-precision target (sqnr:20, ...) for every method")
    ap.add_argument("--no-ncnn", action="store_true", help="leave out ncnn's own file")
    ap.add_argument("--model", type=Path, default=MODEL.with_suffix(".ncnn.param"),
                    help="the fp32 .param to quantize (its .bin beside it); default: the shared one")
    args = ap.parse_args()

    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))
    held_out = images[1::2][: args.eval + args.synthetic]
    param, bin_path = args.model, args.model.with_suffix(".bin")
    model = ncnnq.Model.load(param, bin_path)
    logits = next(layer for layer in model.layers if layer.tops == ["out0"]).bottoms[0]

    with tempfile.TemporaryDirectory() as tmp:
        calib = images[0::2][: args.calib]
        if args.words_calib:
            calib = []
            for i, path in enumerate(images[0::2][: args.words_calib]):
                calib.append(Path(tmp) / f"calib{i:03d}.png")
                with_words(path, calib[-1], seed=1000 + i)
        files = {}
        for method in args.methods.split(","):
            files[f"ncnnq {method}"] = (Path(tmp) / f"{method}.param", Path(tmp) / f"{method}.bin")
            quantize_file(model, calib, method, args, files[f"ncnnq {method}"])
        if not args.no_ncnn:
            files["ncnn's file"] = (NCNN_INT8.with_suffix(".param"), NCNN_INT8.with_suffix(".bin"))
            restored = Path(tmp) / "ncnn-restored.param"
            restore_batch_axes(NCNN_INT8.with_suffix(".param"), restored)
            files["ncnn's file, 12/13 restored"] = (restored, NCNN_INT8.with_suffix(".bin"))

        fp32 = make_ncnn_net(param, bin_path, threads=args.threads)
        nets = {name: make_ncnn_net(p, b, threads=args.threads) for name, (p, b) in files.items()}
        tables = {}
        if args.eval:
            tables[f"{args.eval} held-out images"] = evaluate(fp32, nets, held_out[: args.eval], logits, "held out")
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
              "(fp32 > 0.3) lost and added, as a share of the text pixels; the fp32 map's energy on its "
              "text pixels and the int8 map's error on pixels either calls text, as shares of the "
              "totals; DB boxes of fp32, of the file, and matched")
        print(HEADER)
        for name, s in scores.items():
            print(s.row(name))


if __name__ == "__main__":
    main()
