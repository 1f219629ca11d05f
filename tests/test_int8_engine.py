"""The int8 engine against real ncnn running the same int8 files.

One-layer models cover every int8 form (Convolution / ConvolutionDepthWise flags 1, 2, 101, 102,
groups, pads, strides, dilations, activations; InnerProduct on 1-D, 2-D and 3-D inputs; float
weights quantized at load); small graphs cover requantized int8 blobs flowing through Split into
int8 consumers with their own input scales. Whole models: the reference files ncnn2int8 wrote,
on shared images, and the benchmark int8 architectures with seeded random weights.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import ncnnq
from reference import agreement, assert_close, input_shape, run_ncnn

# ---------------------------------------------------------------------------------------------
# helpers


def save_model(model, tmp_path: Path, name: str = "m") -> tuple[Path, Path]:
    param, bin_path = tmp_path / f"{name}.param", tmp_path / f"{name}.bin"
    model.save(param, bin_path)
    return param, bin_path


def one_layer(layer: str, shape: tuple[int, ...], seed: int = 1) -> ncnnq.Model:
    """An Input plus one layer reading blob ``data`` and writing ``out``, random weights."""
    dims = {1: "0={0}", 2: "0={1} 1={0}", 3: "0={2} 1={1} 2={0}"}[len(shape)].format(*shape)
    text = f"7767517\n2 2\nInput in 0 1 data {dims}\n{layer}\n"
    return ncnnq.Model.from_bytes(text.encode()).with_random_weights(seed)


def compare_int8(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    """Requantized outputs (ncnn extracts int8 blobs as their integer values): at most 1 LSB
    apart, and that only at a rounding boundary (a tiny fraction of the elements)."""
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs ncnn {theirs.shape}"
    assert np.all(np.abs(ours) <= 127) and np.all(ours == np.round(ours)), f"{what}: not int8 values"
    diff = np.abs(ours.astype(np.float64) - theirs)
    assert diff.max(initial=0) <= 1, f"{what}: max difference {diff.max()} LSB"
    assert np.count_nonzero(diff) <= max(2, diff.size // 500), f"{what}: {np.count_nonzero(diff)} of {diff.size} differ"
    assert np.count_nonzero(theirs) > diff.size // 10, f"{what}: output almost all zero, the test proves little"


def run_both(param: Path, bin_path: Path, inputs: dict[str, np.ndarray], outputs: list[str], threads: int = 1):
    ours = ncnnq.Net(param, bin_path, threads=threads).run(inputs, outputs)
    theirs = run_ncnn(param, bin_path, inputs, outputs, threads=threads)
    return ours, theirs


def check_one_layer(tmp_path: Path, layer: str, shape: tuple[int, ...], requantized: bool, seed: int = 1,
                    scale: float = 1.0) -> None:
    param, bin_path = save_model(one_layer(layer, shape, seed), tmp_path)
    x = np.random.default_rng(seed).uniform(-scale, scale, size=shape).astype(np.float32)
    ours, theirs = run_both(param, bin_path, {"data": x}, ["out"])
    if requantized:
        compare_int8(ours["out"], theirs["out"], layer)
    else:
        assert_close(ours["out"], theirs["out"], layer)


ACTIVATIONS = ["", "9=1", "9=2 -23310=1,0.1", "9=3 -23310=2,-0.5,0.8", "9=4", "9=5", "9=6 -23310=2,0.2,0.5"]

# ---------------------------------------------------------------------------------------------
# one layer


@pytest.mark.parametrize("flag", [1, 2, 101, 102])
@pytest.mark.parametrize("geometry", [
    "1=1",                          # 1x1 (dense GEMM source)
    "1=3 4=1",                      # 3x3 pad 1
    "1=3 3=2 4=1",                  # stride 2
    "1=3 11=5 3=1 13=2 4=1 15=2 14=0 16=3",  # rectangular kernel, mixed stride and pads
    "1=3 2=2 4=2",                  # dilation
    "1=3 4=-233",                   # SAME_UPPER
    "1=2 3=2 4=-234",               # SAME_LOWER
    "1=7 3=2 4=3",                  # 7x7 stem
])
def test_convolution_forms(tmp_path, flag, geometry):
    c, num_output = 13, 24
    k = int(geometry.split()[0].split("=")[1])
    kh = next((int(t.split("=")[1]) for t in geometry.split() if t.startswith("11=")), k)
    layer = f"Convolution conv 1 1 data out 0={num_output} {geometry} 5=1 6={num_output * c * k * kh} 8={flag} 9=1"
    check_one_layer(tmp_path, layer, (c, 19, 23), flag > 100)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("flag", [1, 101])
def test_convolution_activations(tmp_path, act, flag):
    layer = f"Convolution conv 1 1 data out 0=16 1=3 4=1 5=1 6={16 * 8 * 9} 8={flag} {act}"
    check_one_layer(tmp_path, layer, (8, 12, 17), flag > 100)


@pytest.mark.parametrize("layer", [
    "Convolution conv 1 1 data out 0=16 1=3 4=1 5=1 6=1152 8=101 9=3 -23310=2,0,6",
    "ConvolutionDepthWise dw 1 1 data out 0=8 1=3 4=1 5=1 6=72 7=8 8=101 9=3 -23310=2,0,6",
    "Convolution conv 1 1 data out 0=16 1=3 4=1 5=1 6=1152 9=3 -23310=2,0,6",
])
def test_clip_params_written_as_ints(tmp_path, layer):
    """ncnn reads an all-int activation_params array (ReLU6 as ``-23310=2,0,6``) by value."""
    check_one_layer(tmp_path, layer, (8, 10, 12), "8=101" in layer, scale=10.0)


@pytest.mark.parametrize("flag", [1, 101])
def test_convolution_without_bias_and_with_pad_value(tmp_path, flag):
    layer = f"Convolution conv 1 1 data out 0=10 1=3 4=1 5=0 6={10 * 5 * 9} 8={flag} 18=0.0"
    check_one_layer(tmp_path, layer, (5, 9, 11), flag > 100)


def test_convolution_of_a_flat_blob_runs_as_inner_product(tmp_path):
    """A 1-D blob through a 1×1 int8 Convolution is an int8 InnerProduct (ncnn's suggested
    rewrite; its own int8 compatibility path returns a (20, 1, 8) blob of zeros here). The same
    .bin serves both layers: weight, bias, weight scales, input scale."""
    conv = "Convolution conv 1 1 data out 0=20 1=1 5=1 6=1280 8=2 9=1"
    param, bin_path = save_model(one_layer(conv, (64,)), tmp_path)
    ip_param = tmp_path / "ip.param"
    ip_param.write_text(
        param.read_text().replace("Convolution ", "InnerProduct ").replace("1=1 5=1 6=1280", "1=1 2=1280")
    )
    x = np.random.default_rng(2).uniform(-1, 1, size=(64,)).astype(np.float32)
    ours = ncnnq.Net(param, bin_path).run({"data": x}, ["out"])["out"]
    theirs = run_ncnn(ip_param, bin_path, {"data": x}, ["out"])["out"]
    assert_close(ours, theirs, conv)


@pytest.mark.parametrize("flag", [1, 2, 101, 102])
@pytest.mark.parametrize("channels", [8, 13, 32])
@pytest.mark.parametrize("geometry", ["1=3 4=1", "1=3 3=2 4=1", "1=5 4=2", "1=3 2=2 4=2", "1=3 11=1 4=1 14=0 16=0"])
def test_depthwise_forms(tmp_path, flag, channels, geometry):
    k = int(geometry.split()[0].split("=")[1])
    kh = 1 if "11=1" in geometry else k
    layer = (f"ConvolutionDepthWise dw 1 1 data out 0={channels} {geometry} 5=1 6={channels * k * kh} "
             f"7={channels} 8={flag} 9=1")
    check_one_layer(tmp_path, layer, (channels, 15, 26), flag > 100)


def numpy_grouped_int8_conv(model, layer_name: str, x: np.ndarray, group: int, pad: int) -> np.ndarray:
    """runtime-int8.md §2/§3 written out in numpy (3×3, stride 1, float output, leaky 0.1): the
    truth where ncnn itself is wrong."""
    w = model.layer(layer_name).weights
    s_in = float(w["bottom_int8_scale"][0])
    s_w = np.asarray(w["weight_int8_scale"] if "weight_int8_scale" in w else w["weight_int8_scales"], np.float32)
    c = x.shape[0]
    v = x.astype(np.float32) * np.float32(s_in)
    q = np.clip(np.trunc(v) + np.where(np.abs(v - np.trunc(v)) >= 0.5, np.sign(v), 0), -127, 127)
    q = np.pad(q, ((0, 0), (pad, pad), (pad, pad)))
    num_output = w["bias"].size
    wq = np.asarray(w["weight"], np.int64).reshape(group, num_output // group, c // group, 3, 3)
    windows = np.lib.stride_tricks.sliding_window_view(q.astype(np.int64), (3, 3), axis=(1, 2))
    acc = np.concatenate([np.einsum("ihwyx,oiyx->ohw", windows[g * (c // group):(g + 1) * (c // group)], wq[g])
                          for g in range(group)])
    scale = np.where(s_w == 0, 0, 1 / (np.float32(s_in) * s_w)).astype(np.float32)
    per_output = np.repeat(scale, num_output // s_w.size) if s_w.size < num_output else scale
    y = acc.astype(np.float32) * per_output[:, None, None] + np.asarray(w["bias"], np.float32)[:, None, None]
    return np.where(y > 0, y, y * np.float32(0.1))


@pytest.mark.parametrize("flag", [1, 2, 101, 102])
@pytest.mark.parametrize("groups", [(16, 32, 4), (12, 6, 3), (16, 24, 2)])
def test_grouped_convolution(tmp_path, flag, groups):
    c, num_output, group = groups
    layer = (f"ConvolutionDepthWise gc 1 1 data out 0={num_output} 1=3 4=1 5=1 "
             f"6={num_output * (c // group) * 9} 7={group} 8={flag} 9=2 -23310=1,0.1")
    if flag > 100 or (num_output // group) % 8:
        check_one_layer(tmp_path, layer, (c, 11, 14), flag > 100)
        return
    # ncnn 1.0.20261020 returns uninitialized memory for grouped int8 with float output when the
    # group's output count is a multiple of 8 (its pack-8 path); check against the definition.
    model = one_layer(layer, (c, 11, 14))
    x = np.random.default_rng(1).uniform(-1, 1, size=(c, 11, 14)).astype(np.float32)
    ours = ncnnq.Net(model).run({"data": x}, ["out"])["out"]
    assert_close(ours, numpy_grouped_int8_conv(model, "gc", x, group, 1), layer)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_depthwise_activations(tmp_path, act):
    layer = f"ConvolutionDepthWise dw 1 1 data out 0=16 1=3 4=1 5=1 6=144 7=16 8=101 {act}"
    check_one_layer(tmp_path, layer, (16, 10, 12), True)


@pytest.mark.parametrize("shape", [(200,), (7, 30), (3, 6, 11)])
@pytest.mark.parametrize("act", ["", "9=1", "9=4"])
@pytest.mark.parametrize("bias", [0, 1])
def test_inner_product(tmp_path, shape, act, bias):
    num_input = shape[-1] if len(shape) == 2 else int(np.prod(shape))
    layer = f"InnerProduct fc 1 1 data out 0=37 1={bias} 2={37 * num_input} 8=1 {act}"
    check_one_layer(tmp_path, layer, shape, False)


def write_float_weight_model(tmp_path: Path, layer_type: str) -> tuple[Path, Path, tuple[int, ...]]:
    """An int8 layer whose .bin stores float32 weights: ncnn quantizes them at load with the
    stored scales (formats.md §3.7), and so must we."""
    rng = np.random.default_rng(3)
    c, out = 8, 12
    if layer_type == "Convolution":
        layer = f"Convolution conv 1 1 data out 0={out} 1=3 4=1 5=1 6={out * c * 9} 8=101"
        weight = rng.uniform(-0.3, 0.3, size=out * c * 9)
        scales = [rng.uniform(300, 500, size=out)]
        shape = (c, 9, 10)
    elif layer_type == "ConvolutionDepthWise":
        layer = f"ConvolutionDepthWise dw 1 1 data out 0={c} 1=3 4=1 5=1 6={c * 9} 7={c} 8=1"
        weight = rng.uniform(-0.3, 0.3, size=c * 9)
        scales = [rng.uniform(300, 500, size=c)]
        shape = (c, 9, 10)
    else:
        layer = f"InnerProduct fc 1 1 data out 0={out} 1=1 2={out * 50} 8=1"
        weight = rng.uniform(-0.3, 0.3, size=out * 50)
        scales = [rng.uniform(300, 500, size=out)]
        shape = (50,)
    n_out = c if layer_type == "ConvolutionDepthWise" else out
    dims = f"0={shape[0]}" if len(shape) == 1 else f"0={shape[2]} 1={shape[1]} 2={shape[0]}"
    param = tmp_path / "f.param"
    param.write_text(f"7767517\n2 2\nInput in 0 1 data {dims}\n{layer}\n")
    arrays = [struct.pack("<I", 0) + np.asarray(weight, "<f4").tobytes(),  # tag 0: float32
              np.asarray(rng.uniform(-0.2, 0.2, size=n_out), "<f4").tobytes()]
    arrays += [np.asarray(s, "<f4").tobytes() for s in scales]
    arrays.append(np.asarray([40.0], "<f4").tobytes())  # bottom scale
    if "8=101" in layer:
        arrays.append(np.asarray([30.0], "<f4").tobytes())  # top scale
    bin_path = tmp_path / "f.bin"
    bin_path.write_bytes(b"".join(arrays))
    return param, bin_path, shape


@pytest.mark.parametrize("layer_type", ["Convolution", "ConvolutionDepthWise", "InnerProduct"])
def test_float_weights_are_quantized_at_load(tmp_path, layer_type):
    param, bin_path, shape = write_float_weight_model(tmp_path, layer_type)
    x = np.random.default_rng(4).uniform(-2, 2, size=shape).astype(np.float32)
    ours, theirs = run_both(param, bin_path, {"data": x}, ["out"])
    if layer_type == "Convolution":
        compare_int8(ours["out"], theirs["out"], layer_type)
    else:
        assert_close(ours["out"], theirs["out"], layer_type)


# ---------------------------------------------------------------------------------------------
# requantized int8 blobs between layers

CHAIN = """7767517
8 11
Input            in    0 1 data 0=21 1=17 2=8
Convolution      c1    1 1 data a 0=16 1=3 4=1 5=1 6=1152 8=101 9=1
Split            sp    1 2 a a0 a1
Convolution      c2    1 1 a0 b 0=24 1=1 5=1 6=384 8=102 9=1
ConvolutionDepthWise d3 1 1 b c 0=24 1=3 3=2 4=1 5=1 6=216 7=24 8=101 9=3 -23310=2,0,6
Convolution      c4    1 1 c out1 0=10 1=3 4=1 5=1 6=2160 8=2
ConvolutionDepthWise g5 1 1 a1 e 0=16 1=3 4=1 5=1 6=576 7=4 8=102
Convolution      c6    1 1 e out2 0=6 1=1 5=0 6=96 8=1
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_requantize_chains_through_split(tmp_path, seed):
    """Each consumer reads the producer's int8 values as is and de-scales them with its *own*
    input scale (the random scales differ between producer and consumer)."""
    model = ncnnq.Model.from_bytes(CHAIN.encode()).with_random_weights(seed)
    param, bin_path = save_model(model, tmp_path)
    x = np.random.default_rng(seed).uniform(-1, 1, size=(8, 17, 21)).astype(np.float32)
    blobs = ["a", "b", "c", "e", "out1", "out2"]
    ours, theirs = run_both(param, bin_path, {"data": x}, blobs)
    for name in ["a", "b", "c", "e"]:
        compare_int8(ours[name], theirs[name], name)
    for name in ["out1", "out2"]:
        assert_close(ours[name], theirs[name], name)


def test_int8_blob_into_a_float_layer_is_an_error(tmp_path):
    text = """7767517
3 3
Input       in   0 1 data 0=8 1=8 2=4
Convolution c1   1 1 data a 0=8 1=1 5=1 6=32 8=101
ReLU        r    1 1 a out
"""
    model = ncnnq.Model.from_bytes(text.encode()).with_random_weights(1)
    net = ncnnq.Net(model)
    with pytest.raises(ncnnq.LayerError, match="int8"):
        net.run({"data": np.ones((4, 8, 8), np.float32)}, ["out"])


def test_int8_layers_run_on_several_threads_alike(tmp_path):
    model = ncnnq.Model.from_bytes(CHAIN.encode()).with_random_weights(5)
    x = np.random.default_rng(5).uniform(-1, 1, size=(8, 17, 21)).astype(np.float32)
    one = ncnnq.Net(model, threads=1).run({"data": x}, ["out1", "out2", "c"])
    three = ncnnq.Net(model, threads=3).run({"data": x}, ["out1", "out2", "c"])
    for name in one:
        np.testing.assert_array_equal(one[name], three[name])


# googlenet's inception branches on small maps: 1×1 convolutions of a float blob, whose GEMM
# quantizes the input as it packs on several threads (one of them into a Concat, one requantized
# into a padded 3×3), beside one that runs on a single row panel.
SMALL_MAPS = """7767517
8 11
Input       in   0 1 data 0={w} 1={w} 2=96
Split       sp   1 4 data d1 d2 d3 d4
Convolution a    1 1 d1 a 0=24 1=1 5=1 6=2304 8=2 9=1
Convolution b    1 1 d2 b 0=48 1=1 5=1 6=4608 8=102 9=1
Convolution b2   1 1 b b2 0=16 1=3 4=1 5=1 6=6912 8=2
Convolution c    1 1 d3 c 0=40 1=1 5=1 6=3840 8=2
Convolution e    1 1 d4 e 0=8 1=1 6=768 8=2
Concat      cat  2 1 a b2 out
"""


@pytest.mark.parametrize("w", [14, 7])
def test_small_map_1x1_layers_give_the_same_bytes_on_any_thread_count(w):
    model = ncnnq.Model.from_bytes(SMALL_MAPS.format(w=w).encode()).with_random_weights(3)
    x = np.random.default_rng(w).uniform(-2, 2, size=(96, w, w)).astype(np.float32)
    outs = ["out", "c", "e"]
    one = ncnnq.Net(model, threads=1).run({"data": x}, outs)
    for threads in (2, 3):
        many = ncnnq.Net(model, threads=threads).run({"data": x}, outs)
        for name in outs:
            np.testing.assert_array_equal(one[name], many[name], err_msg=f"{name} on {threads} threads")


# ---------------------------------------------------------------------------------------------
# whole models

REFERENCE_MODELS = {
    # stem: (folder, input blob, numpy shape, mean, norm)
    "squeezenet_v1.1-int8-kl": ("squeezenet_v1.1", "data", (227, 227), (104, 117, 123), (1, 1, 1)),
    "squeezenet_v1.1-int8-aciq": ("squeezenet_v1.1", "data", (227, 227), (104, 117, 123), (1, 1, 1)),
    "mnet.25-opt-int8-kl": ("mnet.25-opt", "data", (320, 320), (104, 117, 123), (1, 1, 1)),
    "nanodet_m-int8-kl": (
        "nanodet_m",
        "input.1",
        (320, 320),
        (103.53, 116.28, 123.675),
        (0.017429, 0.017507, 0.017125),
    ),
}


def bgr_tensor(path: Path, size: tuple[int, int], mean, norm) -> np.ndarray:
    """The (3, h, w) float tensor of an image: BGR, bilinear resize, (x - mean) * norm. Both
    engines get this same array, so the decoder and resize need not match ncnn's."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB").resize((size[1], size[0]), Image.BILINEAR), dtype=np.float32)
    bgr = rgb[:, :, ::-1].transpose(2, 0, 1)
    return np.ascontiguousarray(
        (bgr - np.asarray(mean, np.float32)[:, None, None]) * np.asarray(norm, np.float32)[:, None, None]
    )


def images(shared: Path, count: int) -> list[Path]:
    return sorted((shared / "imagenet-sample").glob("*.JPEG"))[:count]


def net_or_skip(param: Path, bin_path: Path | None, threads: int = 1):
    try:
        return ncnnq.Net(param, bin_path, threads=threads)
    except ncnnq.UnsupportedLayerError as e:
        pytest.skip(f"the engine lacks a layer this model needs (other branches add it): {e}")


@pytest.mark.parametrize("stem", list(REFERENCE_MODELS))
def test_reference_int8_files_match_ncnn(shared, stem):
    folder, blob, size, mean, norm = REFERENCE_MODELS[stem]
    param = shared / "reference" / folder / f"{stem}.param"
    bin_path = param.with_suffix(".bin")
    net = net_or_skip(param, bin_path)
    model = ncnnq.Model.load(param)
    outputs = model.outputs
    for image in images(shared, 3):
        x = bgr_tensor(image, size, mean, norm)
        ours = net.run({blob: x}, outputs)
        theirs = run_ncnn(param, bin_path, {blob: x}, outputs)
        for name in outputs:
            ag = agreement(ours[name], theirs[name])
            assert ag.cosine >= 0.999, f"{stem} {image.name} {name}: cosine {ag.cosine:.6f}"


@pytest.mark.slow
def test_squeezenet_int8_top1_agrees_with_ncnn_on_500_images(shared):
    from reference import make_ncnn_net, run_ncnn_net

    _, blob, size, mean, norm = REFERENCE_MODELS["squeezenet_v1.1-int8-kl"]
    param = shared / "reference" / "squeezenet_v1.1" / "squeezenet_v1.1-int8-kl.param"
    bin_path = param.with_suffix(".bin")
    # One thread each: ncnn's OpenMP threads spin at barriers, which costs seconds per image on a
    # shared machine.
    ours_net = ncnnq.Net(param, bin_path)
    theirs_net = make_ncnn_net(param, bin_path)
    paths = images(shared, 500)
    assert len(paths) == 500
    agree, worst = 0, 1.0
    for image in paths:
        x = bgr_tensor(image, size, mean, norm)
        ours = ours_net.run({blob: x}, ["prob"])["prob"]
        theirs = run_ncnn_net(theirs_net, {blob: x}, ["prob"])["prob"]
        agree += int(np.argmax(ours) == np.argmax(theirs))
        worst = min(worst, agreement(ours, theirs).cosine)
    print(f"squeezenet int8 (kl): top-1 agreement with ncnn {agree}/500, worst cosine {worst:.6f}")
    assert agree >= 495, f"top-1 agreement {agree}/500"
    assert worst >= 0.999, f"worst cosine {worst:.6f}"


BENCHMARK_INT8 = ["squeezenet_int8", "mobilenet_int8", "resnet18_int8", "googlenet_int8", "resnet50_int8",
                  "vgg16_int8", "squeezenet_ssd_int8", "mobilenet_ssd_int8"]


@pytest.mark.parametrize("stem", BENCHMARK_INT8)
def test_benchmark_int8_architectures_match_ncnn(shared, tmp_path, stem):
    model = ncnnq.Model.load(shared / "benchmark-params" / f"{stem}.param").with_random_weights(1)
    param, bin_path = save_model(model, tmp_path)
    net = net_or_skip(param, bin_path)
    x = np.random.default_rng(0).uniform(-1, 1, size=input_shape(model, stem)).astype(np.float32)
    blob = model.inputs[0]
    ours = net.run({blob: x}, model.outputs)
    theirs = run_ncnn(param, bin_path, {blob: x}, model.outputs)
    for name in model.outputs:
        ag = agreement(ours[name], theirs[name])
        assert ag.cosine >= 0.999, f"{stem} {name}: cosine {ag.cosine:.6f}"
