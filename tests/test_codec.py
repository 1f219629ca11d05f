"""The model codec: exact round trips on real files, ncnn's verdict on what we write, and a clear,
specific error for every kind of malformed input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ncnnq
from reference import SHARED, random_inputs, run_ncnn


def _params(folder: str) -> list[Path]:
    d = SHARED / folder
    return sorted(d.glob("*.param")) if d.is_dir() else []


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _assert_same_model(a: ncnnq.Model, b: ncnnq.Model) -> None:
    assert a.param_text() == b.param_text()
    assert a.bin_bytes() == b.bin_bytes()
    for la, lb in zip(a.layers, b.layers):
        wa, wb = la.weights, lb.weights
        assert wa.keys() == wb.keys()
        for k in wa:
            assert wa[k].dtype == wb[k].dtype and wa[k].tobytes() == wb[k].tobytes(), (la.name, k)


def _round_trip_in_ncnn(tmp_path: Path, model: ncnnq.Model, param: Path, bin_path: Path, stem: str) -> None:
    out_param, out_bin = tmp_path / "rt.param", tmp_path / "rt.bin"
    model.save(out_param, out_bin)
    again = ncnnq.Model.load(out_param, out_bin)
    _assert_same_model(model, again)
    inputs = random_inputs(model, stem)
    outputs = model.outputs
    before = run_ncnn(param, bin_path, inputs, outputs)
    after = run_ncnn(out_param, out_bin, inputs, outputs)
    for name in outputs:
        assert before[name].tobytes() == after[name].tobytes(), f"{stem}: {name} differs in ncnn after the round trip"


@pytest.mark.parametrize("param", _params("models"), ids=_ids(_params("models")))
def test_real_model_round_trip(shared, tmp_path, param):
    bin_path = param.with_suffix(".bin")
    model = ncnnq.Model.load(param, bin_path)
    assert model.bin_bytes() == bin_path.read_bytes(), "weights are rewritten byte for byte (fp16 stays fp16)"
    _round_trip_in_ncnn(tmp_path, model, param, bin_path, param.stem)


@pytest.mark.parametrize("param", _params("benchmark-params"), ids=_ids(_params("benchmark-params")))
def test_benchmark_architecture_round_trip(shared, tmp_path, param):
    model = ncnnq.Model.load(param).with_random_weights(seed=1)
    original_bin = tmp_path / "original.bin"
    original_bin.write_bytes(model.bin_bytes())
    _round_trip_in_ncnn(tmp_path, model, param, original_bin, param.stem)


def test_random_weights_are_seeded(shared):
    model = ncnnq.Model.load(SHARED / "benchmark-params" / "mobilenet.param")
    a = model.with_random_weights(seed=3).bin_bytes()
    assert a == model.with_random_weights(seed=3).bin_bytes()
    assert a != model.with_random_weights(seed=4).bin_bytes()


def test_storage_conversion_and_views(shared, tmp_path):
    model = ncnnq.Model.load(SHARED / "models" / "squeezenet_v1.1.param", SHARED / "models" / "squeezenet_v1.1.bin")
    conv = model.layer("conv1")
    w = conv.weights["weight"]
    assert w.dtype == np.float16 and not w.flags.writeable
    assert np.shares_memory(w, conv.weights["weight"]), "weights are views, not copies"
    assert conv.weights["bias"].dtype == np.float32, "biases are raw float32 in ncnn files"
    model.save(tmp_path / "f32.param", tmp_path / "f32.bin", storage="fp32")
    f32 = ncnnq.Model.load(tmp_path / "f32.param", tmp_path / "f32.bin").layer("conv1").weights["weight"]
    assert f32.dtype == np.float32 and np.array_equal(f32, w.astype(np.float32))
    binary = tmp_path / "m.param.bin"
    model.save(binary, tmp_path / "m.bin", binary=True)
    again = ncnnq.Model.load(binary, tmp_path / "m.bin")
    assert len(again) == len(model) and again.bin_bytes() == model.bin_bytes()


# --- malformed input: each its own exception class and a message naming where -----------------

GOOD = (
    "7767517\n3 3\nInput data 0 1 data 0=4 1=4 2=3\nConvolution conv 1 1 data c 0=2 1=1 5=1 6=6\nReLU relu 1 1 c out\n"
)


def _bin_for(param_text: str) -> bytes:
    return ncnnq.Model.from_bytes(param_text.encode()).with_random_weights().bin_bytes()


def _write(tmp_path: Path, text: str, bin_bytes: bytes | None = None) -> tuple[Path, Path | None]:
    p = tmp_path / "bad.param"
    p.write_text(text)
    if bin_bytes is None:
        return p, None
    b = tmp_path / "bad.bin"
    b.write_bytes(bin_bytes)
    return p, b


def _load_error(tmp_path, text, bin_bytes=None):
    p, b = _write(tmp_path, text, bin_bytes)
    with pytest.raises(ncnnq.Error) as info:
        ncnnq.Model.load(p, b)
    return info


def test_bad_magic(tmp_path):
    e = _load_error(tmp_path, GOOD.replace("7767517", "7767000", 1))
    assert e.type is ncnnq.ParamError and isinstance(e.value, ValueError)
    assert "bad.param:1:" in str(e.value) and "bad magic 7767000" in str(e.value)


def test_counts_mismatch(tmp_path):
    e = _load_error(tmp_path, GOOD.replace("3 3", "4 3", 1))
    assert e.type is ncnnq.ParamError and "says 4 layers but the file has only 3" in str(e.value)
    e = _load_error(tmp_path, GOOD.replace("3 3", "3 2", 1))
    assert (
        e.type is ncnnq.ParamError and "bad.param:2:" in str(e.value) and "2 blobs but the layers use 3" in str(e.value)
    )


def test_unknown_layer_type_with_weights(tmp_path):
    text = GOOD.replace("ReLU relu", "MyCustomOp relu")
    p, _ = _write(tmp_path, text)
    assert len(ncnnq.Model.load(p)) == 3, "an unknown type loads as a param-only graph"
    e = _load_error(tmp_path, text, _bin_for(GOOD))
    assert e.type is ncnnq.WeightsError
    assert "layer 'relu' (MyCustomOp)" in str(e.value) and "unknown layer type MyCustomOp" in str(e.value)


def test_blob_used_before_produced(tmp_path):
    text = "7767517\n3 3\nInput data 0 1 data\nReLU r1 1 1 later x\nReLU r2 1 1 data later\n"
    e = _load_error(tmp_path, text)
    assert e.type is ncnnq.ParamError
    assert "bad.param:4: layer 'r1': bottom blob 'later' is not produced by any earlier layer" in str(e.value)


def test_duplicate_top_names(tmp_path):
    e = _load_error(tmp_path, GOOD.replace("ReLU relu 1 1 c out", "ReLU relu 1 1 c c"))
    assert (
        e.type is ncnnq.ParamError
        and "bad.param:5: layer 'relu': top blob 'c' is already produced by layer 'conv'" in str(e.value)
    )


def test_over_long_value(tmp_path):
    e = _load_error(tmp_path, GOOD.replace("ReLU relu 1 1 c out", "ReLU relu 1 1 c out 0=1.0000000000000001"))
    assert (
        e.type is ncnnq.ParamError and "bad.param:5: layer 'relu':" in str(e.value) and "longer than 15" in str(e.value)
    )


def test_non_numeric_value(tmp_path):
    e = _load_error(tmp_path, GOOD.replace("0=2 1=1", "0=2x 1=1"))
    assert e.type is ncnnq.ParamError and "bad.param:4: layer 'conv': parameter 0: '2x' is not a number" in str(e.value)


def test_truncated_bin(tmp_path):
    data = _bin_for(GOOD)
    e = _load_error(tmp_path, GOOD, data[:-3])
    assert e.type is ncnnq.WeightsError
    msg = str(e.value)
    assert "bad.bin: layer 'conv' (Convolution): bias: file ends" in msg and "byte offset 28" in msg


def test_trailing_bytes_in_bin(tmp_path):
    e = _load_error(tmp_path, GOOD, _bin_for(GOOD) + b"\0" * 8)
    assert e.type is ncnnq.WeightsError and "8 trailing bytes" in str(e.value) and "byte offset 36" in str(e.value)


def test_missing_file_is_os_error(tmp_path):
    with pytest.raises(ncnnq.FileError) as e:
        ncnnq.Model.load(tmp_path / "nope.param")
    assert isinstance(e.value, OSError) and "nope.param" in str(e.value)


def test_no_half_written_file_on_failure(tmp_path):
    model = ncnnq.Model.from_bytes(GOOD.encode())
    with pytest.raises(ncnnq.LayerError):
        model.save(tmp_path / "out.param", tmp_path / "out.bin")  # no weights: refused before writing
    assert not list(tmp_path.iterdir())
