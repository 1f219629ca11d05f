"""Shape, data-movement, resize, reduction and pooling layers of the fp32 engine against real ncnn.

Each case is a one-layer model (text param + seeded random weights) run by ncnn and by ncnnq.Net.
Layers that only move data must agree bit for bit; the others within `assert_close`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ncnnq
from reference import assert_close, make_ncnn_net, ncnn_module

RNG_SEED = 20240601


def _rand(shape, lo=-1.0, hi=1.0, seed=0) -> np.ndarray:
    return np.random.default_rng(RNG_SEED + seed).uniform(lo, hi, size=shape).astype(np.float32)


def _param_text(layers: list[str], inputs: list[str]) -> str:
    lines = [f"Input in_{name} 0 1 {name}" for name in inputs] + layers
    blobs: set[str] = set()
    for line in lines:
        fields = line.split()
        nb, nt = int(fields[2]), int(fields[3])
        blobs.update(fields[4 : 4 + nb + nt])
    return f"7767517\n{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n"


def _save(tmp_path: Path, layers: list[str], inputs: list[str], seed: int = 7) -> tuple[Path, Path]:
    model = ncnnq.Model.from_bytes(_param_text(layers, inputs).encode()).with_random_weights(seed)
    param, bin_path = tmp_path / "m.param", tmp_path / "m.bin"
    model.save(param, bin_path)
    return param, bin_path


def run_ncnn(param: Path, bin_path: Path, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    """Like reference.run_ncnn, but feeds ncnn Mats with its own channel alignment.

    ncnn.Mat(numpy) keeps numpy's dense channel step (cstep = w*h); ncnn layers that copy whole
    channel ranges assume the aligned step of a Mat they allocate (e.g. Slice on axis 0), so such
    an input reads the wrong elements. clone() re-allocates with ncnn's own layout.
    """
    ncnn = ncnn_module()
    ex = make_ncnn_net(param, bin_path).create_extractor()
    ex.set_light_mode(False)
    for name, value in inputs.items():
        assert ex.input(name, ncnn.Mat(np.ascontiguousarray(value, dtype=np.float32)).clone()) == 0, name
    result = {}
    for name in outputs:
        ret, mat = ex.extract(name)
        assert ret == 0, f"ncnn failed to extract {name} ({ret})"
        result[name] = np.array(mat, dtype=np.float32).copy()
    return result


def check(tmp_path: Path, layers: list[str], inputs: dict[str, np.ndarray], outputs: list[str], exact: bool) -> dict:
    """Runs the model in ncnn and ncnnq and compares every output; returns ours."""
    param, bin_path = _save(tmp_path, layers, list(inputs))
    ours = ncnnq.Net(param, bin_path).run(inputs, outputs)
    theirs = run_ncnn(param, bin_path, inputs, outputs)
    for name in outputs:
        assert ours[name].shape == theirs[name].shape, f"{name}: shape {ours[name].shape} vs ncnn {theirs[name].shape}"
        if exact:
            assert np.array_equal(ours[name], theirs[name]), f"{name}: values differ from ncnn"
        else:
            assert_close(ours[name], theirs[name], name)
    return ours


def one(tmp_path, layer_type: str, params: str, x: np.ndarray, exact: bool = True, tops: int = 1) -> dict:
    outs = [f"y{i}" for i in range(tops)]
    line = f"{layer_type} op 1 {tops} x {' '.join(outs)} {params}"
    return check(tmp_path, [line], {"x": x}, outs, exact)


SHAPES = {1: (23,), 2: (7, 9), 3: (6, 5, 7), 4: (4, 3, 5, 6)}


# ---------------------------------------------------------------------------------------------
# Slice

SLICE_CASES = [
    (1, "-23300=3,5,-233,-233 1=0", 3),
    (1, "-23302=2,4,-8", 3),
    (2, "-23300=2,3,-233 1=0", 2),
    (2, "-23300=3,2,-233,-233 1=1", 3),
    (2, "-23300=2,-233,-233 1=-1", 2),
    (2, "-23302=1,-3 1=1", 2),
    (3, "-23300=3,1,-233,-233 1=0", 3),
    (3, "-23300=2,2,-233 1=1", 2),
    (3, "-23300=2,-233,-233 1=2", 2),
    (3, "-23302=2,1,-2 1=-2", 3),
    (3, "-23300=2,3,-233 1=-3", 2),
    (4, "-23300=2,1,-233 1=0", 2),
    (4, "-23300=3,-233,-233,-233 1=1", 3),
    (4, "-23300=2,2,-233 1=2", 2),
    (4, "-23300=2,-233,-233 1=3", 2),
    (4, "-23302=1,-1 1=-1", 2),
    (4, "-23302=2,1,3 1=-4", 3),
    (3, "-23300=2,1,-233 -23302=1,4 1=0", 2),  # indices win over slices
]


@pytest.mark.parametrize("dims,params,tops", SLICE_CASES)
def test_slice(tmp_path, dims, params, tops):
    one(tmp_path, "Slice", params, _rand(SHAPES[dims]), tops=tops)


# ---------------------------------------------------------------------------------------------
# Crop

CROP_CASES = [
    # offsets with explicit sizes, -233 (the rest) and far-end offsets
    (1, "0=3 3=10"),
    (1, "0=2 3=-233"),
    (1, "0=2 6=5 3=-233"),
    (2, "0=1 1=2 3=4 4=3"),
    (2, "0=2 1=1 3=-233 4=-233 7=2"),
    (3, "0=1 1=1 2=1 3=3 4=2 5=-233"),
    (3, "0=1 6=2 1=1 7=1 2=1 8=2 3=-233 4=-233 5=-233"),
    (3, "2=2 3=-233 4=-233 5=3"),
    (4, "0=1 1=1 13=1 2=1 3=2 4=2 14=2 5=2"),
    (4, "0=2 6=1 1=1 7=1 13=1 15=1 2=1 8=1 3=-233 4=-233 14=-233 5=-233"),
    # numpy-style starts / ends / axes
    (1, "-23309=1,3 -23310=1,-4"),
    (1, "-23309=1,-233 -23310=1,10 -23311=1,0"),
    (1, "-23309=1,2 -23310=1,0"),  # an end of 0 means the end
    (2, "-23309=2,1,2 -23310=2,-1,-233"),
    (2, "-23309=1,2 -23310=1,6 -23311=1,-1"),
    (3, "-23309=1,2 -23310=1,5 -23311=1,0"),
    (3, "-23309=2,1,-4 -23310=2,4,-233 -23311=2,1,2"),
    (3, "-23309=3,1,0,2 -23310=3,-1,3,-2"),
    (3, "-23309=1,-233 -23310=1,2 -23311=1,-2"),
    (4, "-23309=2,1,1 -23310=2,3,-233 -23311=2,0,1"),
    (4, "-23309=4,1,0,1,2 -23310=4,-233,2,4,5"),
    (4, "-23309=1,2 -23310=1,-1 -23311=1,-1"),
]


@pytest.mark.parametrize("dims,params", CROP_CASES)
def test_crop(tmp_path, dims, params):
    one(tmp_path, "Crop", params, _rand(SHAPES[dims]))


CROP_REF_CASES = [
    ((23,), (9,), "0=4"),
    ((23,), (2, 9), "0=4"),
    ((7, 9), (3, 4), "0=2 1=3"),
    ((7, 9), (2, 3, 4), "0=1 1=1"),
    ((6, 5, 7), (3, 2, 4), "0=1 1=2 2=2"),
    ((6, 5, 7), (2, 4), "0=3 1=1"),
    ((6, 5, 7), (5,), "0=1 1=2"),
    ((4, 3, 5, 6), (2, 2, 3, 4), "0=1 1=1 13=1 2=1"),
    ((4, 3, 5, 6), (3, 3, 4), "0=1 1=2 13=2"),
]


@pytest.mark.parametrize("shape,ref,params", CROP_REF_CASES)
def test_crop_reference_size(tmp_path, shape, ref, params):
    layers = [f"Crop op 2 1 x r y {params}"]
    check(tmp_path, layers, {"x": _rand(shape), "r": _rand(ref, seed=1)}, ["y"], exact=True)


# ---------------------------------------------------------------------------------------------
# Padding

PADDING_CASES = [
    (1, "2=2 3=3 5=0.5"),
    (1, "2=2 3=1 4=1"),
    (1, "2=3 3=2 4=2"),
    (2, "0=1 1=2 2=3 3=1 5=-2.0"),
    (2, "0=2 1=1 2=1 3=2 4=1"),
    (2, "0=2 1=3 2=3 3=2 4=2"),
    (3, "0=1 1=1 2=2 3=0 5=1.5"),
    (3, "0=1 2=1 7=2 8=1 5=0.25"),
    (3, "0=2 1=1 2=1 3=2 7=1 8=2 4=1"),
    (3, "0=1 1=2 2=2 3=1 7=2 8=3 4=2"),
    (3, "7=3 8=1"),
    (4, "0=1 1=1 2=1 3=1 7=1 8=2 5=-1.0"),
    (4, "0=1 2=2 7=2 8=1 4=1"),
    (4, "1=1 3=1 7=2 8=2 4=2"),
]


@pytest.mark.parametrize("dims,params", PADDING_CASES)
def test_padding(tmp_path, dims, params):
    one(tmp_path, "Padding", params, _rand(SHAPES[dims]))


@pytest.mark.parametrize(
    "dims,params",
    [(3, "0=1 1=1 2=1 3=2 7=1 8=2 6=9"), (3, "2=1 3=1 6=6"), (4, "0=1 2=1 7=1 8=1 6=4")],
)
def test_padding_per_channel_values(tmp_path, dims, params):
    one(tmp_path, "Padding", params, _rand(SHAPES[dims]))


# ---------------------------------------------------------------------------------------------
# Reshape, Flatten, Squeeze, ExpandDims

RESHAPE_CASES = [
    (1, "0=23"),
    (1, "0=-1"),
    (3, "0=-1"),
    (3, "0=35 1=-1"),
    (3, "0=0 1=-1"),
    (2, "0=3 1=-1 2=21"),
    (3, "0=0 1=0 2=-1"),
    (3, "0=-1 1=0 2=6"),
    (3, "0=7 1=5 11=2 2=3"),
    (4, "0=0 1=-1 11=3 2=0"),
    (4, "0=-1 1=6"),
    (4, "0=18 1=0 2=-1"),
    (2, "0=9 1=7 11=1 2=1"),
]


@pytest.mark.parametrize("dims,params", RESHAPE_CASES)
def test_reshape(tmp_path, dims, params):
    one(tmp_path, "Reshape", params, _rand(SHAPES[dims]))


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_flatten(tmp_path, dims):
    one(tmp_path, "Flatten", "", _rand(SHAPES[dims]))


SQUEEZE_CASES = [
    ((1,), "0=1"),
    ((1, 5), "1=1"),
    ((5, 1), "0=1 1=1"),
    ((1, 1, 5), "0=1 1=1 2=1"),
    ((1, 4, 1), "0=1 2=1"),
    ((3, 1, 4), "1=1 2=1"),
    ((1, 3, 1, 4), "2=1 11=1"),
    ((1, 1, 1, 4), "1=1 11=1 2=1"),
    ((2, 1, 1, 1), "0=1 1=1 11=1"),
    ((1, 4, 1), "-23303=1,0"),
    ((1, 4, 1), "-23303=2,-1,0"),
    ((3, 1, 1, 4), "-23303=2,1,-2"),
    ((1, 1, 1, 1), "-23303=4,0,1,2,3"),
    ((3, 4, 5), "0=1 1=1 2=1"),
]


@pytest.mark.parametrize("shape,params", SQUEEZE_CASES)
def test_squeeze(tmp_path, shape, params):
    one(tmp_path, "Squeeze", params, _rand(shape))


EXPAND_CASES = [
    ((5,), "-23303=1,0"),
    ((5,), "-23303=1,1"),
    ((5,), "-23303=1,-1"),
    ((5,), "-23303=2,0,1"),
    ((5,), "-23303=2,0,2"),
    ((5,), "-23303=3,0,1,3"),
    ((5,), "-23303=3,1,2,3"),
    ((3, 5), "-23303=1,0"),
    ((3, 5), "-23303=1,2"),
    ((3, 5), "-23303=2,0,2"),
    ((3, 5), "-23303=2,1,3"),
    ((3, 5), "-23303=2,-1,-3"),
    ((2, 3, 5), "-23303=1,1"),
    ((2, 3, 5), "-23303=1,-1"),
    # the old flags are ignored by ncnn: identity
    ((3, 5), "0=1 1=1"),
]


@pytest.mark.parametrize("shape,params", EXPAND_CASES)
def test_expanddims(tmp_path, shape, params):
    one(tmp_path, "ExpandDims", params, _rand(shape))


# ---------------------------------------------------------------------------------------------
# Permute

PERMUTE_CASES = [(2, t) for t in range(2)] + [(3, t) for t in range(6)] + [(4, t) for t in range(24)] + [(1, 0)]


@pytest.mark.parametrize("dims,order", PERMUTE_CASES)
def test_permute(tmp_path, dims, order):
    one(tmp_path, "Permute", f"0={order}", _rand(SHAPES[dims]))


# ---------------------------------------------------------------------------------------------
# ShuffleChannel, PixelShuffle, Reorg


@pytest.mark.parametrize(
    "channels,params", [(6, "0=2"), (6, "0=3"), (12, "0=3 1=1"), (12, "0=4 1=1"), (8, "0=2 1=1"), (16, "0=4")]
)
def test_shufflechannel(tmp_path, channels, params):
    one(tmp_path, "ShuffleChannel", params, _rand((channels, 3, 5)))


@pytest.mark.parametrize("channels,params", [(8, "0=2"), (8, "0=2 1=1"), (18, "0=3"), (18, "0=3 1=1"), (9, "0=2")])
def test_pixelshuffle(tmp_path, channels, params):
    one(tmp_path, "PixelShuffle", params, _rand((channels, 3, 4)))


@pytest.mark.parametrize(
    "shape,params",
    [((3, 6, 8), "0=2"), ((3, 6, 8), "0=2 1=1"), ((2, 7, 9), "0=3"), ((4, 7, 9), "0=3 1=1"), ((2, 4, 4), "")],
)
def test_reorg(tmp_path, shape, params):
    one(tmp_path, "Reorg", params, _rand(shape))


# ---------------------------------------------------------------------------------------------
# Interp

INTERP_CASES = [
    # 3-D, scale form
    ((3, 5, 7), "0=1 1=2.0 2=2.0"),
    ((3, 5, 7), "0=1 1=0.5 2=1.5"),
    ((3, 6, 8), "0=2 1=2.0 2=2.0"),
    ((3, 6, 8), "0=2 1=0.7 2=1.3"),
    ((3, 6, 8), "0=2 1=2.0 2=2.0 6=1"),
    ((3, 6, 8), "0=3 1=2.0 2=2.0"),
    ((3, 6, 8), "0=3 1=0.5 2=1.7"),
    ((3, 6, 8), "0=3 1=1.5 2=2.5 6=1"),
    # 3-D, size form
    ((8, 5, 7), "0=1 3=11 4=9"),
    ((8, 5, 7), "0=2 3=3 4=13"),
    ((8, 5, 7), "0=2 3=9 4=4 6=1"),
    ((8, 5, 7), "0=3 3=12 4=10"),
    ((8, 5, 7), "0=3 3=7 4=16 6=1"),
    ((4, 1, 7), "0=2 3=3 4=9"),
    ((4, 6, 1), "0=2 3=8 4=3"),
    # one explicit size: that axis steps by size ratio, the other by 1/scale
    ((3, 6, 8), "0=1 1=1.3 2=1.7 4=5"),
    ((3, 6, 8), "0=2 1=1.3 2=1.7 4=5"),
    ((3, 6, 8), "0=3 1=1.3 2=0.6 3=4"),
    # same size: passes through, even without a method
    ((3, 6, 8), "0=2 3=6 4=8"),
    ((3, 6, 8), "0=0"),
    ((7,), "0=0 3=2 4=3"),
    # 2-D resizes w only
    ((4, 9), "0=1 1=2.0 2=2.0"),
    ((4, 9), "0=2 3=3 4=14"),
    ((4, 9), "0=2 2=0.5 6=1"),
    ((5, 9), "0=3 3=3 4=20"),
    # 1-D fills channels
    ((7,), "0=1 1=2.0 2=3.0"),
    ((7,), "0=2 3=4 4=5"),
]


@pytest.mark.parametrize("shape,params", INTERP_CASES)
def test_interp(tmp_path, shape, params):
    exact = params.startswith(("0=0", "0=1")) or len(shape) == 1
    one(tmp_path, "Interp", params, _rand(shape), exact=exact)


@pytest.mark.parametrize(
    "shape,ref,params",
    [
        ((3, 5, 7), (2, 9, 11), "0=1 5=1"),
        ((3, 5, 7), (2, 9, 11), "0=1 5=1 1=0.5 2=0.5"),
        ((3, 5, 7), (5, 3), "0=2 5=1"),
        ((3, 5, 7), (1, 8, 12), "0=3 5=1 6=1"),
        ((4, 9), (3, 13), "0=2 5=1"),
    ],
)
def test_interp_dynamic_size(tmp_path, shape, ref, params):
    layers = [f"Interp op 2 1 x r y {params}"]
    check(tmp_path, layers, {"x": _rand(shape), "r": _rand(ref, seed=3)}, ["y"], exact=params.startswith("0=1"))


# ---------------------------------------------------------------------------------------------
# Reduction

REDUCE_FORMS = [
    (1, "1=1"),
    (1, "1=0 -23303=1,0 5=1 4=1"),
    (2, "1=1 4=1"),
    (2, "1=0 -23303=1,0 5=1"),
    (2, "1=0 -23303=1,-1 5=1 4=1"),
    (3, "1=1"),
    (3, "1=0 -23303=1,0 5=1"),
    (3, "1=0 -23303=2,1,2 5=1 4=1"),
    (3, "1=0 -23303=2,0,-1 5=1"),
    (3, "1=0 -23303=1,-2 5=1 4=1"),
    (4, "1=1 4=1"),
    (4, "1=0 -23303=1,1 5=1"),
    (4, "1=0 -23303=2,0,2 5=1 4=1"),
    (4, "1=0 -23303=3,1,2,3 5=1"),
    (4, "1=0 -23303=3,0,1,-1 5=1 4=1"),
    (4, "1=0 -23303=1,-1 5=1"),
]
REDUCE_SHAPES = {1: (11,), 2: (5, 6), 3: (3, 4, 5), 4: (2, 3, 4, 3)}


@pytest.mark.parametrize("op", range(11))
@pytest.mark.parametrize("dims,form", REDUCE_FORMS)
def test_reduction(tmp_path, op, dims, form):
    lo, hi = (0.6, 1.4) if op in (6, 9) else (-1.5, 1.5)  # keep products and log-sums well defined
    coeff = " 2=-0.75" if (op + dims) % 3 == 0 else ""
    exact = op in (4, 5) and not coeff
    one(tmp_path, "Reduction", f"0={op} {form}{coeff}", _rand(REDUCE_SHAPES[dims], lo, hi), exact=exact)




# ---------------------------------------------------------------------------------------------
# Params ncnn refuses at load time are refused when the net is built

REFUSED = [
    ("Slice", "-23300=2,-233,-233 1=4"),
    ("Crop", "-23309=1,0 -23310=1,1 -23311=1,4"),
    ("Padding", "4=3"),
    ("Squeeze", "-23303=1,4"),
    ("ExpandDims", "-23303=1,-5"),
    ("Permute", "0=24"),
    ("ShuffleChannel", "0=0"),
    ("PixelShuffle", "0=0"),
    ("Reorg", "0=0"),
    ("Interp", "0=4"),
    ("Reduction", "0=11"),
    ("Reduction", "0=0 1=0 -23303=1,4 5=1"),
    ("Reduction", "0=0 1=0 -23303=1,0"),  # axes without fixbug0
    ("Softmax", "0=1"),  # axis != 0 without fixbug0
    ("Tile", "0=4"),
    ("Tile", "-23302=2,2,0"),
    ("Pooling", "0=2 1=2"),
    ("Pooling", "0=0 1=2 2=0"),
]


@pytest.mark.parametrize("layer_type,params", REFUSED)
def test_refused_params(tmp_path, layer_type, params):
    param, bin_path = _save(tmp_path, [f"{layer_type} op 1 1 x y {params}"], ["x"])
    with pytest.raises(RuntimeError, match="could not load"):
        make_ncnn_net(param, bin_path)
    with pytest.raises(ncnnq.LayerError):
        ncnnq.Net(param, bin_path)


# ---------------------------------------------------------------------------------------------
# ArgMax (the PyPI ncnn is built without ArgMax, so ncnn's documented semantics are the reference)


def _argmax_reference(x: np.ndarray, topk: int, out_max_val: bool) -> np.ndarray:
    flat = x.ravel()
    # descending by (value, index): ties list the larger index first
    order = sorted(range(flat.size), key=lambda i: (flat[i], i), reverse=True)[:topk]
    idx = np.array(order, dtype=np.float32)
    if out_max_val:
        return np.stack([flat[order], idx]).astype(np.float32)
    return idx.reshape(1, topk)


@pytest.mark.parametrize("shape", [(17,), (4, 6), (3, 4, 5), (2, 2, 3, 4)])
@pytest.mark.parametrize("params,topk,out_max_val", [("", 1, False), ("1=3", 3, False), ("0=1 1=4", 4, True)])
def test_argmax(tmp_path, shape, params, topk, out_max_val):
    x = _rand(shape)
    x.ravel()[[2, 5]] = x.max() + 1  # a tie at the top
    param, bin_path = _save(tmp_path, [f"ArgMax op 1 1 x y {params}"], ["x"])
    ours = ncnnq.Net(param, bin_path).run({"x": x}, ["y"])["y"]
    expected = _argmax_reference(x, topk, out_max_val)
    assert ours.shape == expected.shape and np.array_equal(ours, expected)


# ---------------------------------------------------------------------------------------------
# MemoryData, Tile


@pytest.mark.parametrize(
    "params", ["0=7", "0=5 1=3", "0=4 1=3 2=2", "0=4 1=3 11=2 2=3", "0=6 21=0", "0=3 1=2 2=4 21=0"]
)
def test_memorydata(tmp_path, params):
    param, bin_path = _save(tmp_path, [f"MemoryData op 0 1 y {params}"], [])
    ours = ncnnq.Net(param, bin_path).run({}, ["y"])["y"]
    theirs = run_ncnn(param, bin_path, {}, ["y"])["y"]
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    assert np.ptp(ours) > 0, "the data comes from the weights"


TILE_CASES = [
    (1, "1=3"),
    (2, "0=0 1=2"),
    (2, "0=1 1=3"),
    (3, "0=0 1=2"),
    (3, "0=1 1=3"),
    (3, "0=2 1=2"),
    (4, "0=0 1=2"),
    (4, "0=1 1=2"),
    (4, "0=2 1=3"),
    (4, "0=3 1=2"),
    (1, "-23302=1,3"),
    (1, "-23302=2,2,3"),
    (1, "-23302=3,2,1,2"),
    (2, "-23302=2,3,2"),
    (2, "-23302=1,2"),
    (2, "-23302=3,2,1,3"),
    (3, "-23302=3,2,3,1"),
    (3, "-23302=2,2,3"),
    (3, "-23302=4,2,3,1,2"),
    (4, "-23302=4,1,2,3,2"),
    (4, "-23302=3,2,1,2"),
    (3, "-23302=3,1,1,1"),
]


@pytest.mark.parametrize("dims,params", TILE_CASES)
def test_tile(tmp_path, dims, params):
    shape = {1: (5,), 2: (3, 4), 3: (2, 3, 4), 4: (2, 2, 3, 4)}[dims]
    one(tmp_path, "Tile", params, _rand(shape))


# ---------------------------------------------------------------------------------------------
# Concat, Softmax

CONCAT_CASES = [
    ([(5,), (3,), (7,)], "0=0"),
    ([(2, 4), (3, 4), (1, 4)], "0=0"),
    ([(3, 2), (3, 5), (3, 1)], "0=1"),
    ([(3, 2), (3, 5), (3, 1)], "0=-1"),
    ([(2, 3, 4), (5, 3, 4), (1, 3, 4)], "0=0"),
    ([(8, 3, 4), (8, 3, 4), (16, 3, 4)], "0=0"),
    ([(2, 1, 4), (2, 3, 4), (2, 2, 4)], "0=1"),
    ([(2, 3, 1), (2, 3, 4), (2, 3, 2)], "0=-1"),
    ([(2, 3, 2, 4), (3, 3, 2, 4), (1, 3, 2, 4)], "0=0"),
    ([(2, 1, 2, 4), (2, 3, 2, 4), (2, 2, 2, 4)], "0=1"),
    ([(2, 3, 1, 4), (2, 3, 2, 4), (2, 3, 3, 4)], "0=-2"),
    ([(2, 3, 2, 1), (2, 3, 2, 4), (2, 3, 2, 3)], "0=3"),
]


@pytest.mark.parametrize("shapes,params", CONCAT_CASES)
def test_concat(tmp_path, shapes, params):
    names = [f"x{i}" for i in range(len(shapes))]
    inputs = {n: _rand(s, seed=i) for i, (n, s) in enumerate(zip(names, shapes))}
    layers = [f"Concat op {len(names)} 1 {' '.join(names)} y {params}"]
    check(tmp_path, layers, inputs, ["y"], exact=True)


SOFTMAX_CASES = [(1, "0=0"), (2, "0=0"), (2, "0=1 1=1"), (2, "0=-1 1=1")]
SOFTMAX_CASES += [(3, f"0={a} 1=1") for a in (0, 1, 2, -1, -3)] + [(4, f"0={a} 1=1") for a in (0, 1, 2, 3, -2)]


@pytest.mark.parametrize("dims,params", SOFTMAX_CASES)
def test_softmax(tmp_path, dims, params):
    one(tmp_path, "Softmax", params, _rand(SHAPES[dims], -4, 4), exact=False)




# ---------------------------------------------------------------------------------------------
# Pooling

POOLING_CASES = [
    "1=3 2=2",
    "1=2 2=2",
    "1=3 2=1 3=1",
    "1=3 2=2 3=1 5=1",
    "1=2 11=3 2=2 12=1 3=1 13=0 14=0 15=2",
    "1=3 2=2 3=2 14=0 13=1 15=1 5=1",
    "1=3 2=2 5=2",
    "1=3 2=3 5=2",
    "1=2 2=2 5=3",
    "1=4 11=2 2=3 12=2 5=3",
    "1=3 2=2 3=1 5=2",
    "1=5 2=2 3=2",
    "1=3 2=2 3=1 6=1",
    "1=3 2=2 3=1 5=1 6=1",
    "1=2 11=3 2=2 12=1 3=1 14=0 13=2 15=0 6=1",
    "1=3 2=2 5=2 6=1",
    # one window over the whole 11x9 map (the global path where padding changes nothing)
    "1=11 11=9",
    "1=11 11=9 2=2 12=3",
    "1=13 11=11 3=1 14=1 13=1 15=1",
    "1=13 11=11 3=1 14=1 13=1 15=1 6=1",
    "1=12 11=10 3=1 13=1 5=1",
    "1=11 11=9 2=11 12=9 5=2",
]


@pytest.mark.parametrize("channels", [3, 8])
@pytest.mark.parametrize("pooling_type", [0, 1])
@pytest.mark.parametrize("params", POOLING_CASES)
def test_pooling(tmp_path, channels, pooling_type, params):
    one(tmp_path, "Pooling", f"0={pooling_type} {params}", _rand((channels, 9, 11)), exact=pooling_type == 0)


@pytest.mark.parametrize("channels", [3, 8])
@pytest.mark.parametrize(
    "params",
    [
        "0=0 4=1",
        "0=1 4=1",
        "0=0 7=1 8=3 18=2",
        "0=1 7=1 8=4 18=5",
        "0=1 7=1 8=5",
        "0=0 7=1 8=-233 18=3",
        "0=1 7=1 8=4 18=-233",
    ],
)
def test_pooling_global_and_adaptive(tmp_path, channels, params):
    one(tmp_path, "Pooling", params, _rand((channels, 9, 11)), exact=params.startswith("0=0"))


@pytest.mark.parametrize("params", ["0=0 1=2 2=2", "0=1 1=3 2=2 3=1", "0=1 4=1", "0=0 7=1 8=2 18=3"])
def test_pooling_2d_input(tmp_path, params):
    # h = 7 keeps ncnn on its unpacked path, where a 2-D blob pools as one channel
    one(tmp_path, "Pooling", params, _rand((7, 10)), exact=params.startswith("0=0"))


# ---------------------------------------------------------------------------------------------
# The forms the shared benchmark architectures use, at their hinted shapes

MOVES_DATA = {"Slice", "Crop", "Padding", "Reshape", "Permute", "Flatten", "ShuffleChannel", "Squeeze", "ExpandDims"}
MOVES_DATA |= {"PixelShuffle", "Reorg", "ArgMax", "MemoryData", "Tile", "Concat"}
TYPES = MOVES_DATA | {"Interp", "Reduction", "Softmax", "Pooling"}


def _numpy_shape(hint: tuple[int, int, int, int, int]) -> tuple[int, ...]:
    dims, w, h, d, c = hint
    return {1: (w,), 2: (h, w), 3: (c, h, w), 4: (c, d, h, w)}[dims]


def _benchmark_cases(shared: Path) -> list[tuple[str, str, list[tuple[int, ...]], int]]:
    """(model stem, layer line with generic blob names, input shapes, top count), one per form."""
    cases, seen = [], set()
    for param in sorted((shared / "benchmark-params").glob("*.param")):
        model = ncnnq.Model.load(param)
        lines = {line.split()[1]: line.split() for line in param.read_text().splitlines()[2:] if line.strip()}
        for layer in model.layers:
            if layer.type not in TYPES:
                continue
            hints = [model.blob_shape(b) for b in layer.bottoms]
            if any(h is None for h in hints):
                continue
            fields = lines[layer.name]
            nb, nt = len(layer.bottoms), len(layer.tops)
            params = " ".join(fields[4 + nb + nt :])
            shapes = [_numpy_shape(h) for h in hints]
            key = (layer.type, params, tuple(shapes), nt)
            if key in seen:
                continue
            seen.add(key)
            blobs = [f"x{i}" for i in range(nb)] + [f"y{i}" for i in range(nt)]
            cases.append((param.stem, f"{layer.type} op {nb} {nt} {' '.join(blobs)} {params}", shapes, nt))
    return cases


def test_benchmark_layer_forms(shared, tmp_path):
    cases = _benchmark_cases(shared)
    assert len(cases) > 100
    for i, (stem, line, shapes, tops) in enumerate(cases):
        inputs = {f"x{k}": _rand(s, seed=k) for k, s in enumerate(shapes)}
        case_dir = tmp_path / str(i)
        case_dir.mkdir()
        exact = line.split()[0] in MOVES_DATA
        try:
            check(case_dir, [line], inputs, [f"y{k}" for k in range(tops)], exact=exact)
        except AssertionError as e:
            raise AssertionError(f"{stem}: {line}: {e}") from e
