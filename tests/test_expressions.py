"""ncnn's shape expressions (Reshape 6=, Crop 19=/20=/21=, Interp 9=) against real ncnn.

Every operator is probed through Interp's size expression: `9="+(E,1000),1"` makes the output
width the value of E (offset so it stays a valid size), so a difference in E's value or typing
shows up as a different output shape. Reshape, Crop and Interp are then checked on the forms pnnx
writes, including Reshape's batch path (12=/13=, `0n`) and second bottoms that only lend shapes.
"""

from __future__ import annotations

import pytest

import ncnnq
from ncnnq.summary import summarize
from reference import ncnn_module
from test_layers_shape import _rand, _save, check, run_ncnn

X = (5, 3, 7)  # c, h, w: 0w=7 0h=3 0c=5
R = (2, 4, 6)  # the second bottom: 1w=6 1h=4 1c=2

OPERATOR_CASES = [
    # int arithmetic, C division truncating toward zero
    "+(0w,1h)",
    "-(0c,0w)",
    "*(0h,1c)",
    "//(0w,0h)",
    "//(neg(0w),0h)",
    "//(0w,neg(0h))",
    "//(neg(0w),neg(0h))",
    "max(0w,1w)",
    "min(0w,1w)",
    "abs(-(0h,0w))",
    "neg(0c)",
    "sign(-(0h,0w))",
    "sign(0)",
    "square(1h)",
    "trunc(0w)",
    "floor(0w)",
    # literals: int when %d and %f agree
    "//(neg(0w),2.0)",
    "//(neg(0w),2.5)",
    "//(neg(0w),1e1)",
    "*(3e0,0h)",
    # float promotion, floor division of floats
    "+(0w,0.5)",
    "//(+(0w,0.5),2)",
    "//(neg(+(0w,0.5)),2)",
    "//(-7.5,2)",
    "*(2.5,0h)",
    "*(-2.5,0h)",
    "*(/(0w,2),2)",
    "max(2.5,0h)",
    "min(2.5,0h)",
    "abs(-2.5)",
    "neg(-2.5)",
    "*(sign(-2.5),3)",
    "*(square(1.5),10)",
    # float to int
    "ceil(/(0w,2))",
    "floor(/(neg(0w),2))",
    "round(/(0w,2))",
    "round(/(neg(0w),2))",
    "trunc(/(neg(0w),2))",
    # float binaries
    "pow(0h,2)",
    "*(pow(0w,0.5),100)",
    "fmod(neg(0w),0h)",
    "remainder(neg(0w),0h)",
    "remainder(-6,3)",
    "*(atan2(0h,0w),1000)",
    "*(logaddexp(0h,0w),100)",
    "*(logaddexp(0h,0h),100)",
    # float functions, scaled to show their digits
    "*(sqrt(0w),1000)",
    "*(rsqrt(0h),1000)",
    "*(reciprocal(0h),1000)",
    "*(exp(1),1000)",
    "*(log(0w),1000)",
    "*(log10(0w),1000)",
    "*(sin(0w),1000)",
    "*(cos(0w),1000)",
    "*(tan(1),1000)",
    "*(asin(0.5),1000)",
    "*(acos(0.5),1000)",
    "*(atan(0w),1000)",
    "*(sinh(1),1000)",
    "*(cosh(1),1000)",
    "*(tanh(0.5),1000)",
    "*(asinh(0w),1000)",
    "*(acosh(0w),1000)",
    "*(atanh(0.5),1000)",
    "*(erf(0.5),1000)",
    # bitwise on raw bits
    "and(0w,0c)",
    "or(0w,8)",
    "xor(0w,0c)",
    "lshift(0h,4)",
    "rshift(1000,2)",
    "rshift(neg(16),2)",
    # nesting
    "+(*(-(0w,1),+(0h,2)),//(1c,2))",
    "floor(/(+(*(0w,0h),1w),max(1h,0c)))",
]


# A few values worked out by hand from ncnn's rules (C division, literal typing, floorf, its
# remainder), so the probe is seen to measure what it claims.
BY_HAND = {"//(neg(0w),0h)": -2, "//(neg(0w),2.0)": -3, "//(neg(0w),1e1)": -1, "//(-7.5,2)": -4, "remainder(-6,3)": 3}


@pytest.mark.parametrize("expr", OPERATOR_CASES)
def test_operator_matches_ncnn(tmp_path, expr):
    # 5=1 (dynamic size, as pnnx writes it) lets ncnn take two bottoms whatever E reads.
    layers = [f'Interp op 2 1 x r y 0=1 5=1 9="+({expr},1000),1"']
    ours = check(tmp_path, layers, {"x": _rand(X), "r": _rand(R, seed=1)}, ["y"], exact=True)
    if expr in BY_HAND:
        assert ours["y"].shape == (X[0], 1, 1000 + BY_HAND[expr])


RESHAPE_CASES = [
    # plain path: the list fills w, h[, d], c
    (X, '6="0w,-1"'),
    (X, '6="*(0w,0h),0c"'),
    (X, '6="0,0,-1"'),
    (X, '6="0w,-1,1,0c"'),
    (X, '6="-1"'),
    ((4, 3, 5, 6), '6="*(0w,0h),0d,0c"'),
    # batch path, as pnnx writes it after an InnerProduct: (96,) -> (96,1,1)
    ((96,), '12=0 13=0 6="1,1,//(96,0n),0n"'),
    ((24,), '12=0 13=0 6="1,1,-1,0n"'),
    # batch axes with zeros (logical positions) and an inferred size
    (X, '12=0 13=0 6="0,-1,0,0n"'),
    (X, '12=0 13=0 6="*(0w,0h),0c,0n"'),
    # batch size read without axes: the per-sample (implicit) batch path
    ((96,), '6="1,1,//(96,0n),0n"'),
    (X, '6="0,-1,0n"'),
]


@pytest.mark.parametrize("shape,params", RESHAPE_CASES)
def test_reshape_expression(tmp_path, shape, params):
    check(tmp_path, [f"Reshape op 1 1 x y {params}"], {"x": _rand(shape)}, ["y"], exact=True)


@pytest.mark.parametrize("params", ['6="1w,-1"', '6="-1,1h,1c"', '6="0w,1h,0c,//(1c,2)"'])
def test_reshape_reads_a_second_bottoms_shape(tmp_path, params):
    inputs = {"x": _rand((2, 6, 8)), "r": _rand((4, 3, 8), seed=2)}
    check(tmp_path, [f"Reshape op 2 1 x r y {params}"], inputs, ["y"], exact=True)


def test_reshape_keeps_batch_axes_through_a_round_trip(tmp_path):
    """ncnn2int8 drops 12=/13=; then ncnn's plain path makes (96,) a 4-D (1,96,1,1)."""
    param, bin_path = _save(tmp_path, ['Reshape op 1 1 x y 12=0 13=0 6="1,1,//(96,0n),0n"'], ["x"])
    text = param.read_text()
    assert "12=0" in text and "13=0" in text, text
    x = _rand((96,))
    assert ncnnq.Net(param, bin_path).run({"x": x}, ["y"])["y"].shape == (96, 1, 1)
    dropped = tmp_path / "dropped.param"
    dropped.write_text(text.replace(" 12=0", "").replace(" 13=0", ""))
    ours = ncnnq.Net(dropped, bin_path).run({"x": x}, ["y"])["y"]
    theirs = run_ncnn(dropped, bin_path, {"x": x}, ["y"])["y"]
    assert ours.shape == theirs.shape == (1, 96, 1, 1)


CROP_CASES = [
    (X, '19="1" 20="-(0w,1)" 21="2"'),
    (X, '19="0,1" 20="//(0c,2),0h" 21="0,1"'),
    (X, '19="neg(3)" 20="-233" 21="-1"'),
    (X, '19="1,0" 20="-1,2147483647" 21="0,2"'),
    ((4, 3, 5, 6), '19="1,2" 20="0d,-(0w,1)" 21="1,3"'),
    ((23,), '19="//(0w,3)" 20="*(2,//(0w,3))" 21="0"'),
    ((7, 9), '19="+(1,1)" 20="0h" 21="0"'),
]


@pytest.mark.parametrize("shape,params", CROP_CASES)
def test_crop_expression(tmp_path, shape, params):
    check(tmp_path, [f"Crop op 1 1 x y {params}"], {"x": _rand(shape)}, ["y"], exact=True)


def test_crop_expression_reads_a_second_bottoms_shape(tmp_path):
    inputs = {"x": _rand((6, 8, 9)), "r": _rand((2, 5, 4), seed=2)}
    check(tmp_path, ['Crop op 2 1 x r y 19="1,1" 20="+(1h,1),+(1w,1)" 21="1,2"'], inputs, ["y"], exact=True)


INTERP_CASES = [
    ((3, 5, 7), '0=1 9="*(0w,2),*(0h,2)"'),
    ((3, 5, 7), '0=2 9="+(0w,3),-(*(0h,2),1)"'),
    ((3, 6, 8), '0=2 6=1 9="*(0w,3),*(0h,3)"'),
    ((3, 6, 8), '0=3 9="*(0w,2),*(0h,2)"'),
    ((3, 6, 8), '0=2 9="+(0w,3)"'),
    # pnnx writes 5=1 (dynamic size) with a single bottom
    ((3, 5, 7), '0=1 5=1 9="*(0w,2),*(0h,2)"'),
    ((4, 9), '0=2 9="*(0w,2)"'),
]


@pytest.mark.parametrize("shape,params", INTERP_CASES)
def test_interp_expression(tmp_path, shape, params):
    exact = params.startswith("0=1")
    check(tmp_path, [f"Interp op 1 1 x y {params}"], {"x": _rand(shape)}, ["y"], exact=exact)


def test_interp_expression_reads_a_second_bottoms_shape(tmp_path):
    inputs = {"x": _rand((3, 5, 7)), "r": _rand((2, 9, 11), seed=2)}
    check(tmp_path, ['Interp op 2 1 x r y 0=2 5=1 9="1w,+(1h,0h)"'], inputs, ["y"], exact=False)


MALFORMED = [
    ("Reshape", '6="1,1,//(96,0n"', "expected ')'"),
    ("Reshape", '6="//(96)"', "takes 2 arguments, got 1"),
    ("Reshape", '6="+,1,2"', "expected '(' after operator '+'"),
    ("Interp", '0=1 9="10w,2"', "'10w'"),
    ("Interp", '0=1 9="*(1w,2)"', "reads input 1 but the layer has 1 input"),
    ("Crop", '19="1" 20="foo(2)" 21="0"', "'foo'"),
]


@pytest.mark.parametrize("layer_type,params,message", MALFORMED)
def test_malformed_expressions_are_refused_naming_layer_and_parameter(layer_type, params, message):
    text = f"7767517\n2 2\nInput in 0 1 x\n{layer_type} bad_expr 1 1 x y {params}\n"
    with pytest.raises(ncnnq.ParamError) as err:
        ncnnq.Model.from_bytes(text.encode())
    assert "bad_expr" in str(err.value) and message in str(err.value), str(err.value)
    assert "parameter" in str(err.value), str(err.value)


@pytest.mark.parametrize(
    "line",
    [
        'Interp op 2 1 x r y 0=1 9="*(0w,2),0h"',
        'Reshape op 2 1 x r y 6="0w,-1"',
        'Crop op 2 1 x r y 19="1" 20="-(0w,1)" 21="2"',
    ],
)
def test_second_bottom_without_a_reader_is_refused_like_ncnn(tmp_path, line):
    """ncnn loads these layers as one-input when no expression reads input 1, and then refuses two."""
    param, bin_path = _save(tmp_path, [line], ["x", "r"])
    with pytest.raises(RuntimeError, match="could not load"):
        run_ncnn(param, bin_path, {"x": _rand(X), "r": _rand(R)}, ["y"])
    with pytest.raises(ncnnq.LayerError, match="has 2 inputs but takes one"):
        ncnnq.Net(param, bin_path)


def test_crop_expression_without_axes_is_refused(tmp_path):
    """Real ncnn segfaults on it (an empty expression is read off an empty stack)."""
    param, bin_path = _save(tmp_path, ['Crop crop_no_axes 1 1 x y 19="1" 20="-(0w,1)"'], ["x"])
    with pytest.raises(ncnnq.LayerError, match=r"crop_no_axes.*21 \(axes_expr\) is missing"):
        ncnnq.Net(param, bin_path)


def test_integer_division_by_zero_is_a_run_time_error_naming_the_layer(tmp_path):
    param, bin_path = _save(tmp_path, ['Reshape div_zero 1 1 x y 6="//(0w,-(0h,3)),-1"'], ["x"])
    ncnn_module()
    with pytest.raises(ncnnq.ShapeError, match=r"div_zero.*7 // 0"):
        ncnnq.Net(param, bin_path).run({"x": _rand(X)}, ["y"])
    with pytest.raises(AssertionError, match="ncnn failed"):
        run_ncnn(param, bin_path, {"x": _rand(X)}, ["y"])


def test_info_shows_expressions_readably():
    text = '7767517\n2 2\nInput in 0 1 x\nReshape r 1 1 x y 12=0 13=0 6="1,1,//(96,0n),0n"\n'
    layer = ncnnq.Model.from_bytes(text.encode()).layer("r")
    assert layer.expressions == {6: "1, 1, 96 // @0.n, @0.n"}
    assert layer.params[6] == "1,1,//(96,0n),0n", "the parameter itself is kept as written"
    row = summarize(ncnnq.Model.from_bytes(text.encode())).rows[1]
    assert "shape_expr=[1, 1, 96 // @0.n, @0.n]" in row.key_params, row.key_params
