"""Running real ncnn (the PyPI ``ncnn`` package) as the referee, and comparing outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ncnnq.verify import fp32_net

SHARED = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()

# Input shapes (numpy order) of models whose Input layer does not declare one; taken from
# ncnn's benchncnn and from ../shared/data/README.md.
INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "FastestDet": (3, 352, 352),
    "vision_transformer": (3, 384, 384),
    "mnet.25-opt": (3, 320, 320),
    "nanodet_m": (3, 320, 320),
    "squeezenet_v1.1": (3, 227, 227),
    "ppocrv4_det.ncnn": (3, 640, 640),
}


def ncnn_module():
    return pytest.importorskip("ncnn", reason="real ncnn (pip install ncnn) is the referee for this test")


def make_ncnn_net(param: Path, bin_path: Path | None, *, threads: int = 1, winograd: bool = True):
    """An ncnn.Net with fp16/bf16 storage and arithmetic off, so it computes in fp32."""
    ncnn = ncnn_module()
    net = fp32_net(ncnn, threads)
    net.opt.use_winograd_convolution = winograd
    if net.load_param(str(param)) != 0:
        raise RuntimeError(f"ncnn could not load {param}")
    if bin_path is None:
        net.load_model(ncnn.DataReaderFromEmpty())
    elif net.load_model(str(bin_path)) != 0:
        raise RuntimeError(f"ncnn could not load {bin_path}")
    return net


def run_ncnn_net(net, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    ncnn = ncnn_module()
    ex = net.create_extractor()
    ex.set_light_mode(False)  # keep intermediate blobs so several can be extracted
    for name, value in inputs.items():
        # clone(): ncnn.Mat(array) keeps numpy's dense channel step, which layers that copy
        # whole channel ranges misread; a clone has ncnn's aligned layout.
        assert ex.input(name, ncnn.Mat(np.ascontiguousarray(value, dtype=np.float32)).clone()) == 0, name
    result = {}
    for name in outputs:
        ret, mat = ex.extract(name)
        if ret != 0:
            raise RuntimeError(f"ncnn failed to extract {name} ({ret})")
        # An empty Mat (e.g. no detections) crashes ncnn's numpy conversion.
        result[name] = np.zeros((0,), np.float32) if mat.empty() else np.array(mat, dtype=np.float32).copy()
    return result


def run_ncnn(
    param: Path, bin_path: Path | None, inputs: dict[str, np.ndarray], outputs: list[str], **opts
) -> dict[str, np.ndarray]:
    return run_ncnn_net(make_ncnn_net(param, bin_path, **opts), inputs, outputs)


@dataclass(frozen=True)
class Agreement:
    cosine: float
    max_abs: float
    scale: float

    @property
    def relative(self) -> float:
        return self.max_abs / self.scale if self.scale else self.max_abs


def agreement(ours: np.ndarray, theirs: np.ndarray) -> Agreement:
    a = np.asarray(ours, dtype=np.float64).ravel()
    b = np.asarray(theirs, dtype=np.float64).ravel()
    assert a.shape == b.shape, (ours.shape, theirs.shape)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        cos = 1.0
    elif na == 0 or nb == 0:
        cos = 0.0
    else:
        cos = float(a @ b / (na * nb))
    return Agreement(cosine=cos, max_abs=float(np.max(np.abs(a - b))) if a.size else 0.0,
                     scale=float(np.max(np.abs(b))) if b.size else 0.0)


def assert_close(ours: np.ndarray, theirs: np.ndarray, what: str, cos: float = 0.99999, rel: float = 1e-3) -> Agreement:
    """The issue's parity bar: cosine ≥ 0.99999 and max error ≤ 1e-3 of the output's magnitude."""
    assert np.shape(ours) == np.shape(theirs), f"{what}: shape {np.shape(ours)} vs ncnn {np.shape(theirs)}"
    ag = agreement(ours, theirs)
    assert ag.cosine >= cos and ag.relative <= rel, (
        f"{what}: cosine {ag.cosine:.7f}, max abs {ag.max_abs:g} of {ag.scale:g}"
    )
    return ag


def input_shape(model, stem: str) -> tuple[int, ...]:
    """numpy-order shape of a model's (first) input: declared by its Input layer, else known."""
    layer = next(layer for layer in model.layers if layer.type == "Input")
    w, h, d, c = (layer.param(i) for i in (0, 1, 11, 2))
    if w and h and c:
        return (c, d, h, w) if d else (c, h, w)
    return INPUT_SHAPES[stem]


def random_inputs(model, stem: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(-1, 1, size=input_shape(model, stem)).astype(np.float32) for name in model.inputs[:1]}


DETECTION_LAYERS = ("DetectionOutput", "YoloDetectionOutput", "Yolov3DetectionOutput")


def unmatched_detections(ours: np.ndarray, theirs: np.ndarray, tol: float = 1e-4) -> list[int]:
    """Rows of ncnn's detections (label, score, box) with no row of ours of the same label and all
    values within ``tol``. Detections are sorted by score; scores equal to ~1e-6 may swap places,
    so rows are matched as a set."""
    used = np.zeros(len(ours), dtype=bool)
    missing = []
    for i, row in enumerate(theirs):
        candidates = np.flatnonzero(~used & (ours[:, 0] == row[0]) & (np.abs(ours - row).max(axis=1) <= tol))
        if candidates.size:
            used[candidates[0]] = True
        else:
            missing.append(i)
    return missing


def assert_same_detections(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    """The same boxes, labels and scores within 1e-4 (as a set, see unmatched_detections)."""
    assert ours.shape == theirs.shape, f"{what}: {ours.shape} vs ncnn {theirs.shape}"
    if theirs.size == 0:
        return
    if theirs.ndim != 2:  # YoloDetectionOutput found nothing and returned its softmaxed input
        assert_close(ours, theirs, what)
        return
    missing = unmatched_detections(ours, theirs)
    assert not missing, (
        f"{what}: {len(missing)} of {len(theirs)} ncnn detections have no match, e.g. {theirs[missing[:3]]}"
    )
