"""Calibration (`ncnnq table`): ncnn2table's scales on the lossless calibration set, its input
tensors, determinism, and clear errors for bad input."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import ncnnq
from ncnnq.calibrate import calibrate
from ncnnq.cli.ncnn_args import parse_table_options
from ncnnq.images import InputSpec, image_tensor
from ncnnq.methods.histogram import NCNN_BINS
from ncnnq.methods.kl import THRESHOLDS, kl_divergences
from ncnnq.table import Table
from reference import SHARED, ncnn_module

REF = SHARED / "reference"
SQUEEZENET_SPEC = InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0))
NANODET_SPEC = InputSpec((320, 320, 3), "BGR", (103.53, 116.28, 123.675), (0.017429, 0.017507, 0.017125))


def _png_list() -> list[Path]:
    return sorted((SHARED / "calib-png").glob("*.png"))


@cache
def _squeezenet() -> ncnnq.Model:
    d = REF / "squeezenet_v1.1"
    return ncnnq.Model.load(d / "squeezenet_v1.1-opt.param", d / "squeezenet_v1.1-opt.bin")


@cache
def _squeezenet_table(method: str, two_pass: bool = False, threads: int = 2) -> Table:
    return calibrate(_squeezenet(), _png_list(), method, specs=[SQUEEZENET_SPEC], threads=threads, two_pass=two_pass)


def _formatted(values: np.ndarray) -> list[str]:
    return [f"{float(v):f}" for v in values]


# --- the tensors ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(375, 500, 227, 227), (100, 80, 320, 320), (57, 91, 13, 200), (2, 3, 5, 7)])
@pytest.mark.parametrize("pixel", ["BGR", "RGB", "GRAY", "RGBA", "BGRA"])
def test_input_tensors_match_ncnn_from_pixels_resize(tmp_path, size, pixel):
    ncnn = ncnn_module()
    sh, sw, dh, dw = size
    rgb = np.random.default_rng(sh * sw).integers(0, 256, (sh, sw, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    channels = {"GRAY": 1, "RGBA": 4, "BGRA": 4}.get(pixel, 3)
    mean, norm = [104.0, 117.0, 123.0, 10.0][:channels], [0.017, 0.018, 0.019, 0.5][:channels]
    ours = image_tensor(path, InputSpec((dw, dh, 3), pixel, tuple(mean), tuple(norm)))
    code = ncnn.Mat.PixelType.PIXEL_BGR if pixel == "BGR" else getattr(ncnn.Mat.PixelType, f"PIXEL_BGR2{pixel}")
    ref = ncnn.Mat.from_pixels_resize(np.ascontiguousarray(rgb[:, :, ::-1]), code, sw, sh, dw, dh)
    ref.substract_mean_normalize(mean, norm)
    theirs = np.array(ref)
    assert ours.shape == theirs.shape
    # Within one LSB of the 8-bit pixel after normalization; in practice bit-exact but for FMA.
    assert np.abs(ours - theirs).max() <= max(norm) * 1.0 + 1e-5


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA", "1"])
def test_image_modes_are_converted(tmp_path, mode):
    rgb = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    img = img.convert(mode) if mode != "I;16" else Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    t = image_tensor(path, InputSpec((11, 9, 3), "BGR"))
    assert t.shape == (3, 9, 11) and t.dtype == np.float32
    if mode == "I;16":
        assert np.array_equal(t[2], rgb[:, :, 0].astype(np.float32)), "16-bit grey keeps its high byte"


# --- scales vs real ncnn2table -----------------------------------------------------------------


def _kl_near_tie(table: Table, layer: str) -> bool:
    """Whether the threshold we chose is, under the exact histogram, a near-tie with ncnn's: its
    KL divergence within 1 % of the optimum (the histograms of one-pass and two-pass differ only
    by re-binning, which is enough to move the minimum of a curve that flat)."""
    model = _squeezenet()
    lay = model.layer(layer)
    two = _squeezenet_table("kl", True)
    ours_t = 127.0 / table.activations[layer]
    best_t = 127.0 / two.activations[layer]
    stats = _exact_histogram(lay.bottoms[0])
    absmax = stats["absmax"]
    kl = kl_divergences(stats["linear"] / stats["linear"].sum())
    t_ours = round(ours_t / absmax * NCNN_BINS - 0.5)
    t_best = round(best_t / absmax * NCNN_BINS - 0.5)
    return bool(kl[t_ours - THRESHOLDS[0]] <= kl[t_best - THRESHOLDS[0]] * 1.01)


@cache
def _exact_histogram(blob: str) -> dict:
    from ncnnq import _native
    from ncnnq.calibrate import _Runner
    from ncnnq.progress import NoProgress
    from ncnnq.samples import samples_from

    model = _squeezenet()
    runner = _Runner(model, {"data": SQUEEZENET_SPEC}, "image", 2, NoProgress())
    samples = list(samples_from(model, _png_list()))
    first = _native.StatsCollector(model, [blob], "absmax", threads=2)
    runner.run(first, samples, "absmax")
    absmax = float(first.result()[blob].absmax)
    second = _native.StatsCollector(model, [blob], "linear", absmax=[absmax], threads=2)
    runner.run(second, samples, "histogram")
    return {"absmax": absmax, "linear": second.result()[blob].linear.astype(np.float64)}


@pytest.mark.parametrize("method", ["kl", "aciq"])
def test_weight_scales_equal_ncnn2table(shared, method):
    ref = Table.load(REF / "squeezenet_v1.1" / f"squeezenet_v1.1-opt-{method}-png.table")
    ours = _squeezenet_table(method)
    assert list(ours.weights) == list(ref.weights), "same keys in the same order"
    for key in ref.weights:
        assert _formatted(ours.weights[key]) == _formatted(ref.weights[key]), key


@pytest.mark.parametrize("method,two_pass", [pytest.param("kl", True, marks=pytest.mark.slow), ("aciq", False)])
def test_activation_scales_within_1_percent_of_ncnn2table(shared, method, two_pass):
    ref = Table.load(REF / "squeezenet_v1.1" / f"squeezenet_v1.1-opt-{method}-png.table")
    ours = _squeezenet_table(method, two_pass)
    assert list(ours.activations) == list(ref.activations)
    for layer, scale in ref.activations.items():
        assert ours.activations[layer] == pytest.approx(scale, rel=0.01), layer


@pytest.mark.slow
def test_one_pass_kl_matches_two_pass_within_tolerance(shared):
    """ncnnq's single pass (widening histogram) against ncnn's two passes: within 1 %, or, where
    not, a near-tie of the KL objective that any re-binning can flip (explained per layer)."""
    one = _squeezenet_table("kl", False)
    two = _squeezenet_table("kl", True)
    ref = Table.load(REF / "squeezenet_v1.1" / "squeezenet_v1.1-opt-kl-png.table")
    off = [layer for layer in two.activations if abs(one.activations[layer] / two.activations[layer] - 1) > 0.01]
    for layer in off:
        assert _kl_near_tie(one, layer), (
            f"{layer}: one-pass {one.activations[layer]} vs two-pass {two.activations[layer]}"
        )
    assert len(off) <= len(two.activations) // 4
    within = sum(abs(one.activations[k] / ref.activations[k] - 1) <= 0.01 for k in ref.activations)
    assert within >= len(ref.activations) - len(off)


def test_threads_give_byte_identical_tables(shared, tmp_path):
    a, b = tmp_path / "t1.table", tmp_path / "t2.table"
    calibrate(_squeezenet(), _png_list()[:40], "kl", specs=[SQUEEZENET_SPEC], threads=1).save(a)
    calibrate(_squeezenet(), _png_list()[:40], "kl", specs=[SQUEEZENET_SPEC], threads=2).save(b)
    assert a.read_bytes() == b.read_bytes()


def test_bilinear_interp_model_gives_byte_identical_tables_on_any_threads(shared):
    """nanodet_m upsamples and downsamples with bilinear Interps (their two-tap rows), and its
    samples go through threads + 2 decoding workers: 1 and 3 threads write the same table."""
    model = ncnnq.Model.load(SHARED / "models" / "nanodet_m.param", SHARED / "models" / "nanodet_m.bin")
    assert sum(layer.type == "Interp" for layer in model.layers) == 4
    one = calibrate(model, _png_list()[:12], "kl", specs=[NANODET_SPEC], threads=1)
    three = calibrate(model, _png_list()[:12], "kl", specs=[NANODET_SPEC], threads=3)
    assert len(one.activations) == 73 and one.text() == three.text()


def test_table_file_format_is_ncnn2tables(shared, tmp_path):
    path = tmp_path / "t.table"
    _squeezenet_table("aciq").save(path)
    lines = path.read_text().splitlines(keepends=True)
    assert lines[0].startswith("conv1_param_0 ") and all(line.endswith(" \n") for line in lines)
    assert "inf" not in path.read_text() and "nan" not in path.read_text()
    assert lines[26].startswith("conv1 ") and len(lines) == 52


# --- options and bad input ---------------------------------------------------------------------


def test_options_parse_ncnn2table_syntax():
    o = parse_table_options(["mean=[104,117,123],[128]", "norm=[0.017,0.017,0.017],[0.0078125]",
                             "shape=[224,224,3],[224,224,1]", "pixel=BGR,GRAY", "thread=8", "method=aciq", "type=0"])
    assert o.mean == [[104, 117, 123], [128]] and o.shape == [[224, 224, 3], [224, 224, 1]]
    assert o.pixel == ["BGR", "GRAY"] and o.thread == 8 and o.method == "aciq"


@pytest.mark.parametrize("token,message", [
    ("meanX=[1]", "unknown option 'meanX'"),
    ("mean=104,117", "expected bracket groups"),
    ("mean=[1,x]", "'x' is not a finite number"),
    ("pixel=bgr", "unknown pixel format 'bgr'"),
    ("method=KL", "method=KL"),
    ("thread=-1", "thread count from 1 to 1024"),
    ("thread=100000", "thread count from 1 to 1024"),
    ("type=2", "must be one of 0, 1"),
    ("shape=[224,2.5]", "'2.5' is not an integer"),
    ("verbose", "unrecognized argument 'verbose'"),
])
def test_bad_options_are_named(token, message):
    with pytest.raises(ncnnq.InputError, match=message.replace("[", r"\[")):
        parse_table_options([token])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncnnq.cli", "table", *args], capture_output=True, text=True)


@pytest.fixture()
def tiny(tmp_path):
    """A small two-layer model and three images."""
    text = ("7767517\n3 3\nInput data 0 1 data 0=16 1=16 2=3\nConvolution conv 1 1 data c 0=4 1=3 5=1 6=108 9=1\n"
            "InnerProduct fc 1 1 c out 0=2 1=1 2=784\n")
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(3)
    model.save(tmp_path / "m.param", tmp_path / "m.bin")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "list.txt").write_text("".join(f"{tmp_path / f'{i}.png'}\n" for i in range(3)))
    return tmp_path


OPTS = ["mean=[1,2,3]", "norm=[0.1,0.1,0.1]", "shape=[16,16,3]", "pixel=BGR", "thread=1"]


def test_cli_writes_a_table(tiny):
    r = _cli(str(tiny / "m.param"), str(tiny / "m.bin"), str(tiny / "list.txt"), str(tiny / "out.table"), *OPTS)
    assert r.returncode == 0, r.stderr
    table = Table.load(tiny / "out.table")
    assert list(table.activations) == ["conv", "fc"] and table.weights["conv_param_0"].shape == (4,)


@pytest.mark.parametrize("case,message", [
    ("missing", "missing.png"),
    ("unreadable", "cannot read image"),
    ("short", "lists 1 inputs but"),
    ("mean", "mean has 2 entries but the model has 1 inputs"),
    ("shape", "shape has 0 entries"),
    ("folder", "does not exist"),
])
def test_bad_input_is_a_clear_error_and_leaves_no_table(tiny, case, message):
    lists, opts, out = str(tiny / "list.txt"), list(OPTS), tiny / "out.table"
    if case == "missing":
        (tiny / "list.txt").write_text(f"{tiny / '0.png'}\n{tiny / 'missing.png'}\n")
    elif case == "unreadable":
        (tiny / "bad.png").write_bytes(b"not an image")
        (tiny / "list.txt").write_text(f"{tiny / 'bad.png'}\n")
    elif case == "short":
        (tiny / "two.txt").write_text(f"{tiny / '0.png'}\n")
        lists = f"{tiny / 'list.txt'},{tiny / 'two.txt'}"
        message = "2 list files for 1 inputs"
    elif case == "mean":
        opts[0] = "mean=[1,2,3],[4]"
    elif case == "shape":
        opts = [o for o in opts if not o.startswith("shape")]
    elif case == "folder":
        out = tiny / "nowhere" / "out.table"
    r = _cli(str(tiny / "m.param"), str(tiny / "m.bin"), lists, str(out), *opts)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr, r.stderr
    assert not out.exists() and not list(tiny.glob(".out.table*"))
    if case in ("missing", "unreadable"):
        assert "list.txt:" in r.stderr, "the error names the list line"


def test_model_without_input_layer_is_refused(tiny):
    text = "7767517\n2 2\nMemoryData m 0 1 x 0=4\nInnerProduct fc 1 1 x out 0=2 2=8\n"
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(1)
    with pytest.raises(ncnnq.InputError, match="no Input layer"):
        calibrate(model, [np.zeros(4, np.float32)])


def test_npy_inputs_for_a_two_input_model(tmp_path):
    text = ("7767517\n5 5\nInput a 0 1 a 0=6 1=5 2=2\nInput b 0 1 b 0=7\nConvolution ca 1 1 a xa 0=3 1=3 5=1 6=54\n"
            "InnerProduct fb 1 1 b xb 0=4 1=1 2=28\nInnerProduct fa 1 1 xa ya 0=2 2=36\n")
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(5)
    model.save(tmp_path / "m.param", tmp_path / "m.bin")
    rng = np.random.default_rng(2)
    for i in range(4):
        np.save(tmp_path / f"a{i}.npy", rng.normal(size=(2, 5, 6)).astype(np.float32))
        np.save(tmp_path / f"b{i}.npy", rng.normal(size=(7,)).astype(np.float32))
    (tmp_path / "a.txt").write_text("".join(f"{tmp_path / f'a{i}.npy'}\n" for i in range(4)))
    (tmp_path / "b.txt").write_text("".join(f"{tmp_path / f'b{i}.npy'}\n" for i in range(4)))
    args = [str(tmp_path / "m.param"), str(tmp_path / "m.bin"), f"{tmp_path / 'a.txt'},{tmp_path / 'b.txt'}",
            str(tmp_path / "t.table"), "shape=[6,5,2],[7]", "type=1", "thread=2", "method=aciq"]
    r = _cli(*args)
    assert r.returncode == 0, r.stderr
    table = Table.load(tmp_path / "t.table")
    assert list(table.activations) == ["ca", "fb", "fa"]
    np.save(tmp_path / "b3.npy", rng.normal(size=(8,)).astype(np.float32))
    r = _cli(*args)
    assert r.returncode == 2 and "b3.npy" in r.stderr and "(8,)" in r.stderr and "b.txt:4" in r.stderr


@cache
def _nanodet_table() -> Table:
    model = ncnnq.Model.load(SHARED / "models" / "nanodet_m.param", SHARED / "models" / "nanodet_m.bin")
    return calibrate(model, _png_list(), "kl", specs=[NANODET_SPEC], threads=2, two_pass=True)


@pytest.mark.slow
def test_nanodet_table_on_the_png_set_resized_to_320(shared):
    """The 227x227 PNGs go through ncnn's bilinear resize to 320x320 first: this checks the resize
    as well as the math. ncnn's inf weight scales (all-zero channels) are 1.0 in ncnnq's table."""
    ref = Table.load(REF / "nanodet_m" / "nanodet_m-kl-png.table")
    ours = _nanodet_table()
    assert list(ours.weights)[: len(ref.weights)] == list(ref.weights)
    for key, values in ref.weights.items():
        finite = np.isfinite(values)
        assert _formatted(ours.weights[key][finite]) == _formatted(values[finite]), key
        assert np.all(ours.weights[key][~finite] == 1.0), key
    off = {
        k: ours.activations[k] / v - 1 for k, v in ref.activations.items() if abs(ours.activations[k] / v - 1) > 0.01
    }
    assert not off, off


def test_work_in_flight_does_not_grow_with_the_number_of_samples(monkeypatch):
    """Each queued sample costs a future (~1.7 KB): calibration queues a few per worker, not the
    whole list, so 5,000 or 50,000 samples take the memory 500 do."""
    import tinynet

    calibrate_module = importlib.import_module("ncnnq.calibrate")
    pools: list[Counting] = []

    class Counting(ThreadPoolExecutor):
        """Counts, per pool, the tasks submitted and the most queued or running at once."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.submitted = self.outstanding = self.most = 0
            self.lock = threading.Lock()  # the done callbacks run on the workers
            pools.append(self)

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            with self.lock:
                self.submitted += 1
                self.outstanding += 1
                self.most = max(self.most, self.outstanding)
            future = super().submit(fn, *args, **kwargs)
            future.add_done_callback(self._done)
            return future

        def _done(self, _: Future[Any]) -> None:
            with self.lock:
                self.outstanding -= 1

    monkeypatch.setattr(calibrate_module, "ThreadPoolExecutor", Counting)
    images = tinynet.image_files() * 5  # 240 samples
    spec = InputSpec((32, 32, 3), "BGR", (127.5,) * 3, (1 / 128,) * 3)
    table = calibrate(ncnnq.Model.load(*tinynet.model_files()), images, "kl", specs=[spec], threads=2)
    assert table.activations
    (runner,) = [pool for pool in pools if pool.submitted == len(images)]
    assert runner.most <= 2 * (2 + 2), f"{runner.most} samples queued at once"
