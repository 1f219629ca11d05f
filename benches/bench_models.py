"""The models the benches compare ncnnq with ncnn on, and the files both engines load.

Benchmark architectures (../shared/data/benchmark-params) get seeded random weights (ncnnq's
``with_random_weights(1)``), saved once per bench run to a temporary .bin both engines load; the
real squeezenet_v1.1 uses ncnnoptimize's fp32 file and ncnn2int8's kl file from
../shared/data/reference/squeezenet_v1.1.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import ncnnq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from reference import SHARED, input_shape  # noqa: E402

REAL = SHARED / "reference" / "squeezenet_v1.1"

# fp32 model -> its int8 file where ncnn ships one (the real squeezenet_v1.1: ncnn2int8's kl file).
MODELS: dict[str, str | None] = {
    "squeezenet": "squeezenet_int8",
    "mobilenet": "mobilenet_int8",
    "mobilenet_v2": None,
    "shufflenet_v2": None,
    "resnet18": "resnet18_int8",
    "googlenet": "googlenet_int8",
    "vgg16": "vgg16_int8",
    "squeezenet_v1.1": "squeezenet_v1.1-int8-kl",
}
REAL_FILES = {"squeezenet_v1.1": "squeezenet_v1.1-opt", "squeezenet_v1.1-int8-kl": "squeezenet_v1.1-int8-kl"}


@dataclass(frozen=True)
class Files:
    """What a worker needs to run one model."""

    stem: str
    param: Path
    bin: Path
    input: str
    output: str
    shape: tuple[int, ...]


def prepare(stem: str, tmp: Path) -> Files:
    """The .param/.bin pair both engines load, with its input, output and input shape."""
    if stem in REAL_FILES:
        param = REAL / f"{REAL_FILES[stem]}.param"
        bin_path = param.with_suffix(".bin")
        shape_stem = "squeezenet_v1.1"
    else:
        source = SHARED / "benchmark-params" / f"{stem}.param"
        if not source.exists():
            raise SystemExit(f"no model {stem!r} in {SHARED / 'benchmark-params'}")
        param, bin_path = tmp / f"{stem}.param", tmp / f"{stem}.bin"
        if not bin_path.exists():
            ncnnq.Model.load(source).with_random_weights(1).save(param, bin_path)
        shape_stem = stem.removesuffix("_int8")
    if not param.exists():
        raise SystemExit(f"missing {param}")
    model = ncnnq.Model.load(param)
    return Files(stem, param, bin_path, model.inputs[0], model.outputs[0], input_shape(model, shape_stem))
