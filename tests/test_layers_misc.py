"""Norms, Gemm, attention, Embed, PriorBox and the detection heads against real ncnn.

Each case is a one-layer model (text param + seeded random weights) run through both engines.
Detection outputs must agree row for row: same labels, same order, boxes and scores within 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ncnnq
from reference import assert_close, assert_same_detections, run_ncnn

RNG = np.random.default_rng(20240611)


def _param(inputs: list[str], layers: list[tuple[str, str, list[str], list[str], str]]) -> str:
    """A text .param: Input layers for `inputs`, then (type, name, bottoms, tops, params)."""
    lines = [f"Input in_{name} 0 1 {name}" for name in inputs]
    blobs = set(inputs)
    for type_, name, bottoms, tops, params in layers:
        blobs.update(tops)
        lines.append(f"{type_} {name} {len(bottoms)} {len(tops)} {' '.join(bottoms + tops)} {params}".rstrip())
    return f"7767517\n{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n"


def _save(tmp_path: Path, text: str, seed: int = 3) -> tuple[Path, Path]:
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(seed)
    param, bin_path = tmp_path / "m.param", tmp_path / "m.bin"
    model.save(param, bin_path)
    return param, bin_path


def _run_both(tmp_path, text, inputs, outputs, seed=3):
    param, bin_path = _save(tmp_path, text, seed)
    ours = ncnnq.Net(param, bin_path).run(inputs, outputs)
    theirs = run_ncnn(param, bin_path, inputs, outputs)
    return ours, theirs


def _one_layer(tmp_path, type_, params, inputs: dict[str, np.ndarray], n_tops=1, seed=3):
    tops = ["y"] if n_tops == 1 else [f"y{i}" for i in range(n_tops)]
    text = _param(list(inputs), [(type_, "layer", list(inputs), tops, params)])
    ours, theirs = _run_both(tmp_path, text, inputs, tops, seed)
    for name in tops:
        assert_close(ours[name], theirs[name], f"{type_} {params} {name}")
    return ours, theirs


def _rand(*shape, lo=-2.0, hi=2.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Normalizations

@pytest.mark.parametrize("region", [0, 1])
@pytest.mark.parametrize("local_size", [1, 3, 4, 5])
@pytest.mark.parametrize("shape", [(7, 6, 5), (6, 9), (11,)])
def test_lrn(tmp_path, region, local_size, shape):
    _one_layer(tmp_path, "LRN", f"0={region} 1={local_size} 2=0.7 3=0.6 4=1.5", {"x": _rand(*shape)})


def test_lrn_defaults(tmp_path):
    _one_layer(tmp_path, "LRN", "", {"x": _rand(8, 5, 4)})


_NORM_CASES = [
    ((9,), 9), ((4, 9), 9), ((3, 4, 5), 5), ((3, 4, 5), 20), ((2, 3, 4, 5), 5), ((2, 3, 4, 5), 20), ((2, 3, 4, 5), 60),
]


@pytest.mark.parametrize("type_", ["LayerNorm", "RMSNorm"])
@pytest.mark.parametrize("shape,affine_size", _NORM_CASES)
@pytest.mark.parametrize("affine", [0, 1])
def test_layernorm_rmsnorm(tmp_path, type_, shape, affine_size, affine):
    x = _rand(*shape) + 0.5
    _one_layer(tmp_path, type_, f"0={affine_size} 1=1.000000e-05 2={affine}", {"x": x})


@pytest.mark.parametrize("shape", [(12,), (12, 5), (12, 4, 5), (12, 2, 3, 4)])
@pytest.mark.parametrize("group,affine", [(1, 1), (3, 1), (4, 0), (12, 1)])
def test_groupnorm(tmp_path, shape, group, affine):
    channels = shape[0]
    _one_layer(tmp_path, "GroupNorm", f"0={group} 1={channels} 2=1.000000e-04 3={affine}", {"x": _rand(*shape)})


@pytest.mark.parametrize("shape", [(6, 5, 4), (6, 2, 3, 4), (5, 7)])
@pytest.mark.parametrize("affine", [0, 1])
def test_instancenorm(tmp_path, shape, affine):
    channels = shape[0] if len(shape) >= 3 else 1
    _one_layer(tmp_path, "InstanceNorm", f"0={channels} 1=1.000000e-04 2={affine}", {"x": _rand(*shape) * 3 + 1})


@pytest.mark.parametrize("normalize_variance", [0, 1])
@pytest.mark.parametrize("across_channels", [0, 1])
@pytest.mark.parametrize("shape", [(4, 5, 6), (5, 6), (7,)])
def test_mvn(tmp_path, normalize_variance, across_channels, shape):
    params = f"0={normalize_variance} 1={across_channels} 2=1.000000e-03"
    _one_layer(tmp_path, "MVN", params, {"x": _rand(*shape) + 0.3})


@pytest.mark.parametrize("across_spatial", [0, 1])
@pytest.mark.parametrize("across_channel", [0, 1])
@pytest.mark.parametrize("channel_shared", [0, 1])
@pytest.mark.parametrize("eps_mode", [0, 1, 2])
def test_normalize(tmp_path, across_spatial, across_channel, channel_shared, eps_mode):
    c = 6
    size = 1 if channel_shared else c
    params = f"0={across_spatial} 1={channel_shared} 2=1.000000e-02 3={size} 4={across_channel} 9={eps_mode}"
    x = _rand(c, 4, 5)
    x[:, 0, 0] = 0.0  # a zero pixel makes the eps modes differ
    _one_layer(tmp_path, "Normalize", params, {"x": x})


def test_normalize_default_is_across_channel(tmp_path):
    # ncnn's default across_channel is 1: the SSD conv4_3 norm form.
    ours, _ = _one_layer(tmp_path, "Normalize", "3=6", {"x": _rand(6, 4, 5)})
    norms = np.linalg.norm(ours["y"], axis=0)
    assert not np.allclose(norms, norms.flat[0]), "per-pixel scaling expected"


# ---------------------------------------------------------------------------------------------
# Gemm

M, N, K = 5, 7, 6


def _gemm_inputs(trans_a, trans_b, const_a, const_b):
    inputs = {}
    if not const_a:
        inputs["a"] = _rand(K, M) if trans_a else _rand(M, K)
    if not const_b:
        inputs["b"] = _rand(N, K) if trans_b else _rand(K, N)
    return inputs


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("const_a,const_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_forms(tmp_path, trans_a, trans_b, const_a, const_b):
    inputs = _gemm_inputs(trans_a, trans_b, const_a, const_b)
    if const_a and const_b:
        inputs["c"] = _rand(M, N)  # a layer needs at least one bottom
    params = f"0=0.7 1=1.3 2={trans_a} 3={trans_b} 4={const_a} 5={const_b} 7={M} 8={N} 9={K}"
    _one_layer(tmp_path, "Gemm", params, inputs)


@pytest.mark.parametrize("c_shape", [(1,), (M,), (N,), (M, 1), (M, N), (1, N)])
@pytest.mark.parametrize("const_b", [0, 1])
def test_gemm_c_bottom(tmp_path, c_shape, const_b):
    inputs = _gemm_inputs(0, 1, 0, const_b)
    inputs["c"] = _rand(*c_shape)
    _one_layer(tmp_path, "Gemm", f"0=1.5 1=0.5 3=1 5={const_b} 8={N} 9={K}", inputs)


@pytest.mark.parametrize("broadcast", [-1, 0, 1, 2, 3, 4])
@pytest.mark.parametrize("const_a", [0, 1])
def test_gemm_constant_c(tmp_path, broadcast, const_a):
    inputs = _gemm_inputs(0, 0, const_a, 0)
    params = f"0=0.9 1=2.0 4={const_a} 6=1 7={M} 8={N} 9={K} 10={broadcast}"
    _one_layer(tmp_path, "Gemm", params, inputs)


@pytest.mark.parametrize("n1m", [0, 1])
@pytest.mark.parametrize("transpose", [0, 1])
@pytest.mark.parametrize("const_b", [0, 1])
def test_gemm_output_layouts(tmp_path, n1m, transpose, const_b):
    inputs = _gemm_inputs(0, 1, 0, const_b)
    params = (
        f"3=1 5={const_b} 6=1 8={N} 9={K} 10=4 11={n1m} 14={transpose}" if const_b else f"3=1 11={n1m} 14={transpose}"
    )
    ours, _ = _one_layer(tmp_path, "Gemm", params, inputs)
    rows, cols = (N, M) if transpose else (M, N)
    assert ours["y"].shape == ((rows, 1, cols) if n1m else (rows, cols))


def test_gemm_n1m_input(tmp_path):
    # A in the N1M layout (c=M, h=1, w=K), as ncnn's converter emits for batched linear layers.
    _one_layer(tmp_path, "Gemm", f"3=1 5=1 6=1 8={N} 9={K} 10=4 11=1", {"a": _rand(M, 1, K)})


# ---------------------------------------------------------------------------------------------
# MultiHeadAttention

def _mha(embed, heads, qdim=None, kdim=None, vdim=None, extra=""):
    qdim = qdim or embed
    params = f"0={embed} 1={heads} 2={embed * qdim}"
    if kdim:
        params += f" 3={kdim}"
    if vdim:
        params += f" 4={vdim}"
    return (params + " " + extra).strip()


def test_mha_self_attention(tmp_path):
    _one_layer(tmp_path, "MultiHeadAttention", _mha(16, 4), {"q": _rand(9, 16)})


def test_mha_two_inputs(tmp_path):
    _one_layer(tmp_path, "MultiHeadAttention", _mha(16, 2, kdim=12, vdim=12), {"q": _rand(5, 16), "kv": _rand(8, 12)})


def test_mha_three_inputs_kdim_vdim_qdim(tmp_path):
    inputs = {"q": _rand(6, 10), "k": _rand(7, 12), "v": _rand(7, 9)}
    _one_layer(tmp_path, "MultiHeadAttention", _mha(16, 4, qdim=10, kdim=12, vdim=9), inputs)


@pytest.mark.parametrize("mask_dims", [2, 3])
@pytest.mark.parametrize("n_inputs", [1, 3])
def test_mha_attn_mask(tmp_path, mask_dims, n_inputs):
    heads, src, dst = 4, 6, 6 if n_inputs == 1 else 8
    mask = np.where(RNG.uniform(size=(src, dst)) < 0.3, -1e4, 0.0).astype(np.float32)
    if mask_dims == 3:
        mask = np.stack([np.roll(mask, h, axis=1) for h in range(heads)])
    inputs = {"q": _rand(src, 16)}
    if n_inputs == 3:
        inputs.update(k=_rand(dst, 16), v=_rand(dst, 16))
    inputs["mask"] = mask
    _one_layer(tmp_path, "MultiHeadAttention", _mha(16, heads, extra="5=1"), inputs)


def test_mha_scale(tmp_path):
    _one_layer(tmp_path, "MultiHeadAttention", _mha(16, 4, extra="6=0.05"), {"q": _rand(9, 16)})


@pytest.mark.parametrize("cross,past", [(False, 0), (False, 5), (True, 5)])
def test_mha_kv_cache(tmp_path, cross, past):
    # The cache blobs are heads × seqlen × head_dim (ncnn's x86 layout); empty on the first step.
    embed, heads = 16, 2
    inputs = {"q": _rand(3, embed)}
    if cross:
        inputs["kv"] = _rand(4, embed)
    shape = (heads, past, embed // heads) if past else (0,)
    inputs.update(ck=_rand(*shape), cv=_rand(*shape))
    _one_layer(tmp_path, "MultiHeadAttention", _mha(embed, heads, extra="7=1"), inputs, n_tops=3)


# ---------------------------------------------------------------------------------------------
# Embed

@pytest.mark.parametrize("bias", [0, 1])
def test_embed(tmp_path, bias):
    words = np.array([0, 3, 9, -4, 11, 25, 5, 5], dtype=np.int32)  # out-of-range ids are clamped
    x = words.view(np.float32)  # ncnn reads the blob's bits as int ids
    ours, _ = _one_layer(tmp_path, "Embed", f"0=6 1=10 2={bias} 3=60", {"x": x})
    assert ours["y"].shape == (8, 6)


# ---------------------------------------------------------------------------------------------
# PriorBox

_CAFFE = "-23300=2,3.000000e+01,6.000000e+01 -23301=2,6.000000e+01,1.100000e+02 -23302=2,2.000000e+00,3.000000e+00"


@pytest.mark.parametrize(
    "params",
    [
        f"{_CAFFE} 9=-233 10=-233 13=0.5",
        f"{_CAFFE} 7=0 8=1 9=-233 10=-233 11=16.0 12=12.0 13=0.5",
        f"{_CAFFE} 9=300 10=200 13=0.3 3=0.2 4=0.3 5=0.4 6=0.5",
        f"{_CAFFE} 9=-233 10=-233 13=0.5 14=1 15=1",
        "-23300=1,4.000000e+01 -23302=1,2.000000e+00 9=-233 10=-233 13=0.5",
        # int-written arrays: ncnn converts them by value
        "-23300=2,30,60 -23301=2,60,110 -23302=1,2 9=-233 10=-233 13=0.5",
    ],
)
def test_priorbox_caffe(tmp_path, params):
    _one_layer(tmp_path, "PriorBox", params, {"feat": _rand(4, 5, 7), "image": _rand(3, 61, 83)})


@pytest.mark.parametrize("clip", [0, 1])
@pytest.mark.parametrize("steps", ["", "11=0.1 12=0.2"])
def test_priorbox_mxnet(tmp_path, clip, steps):
    params = f"-23300=2,0.2,0.45 -23302=3,1.0,2.0,0.5 9=-233 10=-233 13=0.5 8={clip} {steps}"
    ours, _ = _one_layer(tmp_path, "PriorBox", params, {"feat": _rand(4, 5, 7)})
    assert ours["y"].ndim == 1


# ---------------------------------------------------------------------------------------------
# Detection heads

def _ssd_inputs(num_prior, num_class, mxnet=False, hot=0.25):
    logits = RNG.normal(size=(num_prior, num_class)).astype(np.float32)
    logits[:, 0] += 1.0
    logits[RNG.uniform(size=num_prior) < hot, 1:] += 4.0  # some priors look like objects
    conf = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    loc = RNG.normal(scale=0.5, size=(num_prior * 4,)).astype(np.float32)
    centers = RNG.uniform(0.1, 0.9, size=(num_prior, 2))
    sizes = RNG.uniform(0.05, 0.4, size=(num_prior, 2))
    corners = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1).astype(np.float32)
    if mxnet:
        return {"loc": loc, "conf": np.ascontiguousarray(conf.T.astype(np.float32)), "prior": corners}
    variances = np.tile(np.array([0.1, 0.1, 0.2, 0.2], np.float32), num_prior)
    return {"loc": loc, "conf": conf.astype(np.float32).ravel(), "prior": np.stack([corners.ravel(), variances])}


def _detect(tmp_path, type_, params, inputs, copy_inputs=False):
    layers = []
    bottoms = list(inputs)
    if copy_inputs:
        # ncnn's x86 Yolov3 kernel assumes blobs padded to ncnn's channel alignment, which a Mat
        # built from numpy is not; an identity 1×1 max pool gives it a net-made blob, as in a model.
        layers = [("Pooling", f"copy_{b}", [b], [f"{b}_c"], "0=0 1=1 2=1") for b in bottoms]
        bottoms = [f"{b}_c" for b in bottoms]
    text = _param(list(inputs), [*layers, (type_, "det", bottoms, ["y"], params)])
    ours, theirs = _run_both(tmp_path, text, inputs, ["y"])
    assert_same_detections(ours["y"], theirs["y"], f"{type_} {params}")
    return ours["y"]


@pytest.mark.parametrize(
    "params",
    ["0=6 1=0.45 2=100 3=50 4=0.3", "0=6 1=0.3 2=8 3=20 4=0.2", "0=6 1=0.6 2=400 3=400 4=0.05"],
)
def test_detection_output_caffe(tmp_path, params):
    y = _detect(tmp_path, "DetectionOutput", params, _ssd_inputs(300, 6))
    assert len(y) >= 5, "the inputs should yield detections"


def test_detection_output_mxnet(tmp_path):
    y = _detect(tmp_path, "DetectionOutput", "0=-233 1=0.45 4=0.3 5=0.1 6=0.1 7=0.2 8=0.2", _ssd_inputs(200, 5, True))
    assert len(y) >= 5


def test_detection_output_empty(tmp_path):
    y = _detect(tmp_path, "DetectionOutput", "0=6 4=0.99", _ssd_inputs(100, 6))
    assert y.shape == (0,)


def _yolo_head(num_box, num_class, h, w, hot=0.03, v3=False):
    # Seeded by the shape, not the module RNG: the number of objects must not depend on which
    # tests ran before.
    rng = np.random.default_rng(num_box * 10007 + num_class * 101 + h * 13 + w)
    x = rng.normal(size=(num_box, 5 + num_class, h, w)).astype(np.float32)
    x[:, 4] = -6.0
    objects = rng.uniform(size=(num_box, h, w)) < hot
    x[:, 4][objects] = rng.uniform(1.0, 5.0, size=objects.sum())
    x[:, 5:] *= 3.0
    return x.reshape(num_box * (5 + num_class), h, w)


_BIASES = "-23304=6,1.08,1.19,3.42,4.41,6.63,11.38"


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("biases", [_BIASES, "-23304=6,1,1,3,4,6,11"])
def test_yolo_detection_output(tmp_path, heads, biases):
    inputs = {f"h{i}": _yolo_head(3, 4, 9 + 4 * i, 11) for i in range(heads)}
    y = _detect(tmp_path, "YoloDetectionOutput", f"0=4 1=3 2=0.2 3=0.45 {biases}", inputs)
    assert y.ndim == 2 and len(y) >= 5


def test_yolo_detection_output_nothing_found(tmp_path):
    # ncnn then returns its first input with the class scores softmaxed in place.
    x = _yolo_head(3, 4, 6, 6, hot=0.0)
    text = _param(["x"], [("YoloDetectionOutput", "det", ["x"], ["y"], f"0=4 1=3 2=0.5 {_BIASES}")])
    ours, theirs = _run_both(tmp_path, text, {"x": x}, ["y"])
    assert ours["y"].shape == x.shape
    assert_close(ours["y"], theirs["y"], "YoloDetectionOutput, nothing found")


# mobilenetv2_yolov3's mask: float bit patterns written as ints (3.0, 4.0, 5.0, 0.0, 1.0, 2.0)
_V3 = (
    "0=4 1=3 -23304=12,10,14,23,27,37,58,81,82,135,169,344,319 "
    "-23305=6,1077936128,1082130432,1084227584,0,1065353216,1073741824 -23306=2,32.0,16.0"
)


@pytest.mark.parametrize("threshold", [0.3, 0.6])
def test_yolov3_detection_output(tmp_path, threshold):
    inputs = {"h0": _yolo_head(3, 4, 7, 9, hot=0.1), "h1": _yolo_head(3, 4, 14, 18, hot=0.05)}
    y = _detect(tmp_path, "Yolov3DetectionOutput", f"{_V3} 2={threshold} 3=0.45", inputs, copy_inputs=True)
    assert len(y) >= 5


def test_yolov3_float_mask(tmp_path):
    params = "0=4 1=3 2=0.3 -23304=12,10,14,23,27,37,58,81,82,135,169,344,319 -23305=3,5.0,1.0,2.0 -23306=1,16.0"
    y = _detect(tmp_path, "Yolov3DetectionOutput", params, {"h0": _yolo_head(3, 4, 7, 9, hot=0.1)}, copy_inputs=True)
    assert len(y) >= 3


def test_yolov3_empty(tmp_path):
    y = _detect(tmp_path, "Yolov3DetectionOutput", f"{_V3} 2=0.3", {"h0": _yolo_head(3, 4, 7, 9, hot=0.0)}, True)
    assert y.shape == (0,)


def test_yolov3_rejects_bad_mask():
    text = _param(
        ["x"], [("Yolov3DetectionOutput", "det", ["x"], ["y"], "0=4 1=3 -23304=4,1,2,3,4 -23305=3,0,1,2 -23306=1,8.0")]
    )
    with pytest.raises(ncnnq.Error, match="mask"):
        ncnnq.Net(ncnnq.Model.from_bytes(text.encode()))


# ---------------------------------------------------------------------------------------------
# Benchmark architectures (random weights): each of this file's layers inside the real network,
# fed the blobs real ncnn computed for it; then the whole network where the engine has every layer.

_ARCHS = {
    "mobilenet_ssd": ("PriorBox", "DetectionOutput"),
    "squeezenet_ssd": ("PriorBox", "DetectionOutput"),
    "mobilenet_yolo": ("YoloDetectionOutput",),
    "yolov4-tiny": ("Yolov3DetectionOutput",),
    "mobilenetv2_yolov3": ("Yolov3DetectionOutput",),
    "vision_transformer": ("LayerNorm", "MultiHeadAttention", "Gemm"),
}
_DETECTORS = {"DetectionOutput", "YoloDetectionOutput", "Yolov3DetectionOutput"}


def _benchmark_model(shared, tmp_path, stem):
    from reference import input_shape

    model = ncnnq.Model.load(shared / "benchmark-params" / f"{stem}.param").with_random_weights(seed=11)
    param, bin_path = tmp_path / f"{stem}.param", tmp_path / f"{stem}.bin"
    model.save(param, bin_path)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=input_shape(model, stem)).astype(np.float32)
    return model, param, bin_path, {model.inputs[0]: x}


def _sub_model(model, layers) -> ncnnq.Model:
    """The given layers of `model` behind Input layers for the blobs they read from outside."""
    produced = {t for layer in layers for t in layer.tops}
    external = [b for layer in layers for b in layer.bottoms if b not in produced]
    external = list(dict.fromkeys(external))
    lines = {line.split()[1]: line for line in model.param_text().splitlines()[2:]}
    text = _param(external, [])
    body = [lines[layer.name] for layer in layers]
    head, rest = text.split("\n", 2)[:2], text.split("\n", 2)[2]
    blobs = len(external) + len(produced)
    text = f"{head[0]}\n{len(external) + len(layers)} {blobs}\n{rest}" + "\n".join(body) + "\n"
    sub = ncnnq.Model.from_bytes(text.encode()).with_random_weights(0)
    for layer in layers:
        for name, values in layer.weights.items():
            sub.layer(layer.name).set_weight(name, values)
    return sub, external


@pytest.mark.parametrize("stem", list(_ARCHS))
def test_layers_inside_benchmark_architecture(shared, tmp_path, stem):
    model, param, bin_path, inputs = _benchmark_model(shared, tmp_path, stem)
    # Two of each type keep the transformer affordable; the detection heads are all taken.
    per_type: dict[str, int] = {}
    layers = []
    for layer in model.layers:
        if layer.type in _ARCHS[stem] and per_type.get(layer.type, 0) < (2 if stem == "vision_transformer" else 99):
            per_type[layer.type] = per_type.get(layer.type, 0) + 1
            layers.append(layer)
    sub, external = _sub_model(model, layers)
    tops = [t for layer in layers for t in layer.tops]
    theirs = run_ncnn(param, bin_path, inputs, external + tops)
    ours = ncnnq.Net(sub).run({b: theirs[b] for b in external}, tops)
    for layer in layers:
        for t in layer.tops:
            if layer.type in _DETECTORS:
                assert_same_detections(ours[t], theirs[t], f"{stem} {layer.name}")
                print(f"{stem}: {layer.name} gives {ours[t].shape}")
            else:
                assert_close(ours[t], theirs[t], f"{stem} {layer.name}")
    if "DetectionOutput" in _ARCHS[stem]:
        _ssd_head_with_confident_scores(tmp_path, model, theirs)


def _ssd_head_with_confident_scores(tmp_path, model, blobs):
    """Random weights leave SSD's class scores near uniform (nothing detected); sharpen them so
    the real priors and box offsets give a realistic number of detections."""
    layer = next(layer for layer in model.layers if layer.type == "DetectionOutput")
    sub, external = _sub_model(model, [layer])
    loc, conf, prior = (blobs[b] for b in layer.bottoms)
    num_class = layer.param(0)
    logits = np.log(conf.reshape(-1, num_class) + 1e-12) * 40.0
    sharp = np.exp(logits - logits.max(1, keepdims=True))
    conf = (sharp / sharp.sum(1, keepdims=True)).astype(np.float32).ravel()
    fed = dict(zip(external, (loc, conf, prior)))
    param, bin_path = tmp_path / "head.param", tmp_path / "head.bin"
    sub.save(param, bin_path)
    out = layer.tops[0]
    ours = ncnnq.Net(sub).run(fed, [out])[out]
    theirs = run_ncnn(param, bin_path, fed, [out])[out]
    assert_same_detections(ours, theirs, f"{layer.name} with sharpened scores")
    print(f"{layer.name} with sharpened scores gives {ours.shape}")
    assert len(ours) >= 5


@pytest.mark.parametrize("stem", list(_ARCHS))
def test_benchmark_architecture_end_to_end(shared, tmp_path, stem):
    try:  # weightless first: an unsupported layer type is reported before weights are needed
        ncnnq.Net(ncnnq.Model.load(shared / "benchmark-params" / f"{stem}.param"))
    except ncnnq.UnsupportedLayerError as e:
        pytest.skip(f"needs layers from other branches: {e}")
    except ncnnq.Error:
        pass
    model, param, bin_path, inputs = _benchmark_model(shared, tmp_path, stem)
    try:
        net = ncnnq.Net(param, bin_path)
    except ncnnq.UnsupportedLayerError as e:
        pytest.skip(f"needs layers from other branches: {e}")
    outputs = model.outputs
    ours = net.run(inputs, outputs)
    theirs = run_ncnn(param, bin_path, inputs, outputs)
    for name in outputs:
        if any(layer.type in _DETECTORS for layer in model.layers if name in layer.tops):
            assert_same_detections(ours[name], theirs[name], f"{stem} {name}")
        else:
            assert_close(ours[name], theirs[name], f"{stem} {name}")
