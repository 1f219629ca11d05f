"""How many MACs must stay float for a mean-over-outputs SQNR, estimated from isolated noise.

    python benches/mean_noise_estimate.py [--model nanodet] [--method best+cle+shift+round+bc] [--budget 0.1]

The tool's protocol of ``benches/mixed_precision.py`` (the 250 even-indexed shared JPEGs, 200
calibrate and 50 validate): the recipe's all-int8 configuration, then each quantizable layer with
only it int8 (its own scales) on the validation images, per output. Each output's noise is taken
as the sum of the layers' isolated noise on it; layers are floated greedily by the mean over
outputs of the SQNR each buys per MAC. Prints what that predicts for all int8 (against the
measured figure), the MAC share float that reaches 24–27 dB, and the mean reached within
``--budget`` of the MACs float; then measures that budget's set (the recipe's layer-by-layer pass
made again around it) on the validation images.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import ncnnq
from mixed_precision import CASES, SHARED
from ncnnq.mixed_precision import _recipe_finish
from ncnnq.progress import NoProgress
from ncnnq.recipes import calibrate_model
from ncnnq.samples import load_sample, samples_from, split_validation, spread
from ncnnq.validation import Validation, layer_macs, quantizable_layers


def mean_db(totals: np.ndarray, floor: np.ndarray) -> float:
    return float(np.mean(-10 * np.log10(totals + floor)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="nanodet")
    ap.add_argument("--method", default="best+cle+shift+round+bc")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=0.1, help="share of the MACs that may stay float")
    args = ap.parse_args()
    case = CASES[args.model]
    model = ncnnq.Model.load(f"{case.model}.param", f"{case.model}.bin")
    images = sorted((SHARED / "imagenet-sample").glob("*.JPEG"))[0::2][:250]
    calib, held = split_validation(list(samples_from(model, [str(p) for p in images])), 0.2)
    specs = {model.inputs[0]: case.spec}
    tensors = [load_sample(s, specs, "image") for s in spread(held, 100)]
    recipe = calibrate_model(model, calib, args.method, validation=0.0, specs=specs, input_type="image",
                             threads=args.threads, fp32=True)
    reference = Validation(model, tensors, args.threads, fp32_storage=True).reference
    check = Validation(recipe.model, tensors, args.threads, fp32_storage=True, reference=reference)
    layers = [n for n in quantizable_layers(recipe.model) if f"{n}_param_0" in recipe.table.weights]
    macs = layer_macs(recipe.model, tensors[0], layers)
    total = float(sum(macs[n] for n in layers))
    base = recipe.config().with_int8(layers)
    qualities = check.measure([base, base.with_int8([])] + [base.with_int8([n]) for n in layers])
    noise = {n: np.array([10 ** (-o.sqnr_db / 10) for o in q.outputs]) for n, q in zip(layers, qualities[2:])}
    floor = np.array([10 ** (-o.sqnr_db / 10) for o in qualities[1].outputs])  # every layer float
    totals = np.sum(list(noise.values()), axis=0)
    print(f"{case.name}: {len(layers)} layers, {len(tensors)} validation images; all int8 measured "
          f"{qualities[0].sqnr_mean:.2f} dB mean over outputs, predicted {mean_db(totals, floor):.2f}")
    remaining, floated, within = list(layers), 0.0, None
    reached: dict[float, tuple[int, float]] = {}
    order: list[str] = []
    while remaining:
        now = mean_db(totals, floor)
        gains = [(mean_db(totals - noise[n], floor) - now) / max(1, macs[n]) for n in remaining]
        name = remaining.pop(int(np.argmax(gains)))
        if within is None and floated + macs[name] > args.budget * total:
            within = (list(order), floated / total, now)
        totals, floated = totals - noise[name], floated + macs[name]
        order.append(name)
        for t in (24.0, 25.0, 26.0, 27.0):
            if t not in reached and mean_db(totals, floor) >= t:
                reached[t] = (len(order), floated / total)
    for t, (k, share) in reached.items():
        print(f"  predicted {t:.0f} dB mean: {k} layers float, {share:.1%} of the MACs")
    assert within is not None
    kept, share, predicted = within
    print(f"  within {args.budget:.0%} of the MACs float: {len(kept)} layers ({share:.1%}), "
          f"predicted {predicted:.2f} dB")
    finish = _recipe_finish(recipe, calib, specs, "image", args.threads, NoProgress())
    q = check.measure([finish(base.with_int8([n for n in layers if n not in kept]))])[0]
    lower = float(np.mean([o.sqnr_db_lower for o in q.outputs]))
    print(f"  measured: {q.sqnr_mean:.2f} dB mean (lower bound {lower:.2f}), worst output {q.sqnr_worst:.2f}")


if __name__ == "__main__":
    sys.exit(main())
