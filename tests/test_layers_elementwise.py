"""Element-wise and arithmetic layers of the fp32 engine against real ncnn.

Each case is a one-layer model (text param + seeded random weights), saved to files that both
ncnn and ``ncnnq.Net`` load, run on seeded random inputs in ranges where the op is defined.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

import ncnnq
from reference import assert_close, run_ncnn

# One shape per rank (numpy order); 8 channels make ncnn use its packed (SIMD) layouts.
SHAPES = {1: (13,), 2: (5, 7), 3: (3, 4, 5), 4: (2, 3, 4, 5)}
PACKED = {1: (16,), 2: (8, 6), 3: (8, 3, 5), 4: (8, 2, 3, 5)}


def layer_model(tmp_path, layer_type: str, params: str, n_inputs: int = 1, seed: int = 3, edit=None):
    """Saves Input layers + one layer of `layer_type` reading them; returns (param, bin, inputs)."""
    inputs = [f"in{i}" for i in range(n_inputs)]
    lines = ["7767517", f"{n_inputs + 1} {n_inputs + 1}"]
    lines += [f"Input {name} 0 1 {name}" for name in inputs]
    lines.append(f"{layer_type} op {n_inputs} 1 {' '.join(inputs)} out {params}".rstrip())
    model = ncnnq.Model.from_bytes(("\n".join(lines) + "\n").encode()).with_random_weights(seed)
    if edit is not None:
        edit(model.layer("op"))
    param, bin_path = tmp_path / "m.param", tmp_path / "m.bin"
    model.save(param, bin_path)
    return param, bin_path, inputs


def check(tmp_path, layer_type: str, params: str, arrays: list[np.ndarray], what: str = "", edit=None):
    param, bin_path, names = layer_model(tmp_path, layer_type, params, len(arrays), edit=edit)
    feeds = dict(zip(names, arrays))
    theirs = run_ncnn(param, bin_path, feeds, ["out"])["out"]
    ours = ncnnq.Net(param, bin_path).run(feeds, ["out"])["out"]
    assert not np.isnan(theirs).any(), f"{what}: ncnn produced NaN; pick an input range where the op is defined"
    assert_close(ours, theirs, f"{layer_type} {params} {what}")
    return ours


def rand(shape, lo=-3.0, hi=3.0, seed=0):
    # A seed per shape and range keeps cases independent of their order.
    key = zlib.crc32(repr((shape, lo, hi, seed)).encode())
    return np.random.default_rng(key).uniform(lo, hi, size=shape).astype(np.float32)


def away_from_zero(shape, lo=0.3, hi=3.0, seed=0):
    x = rand(shape, lo, hi, seed)
    signs = np.where(rand(shape, -1, 1, seed + 1) < 0, -1.0, 1.0).astype(np.float32)
    return x * signs


# ---------------------------------------------------------------------------------------------
# Activations

ACTIVATIONS = [
    ("ReLU", ""),
    ("ReLU", "0=0.1"),
    ("Sigmoid", ""),
    ("Swish", ""),
    ("HardSwish", ""),
    ("HardSwish", "0=0.1666667 1=0.5"),
    ("HardSigmoid", ""),
    ("HardSigmoid", "0=0.1666667 1=0.5"),
    ("GELU", ""),
    ("GELU", "0=0"),
    ("GELU", "0=1"),
    ("Clip", ""),
    ("Clip", "0=-1.0 1=2.0"),
    ("Clip", "1=0.5"),
    ("ELU", ""),
    ("ELU", "0=1.0"),
    ("CELU", ""),
    ("CELU", "0=0.5"),
    ("SELU", ""),
    ("SELU", "0=1.5 1=0.8"),
    ("Mish", ""),
    ("TanH", ""),
    ("AbsVal", ""),
    ("Softplus", ""),
    ("BNLL", ""),
    ("Erf", ""),
    ("Threshold", ""),
    ("Threshold", "0=0.3"),
]


@pytest.mark.parametrize("layer_type,params", ACTIVATIONS, ids=lambda v: str(v) or "default")
@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_activation_matches_ncnn(tmp_path, layer_type, params, dims):
    x = rand(SHAPES[dims], -4, 4)
    check(tmp_path, layer_type, params, [x], f"dims={dims}")


@pytest.mark.parametrize("layer_type,params", [("GELU", "0=1"), ("Swish", ""), ("Mish", ""), ("HardSwish", "")])
def test_activation_on_packed_blobs_matches_ncnn(tmp_path, layer_type, params):
    check(tmp_path, layer_type, params, [rand(PACKED[3], -4, 4)])


@pytest.mark.parametrize("num_slope", ["one", "per_channel"])
@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_prelu_matches_ncnn(tmp_path, num_slope, dims):
    for shape in (SHAPES[dims], PACKED[dims]):
        n = 1 if num_slope == "one" else channels_of(shape)
        check(tmp_path, "PReLU", f"0={n}", [rand(shape)], f"shape={shape}")


def test_prelu_rejects_too_few_slopes(tmp_path):
    param, bin_path, _ = layer_model(tmp_path, "PReLU", "0=2")
    with pytest.raises(ncnnq.ShapeError, match="slopes"):
        ncnnq.Net(param, bin_path).run({"in0": rand((3, 4, 5))}, ["out"])


# ---------------------------------------------------------------------------------------------
# UnaryOp, Power, Exp, Log

# op_type -> input range where ncnn's op is defined and finite.
UNARY_DOMAINS = {
    0: (-3, 3), 1: (-3, 3), 2: (-3, 3), 3: (-3, 3), 4: (-3, 3),
    5: (0.01, 4), 6: (0.1, 4), 7: (-3, 3), 8: (0.05, 4), 9: (-3, 3),
    10: (-3, 3), 11: (-1.2, 1.2), 12: (-0.95, 0.95), 13: (-0.95, 0.95), 14: (-3, 3),
    15: None, 16: (-3, 3), 17: (0.05, 4), 18: None, 19: (-3, 3),
    20: (-3, 3), 21: (-3, 3), 22: (-3, 3), 23: (-3, 3), 24: (-3, 3),
    25: (1.05, 4), 26: (-0.95, 0.95), 27: (-0.9, 3),
}  # fmt: skip


@pytest.mark.parametrize("op_type", sorted(UNARY_DOMAINS))
def test_unaryop_matches_ncnn(tmp_path, op_type):
    shape = (3, 6, 7)
    if op_type == 15:
        x = away_from_zero(shape)
    elif op_type == 18:
        # Halves included: ncnn rounds them to even.
        x = (np.round(rand(shape, -8, 8) * 2) / 2).astype(np.float32)
    else:
        x = rand(shape, *UNARY_DOMAINS[op_type])
    check(tmp_path, "UnaryOp", f"0={op_type}", [x])


@pytest.mark.parametrize("dims", [1, 2, 4])
@pytest.mark.parametrize("op_type", [4, 7, 18])
def test_unaryop_any_rank_matches_ncnn(tmp_path, op_type, dims):
    check(tmp_path, "UnaryOp", f"0={op_type}", [rand(SHAPES[dims], -2, 2)])


@pytest.mark.parametrize("op_type", [-1, 28])
def test_unaryop_rejects_unknown_op(op_type):
    text = f"7767517\n2 2\nInput in0 0 1 in0\nUnaryOp op 1 1 in0 out 0={op_type}\n"
    with pytest.raises(ncnnq.LayerError, match="op_type"):
        ncnnq.Net(ncnnq.Model.from_bytes(text.encode()))


@pytest.mark.parametrize(
    "layer_type,params,domain",
    [
        ("Power", "", (-3, 3)),
        ("Power", "0=2.0", (-3, 3)),
        ("Power", "0=0.5 1=2.0 2=0.5", (0.0, 3)),
        ("Power", "0=-1.5 1=0.5 2=1.0", (-1.5, 3)),
        ("Exp", "", (-3, 3)),
        ("Exp", "0=2.0", (-3, 3)),
        ("Exp", "0=10.0 1=0.5 2=-0.2", (-3, 3)),
        ("Exp", "0=-1.0 1=1.5 2=0.3", (-2, 2)),
        ("Log", "", (0.05, 4)),
        ("Log", "0=10.0", (0.05, 4)),
        ("Log", "0=2.0 1=3.0 2=0.5", (0.0, 4)),
        ("Log", "0=-1.0 1=-1.0 2=4.0", (-3, 3.9)),
    ],
)
@pytest.mark.parametrize("dims", [1, 3, 4])
def test_power_exp_log_match_ncnn(tmp_path, layer_type, params, domain, dims):
    check(tmp_path, layer_type, params, [rand(SHAPES[dims], *domain)], f"dims={dims}")


# ---------------------------------------------------------------------------------------------
# BinaryOp

BINARY_OPS = list(range(19))


def binary_inputs(op_type: int, shape_a, shape_b, seed=0):
    """Operands in ranges where op(a, b) is defined for ncnn's SIMD and scalar paths."""
    # The second operand of the op as ncnn computes it: b for the forward ops, a for the r-ops.
    reverse = op_type in (7, 8, 9, 11, 13, 16, 18)
    base_op = {7: 1, 8: 3, 9: 6, 11: 10, 13: 12, 16: 15, 18: 17}.get(op_type, op_type)
    if base_op == 6:  # pow: positive base
        x, y = rand(shape_a, 0.1, 3, seed), rand(shape_b, -2, 2, seed + 7)
    elif base_op in (3, 12, 15, 17):  # division-like: divisor away from 0
        x, y = rand(shape_a, -5, 5, seed), away_from_zero(shape_b, 0.5, 3, seed + 7)
    else:
        x, y = rand(shape_a, -3, 3, seed), rand(shape_b, -3, 3, seed + 7)
    if reverse:
        # op(a, b) = base_op(b, a): a plays the divisor / exponent.
        if base_op == 6:
            x, y = rand(shape_a, -2, 2, seed), rand(shape_b, 0.1, 3, seed + 7)
        elif base_op in (3, 12, 15, 17):
            x, y = away_from_zero(shape_a, 0.5, 3, seed), rand(shape_b, -5, 5, seed + 7)
    return x, y


@pytest.mark.parametrize("op_type", BINARY_OPS)
@pytest.mark.parametrize(
    "shape_a,shape_b",
    [((3, 4, 5), (3, 4, 5)), ((8, 3, 5), (8,)), ((2, 3, 4, 5), (1, 1, 1, 5)), ((1,), (5, 7))],
    ids=["same", "per_channel", "4d_w", "scalar_blob"],
)
def test_binaryop_every_op_matches_ncnn(tmp_path, op_type, shape_a, shape_b):
    a, b = binary_inputs(op_type, shape_a, shape_b)
    check(tmp_path, "BinaryOp", f"0={op_type}", [a, b], f"{shape_a} op {shape_b}")


@pytest.mark.parametrize("op_type", BINARY_OPS)
@pytest.mark.parametrize("dims", [1, 3, 4])
def test_binaryop_with_scalar_matches_ncnn(tmp_path, op_type, dims):
    reverse = op_type in (7, 8, 9, 11, 13, 16, 18)
    base_op = {7: 1, 8: 3, 9: 6, 11: 10, 13: 12, 16: 15, 18: 17}.get(op_type, op_type)
    b = 1.7
    if base_op == 6:
        x = rand(SHAPES[dims], -2, 2) if reverse else rand(SHAPES[dims], 0.1, 3)
    elif base_op in (3, 12, 15, 17) and reverse:
        x = away_from_zero(SHAPES[dims], 0.5, 3)
    else:
        x = rand(SHAPES[dims], -5, 5)
    check(tmp_path, "BinaryOp", f"0={op_type} 1=1 2={b}", [x], f"dims={dims}")


def test_binaryop_defaults_are_add_and_zero(tmp_path):
    x = rand((3, 4, 5))
    np.testing.assert_array_equal(check(tmp_path, "BinaryOp", "1=1", [x]), x)


# Every rank pair and broadcast form (numpy-order shapes). Packed channel counts (8, 16) make
# ncnn take its SIMD broadcast paths.
BROADCAST_PAIRS = [
    # 1-D with 1-D
    ((5,), (5,)), ((1,), (5,)), ((16,), (1,)),
    # 1-D with 2-D: w equal to h makes a column, else a row (a square blob takes the column)
    ((4,), (4, 6)), ((6,), (4, 6)), ((6,), (6, 6)), ((1,), (4, 6)), ((8,), (8, 5)), ((16,), (3, 16)),
    # 2-D with 2-D
    ((4, 6), (4, 1)), ((4, 6), (1, 6)), ((1, 6), (4, 1)), ((1, 1), (4, 6)), ((8, 6), (8, 1)),
    # 1-D with 3-D: per channel when w equals c (which wins over w), else along w
    ((3,), (3, 4, 5)), ((5,), (3, 4, 5)), ((5,), (5, 4, 5)), ((1,), (3, 4, 5)), ((8,), (8, 3, 5)),
    ((5,), (8, 3, 5)), ((16,), (16, 1, 1)),
    # 2-D with 3-D: [h, w] aligns with [c, h]
    ((3, 4), (3, 4, 5)), ((3, 1), (3, 4, 5)), ((1, 4), (3, 4, 5)), ((8, 3), (8, 3, 5)), ((1, 1), (8, 3, 5)),
    # 3-D with 3-D
    ((3, 1, 1), (3, 4, 5)), ((1, 4, 5), (3, 4, 5)), ((3, 4, 1), (3, 4, 5)), ((3, 1, 5), (3, 4, 5)),
    ((1, 1, 5), (3, 4, 5)), ((1, 4, 1), (3, 4, 5)), ((1, 1, 1), (3, 4, 5)), ((3, 1, 5), (1, 4, 1)),
    ((3, 4, 1), (1, 1, 5)), ((8, 1, 1), (8, 3, 5)), ((8, 3, 1), (1, 1, 5)), ((1, 3, 5), (16, 3, 5)),
    # 1-D with 4-D
    ((3,), (3, 2, 4, 5)), ((5,), (3, 2, 4, 5)), ((1,), (3, 2, 4, 5)), ((8,), (8, 2, 3, 5)),
    # 2-D with 4-D: [h, w] aligns with [c, d]
    ((3, 2), (3, 2, 4, 5)), ((3, 1), (3, 2, 4, 5)), ((1, 2), (3, 2, 4, 5)), ((8, 2), (8, 2, 3, 5)),
    # 3-D with 4-D: [c, h, w] aligns with [c, d, h]
    ((3, 2, 4), (3, 2, 4, 5)), ((3, 1, 4), (3, 2, 4, 5)), ((1, 2, 1), (3, 2, 4, 5)), ((8, 2, 3), (8, 2, 3, 5)),
    # 4-D with 4-D
    ((3, 1, 1, 1), (3, 2, 4, 5)), ((1, 2, 4, 5), (3, 2, 4, 5)), ((3, 2, 1, 5), (3, 2, 4, 5)),
    ((1, 1, 1, 5), (3, 2, 4, 5)), ((3, 2, 4, 1), (3, 2, 4, 5)), ((1, 2, 1, 1), (3, 2, 4, 5)),
    ((3, 1, 4, 1), (1, 2, 1, 5)), ((8, 1, 1, 1), (8, 2, 3, 5)), ((1, 2, 3, 5), (8, 2, 3, 5)),
]  # fmt: skip


@pytest.mark.parametrize("op_type", [1, 3, 6])
@pytest.mark.parametrize("swap", [False, True], ids=["small_first", "big_first"])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=lambda s: f"{s[0]}x{s[1]}".replace(" ", ""))
def test_binaryop_broadcast_matches_ncnn(tmp_path, shapes, swap, op_type):
    shape_a, shape_b = shapes[::-1] if swap else shapes
    a, b = binary_inputs(op_type, shape_a, shape_b)
    out = check(tmp_path, "BinaryOp", f"0={op_type}", [a, b], f"{shape_a} op {shape_b}")
    assert out.size == max(a.size, b.size, out.size)


@pytest.mark.parametrize("shape_a,shape_b", [((3, 4, 5), (2, 4, 5)), ((4, 6), (3, 6)), ((7,), (5, 4, 6))])
def test_binaryop_rejects_shapes_that_do_not_broadcast(tmp_path, shape_a, shape_b):
    param, bin_path, _ = layer_model(tmp_path, "BinaryOp", "0=0", 2)
    with pytest.raises(ncnnq.ShapeError, match="broadcast"):
        ncnnq.Net(param, bin_path).run({"in0": rand(shape_a), "in1": rand(shape_b)}, ["out"])


@pytest.mark.parametrize("op_type", [-1, 19])
def test_binaryop_rejects_unknown_op(op_type):
    text = f"7767517\n3 3\nInput a 0 1 a\nInput b 0 1 b\nBinaryOp op 2 1 a b out 0={op_type}\n"
    with pytest.raises(ncnnq.LayerError, match="op_type"):
        ncnnq.Net(ncnnq.Model.from_bytes(text.encode()))


# ---------------------------------------------------------------------------------------------
# Eltwise

ELTWISE = ["0=0", "0=1", "0=1 -23301=3,0.5,-2.0,1.5", "0=2"]


@pytest.mark.parametrize("params", ELTWISE, ids=["prod", "sum", "sum_coeffs", "max"])
@pytest.mark.parametrize("n_inputs", [2, 3])
@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_eltwise_matches_ncnn(tmp_path, params, n_inputs, dims):
    for shape in (SHAPES[dims], PACKED[dims]):
        xs = [rand(shape, seed=i) for i in range(n_inputs)]
        check(tmp_path, "Eltwise", params, xs, f"shape={shape}")


def test_eltwise_rejects_too_few_coeffs_and_mismatched_shapes(tmp_path):
    param, bin_path, _ = layer_model(tmp_path, "Eltwise", "0=1 -23301=2,1.0,2.0", 3)
    x = rand((3, 4, 5))
    with pytest.raises(ncnnq.ShapeError, match="coefficients"):
        ncnnq.Net(param, bin_path).run({"in0": x, "in1": x, "in2": x}, ["out"])
    param, bin_path, _ = layer_model(tmp_path, "Eltwise", "0=1", 2)
    with pytest.raises(ncnnq.ShapeError, match="shape"):
        ncnnq.Net(param, bin_path).run({"in0": x, "in1": rand((3, 4, 6))}, ["out"])


# ---------------------------------------------------------------------------------------------
# BatchNorm, Scale, Bias


def channels_of(shape) -> int:
    """ncnn's per-channel count: w of 1-D, h of 2-D, c of 3-D/4-D (numpy shape[0] in each case)."""
    return shape[0]


@pytest.mark.parametrize("eps", ["", "1=0.001"])
@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_batchnorm_matches_ncnn(tmp_path, dims, eps):
    for shape in (SHAPES[dims], PACKED[dims]):
        check(tmp_path, "BatchNorm", f"0={channels_of(shape)} {eps}", [rand(shape)], f"shape={shape}")


def test_batchnorm_guards_zero_variance_like_ncnn(tmp_path):
    def zero_var(layer):
        var = np.array(layer.weights["var"])
        var[::2] = 0.0
        layer.set_weight("var", var)

    x = rand((4, 3, 5), -1e-3, 1e-3)
    out = check(tmp_path, "BatchNorm", "0=4 1=0.0", [x], edit=zero_var)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("bias_term", [0, 1])
@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_scale_matches_ncnn(tmp_path, dims, bias_term):
    for shape in (SHAPES[dims], PACKED[dims]):
        check(tmp_path, "Scale", f"0={channels_of(shape)} 1={bias_term}", [rand(shape)], f"shape={shape}")


@pytest.mark.parametrize("scale_shape", ["1d", "2d", "3d_one_channel"])
@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_scale_from_second_input_matches_ncnn(tmp_path, dims, scale_shape):
    for shape in (SHAPES[dims], PACKED[dims]):
        c = channels_of(shape)
        scale = rand({"1d": (c,), "2d": (1, c), "3d_one_channel": (1, 1, c)}[scale_shape], seed=5)
        check(tmp_path, "Scale", "0=-233", [rand(shape), scale], f"shape={shape}")


def test_scale_rejects_a_scale_input_of_several_channels(tmp_path):
    # ncnn reads such a blob flat, channel padding included, so its result is garbage.
    param, bin_path, _ = layer_model(tmp_path, "Scale", "0=-233", 2)
    with pytest.raises(ncnnq.ShapeError, match="flat"):
        ncnnq.Net(param, bin_path).run({"in0": rand((3, 4, 5)), "in1": rand((3, 1, 1))}, ["out"])


def test_scale_two_input_form_rejects_bias():
    text = "7767517\n3 3\nInput a 0 1 a\nInput s 0 1 s\nScale op 2 1 a s out 0=-233 1=1\n"
    with pytest.raises(ncnnq.LayerError, match="bias_term"):
        ncnnq.Net(ncnnq.Model.from_bytes(text.encode()))


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_bias_matches_ncnn(tmp_path, dims):
    for shape in (SHAPES[dims], PACKED[dims]):
        # Bias is per c: a 1-D or 2-D blob (c = 1) gets bias[0] everywhere.
        c = shape[0] if dims >= 3 else 1
        check(tmp_path, "Bias", f"0={c}", [rand(shape)], f"shape={shape}")


# ---------------------------------------------------------------------------------------------
# Cast


def spread_magnitudes(shape):
    """Values from 1e-3 to 1e5 in size: half precision rounds all of them and overflows the top.
    None is an fp16 subnormal, which ncnn's scalar tail (unlike its F16C body) flushes to 0."""
    exponent = rand(shape, -2.49, 5.49, seed=9).round()
    return (away_from_zero(shape, 0.1, 1.0) * np.float32(10.0) ** exponent).astype(np.float32)


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_cast_to_float16_rounds_like_ncnn(tmp_path, dims):
    # Sizes with SIMD tails of every length.
    x = spread_magnitudes({1: (67,), 2: (6, 11), 3: (3, 4, 7), 4: (2, 3, 4, 7)}[dims])
    param, bin_path, _ = layer_model(tmp_path, "Cast", "0=1 1=2")
    theirs = run_ncnn(param, bin_path, {"in0": x}, ["out"])["out"]
    ours = ncnnq.Net(param, bin_path).run({"in0": x}, ["out"])["out"]
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))
    assert np.isinf(ours).any() and (ours[np.isfinite(ours)] != x[np.isfinite(ours)]).any(), "inputs too tame"


def test_casts_through_16_bit_types_and_back_match_ncnn(tmp_path):
    x = spread_magnitudes((3, 4, 17))
    for first, second in [("0=1 1=2", "0=2 1=1"), ("0=1 1=4", "0=4 1=1")]:
        text = (
            "7767517\n3 3\nInput in0 0 1 in0\n"
            f"Cast c1 1 1 in0 mid {first}\nCast c2 1 1 mid out {second}\n"
        )
        model = ncnnq.Model.from_bytes(text.encode())
        param, bin_path = tmp_path / "c.param", tmp_path / "c.bin"
        model.save(param, bin_path)
        theirs = run_ncnn(param, bin_path, {"in0": x}, ["out"])["out"]
        ours = ncnnq.Net(param, bin_path).run({"in0": x}, ["out"])["out"]
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{first} then {second}")


@pytest.mark.parametrize("params", ["0=1 1=1", "0=2 1=2", "0=0 1=0"])
def test_cast_between_equal_types_is_identity(tmp_path, params):
    x = rand((3, 4, 5))
    out = check(tmp_path, "Cast", params, [x])
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("params", ["0=1 1=3", "0=0 1=1", "0=2 1=4"])
def test_cast_ncnn_does_not_compute_is_unsupported(params):
    text = f"7767517\n2 2\nInput in0 0 1 in0\nCast op 1 1 in0 out {params}\n"
    with pytest.raises(ncnnq.UnsupportedLayerError):
        ncnnq.Net(ncnnq.Model.from_bytes(text.encode()))


def test_binaryop_pairs_cover_every_rank_combination():
    ranks = {tuple(sorted((len(a), len(b)))) for a, b in BROADCAST_PAIRS}
    assert ranks == {pair for pair in itertools.combinations_with_replacement(range(1, 5), 2)}
