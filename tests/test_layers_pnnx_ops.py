"""Layer types current pnnx writes for common models that the engine runs since issue 13 (MatMul
for torch.matmul, Flip for torch.flip, GLU for F.glu), against real ncnn."""

from __future__ import annotations

import pytest

from test_layers_shape import _rand, check, one

MATMUL_CASES = [
    # (A shape, B shape, transB) in numpy order
    ((5,), (5,), 0),
    ((6, 5), (5, 7), 0),
    ((6, 5), (7, 5), 1),
    ((5,), (5, 7), 0),
    ((5,), (7, 5), 1),
    ((6, 5), (5,), 0),
    ((3, 6, 5), (3, 5, 7), 0),
    ((3, 6, 5), (5, 7), 0),
    ((6, 5), (3, 5, 7), 0),
    ((1, 6, 5), (3, 7, 5), 1),
    ((5,), (3, 5, 7), 0),
    ((3, 6, 5), (5,), 0),
    ((2, 3, 6, 5), (2, 3, 5, 7), 0),
    ((2, 1, 6, 5), (1, 3, 5, 7), 0),
    ((3, 6, 5), (2, 3, 7, 5), 1),
    ((6, 5), (2, 3, 5, 7), 0),
    ((5,), (2, 3, 5, 4), 0),
    ((2, 3, 6, 5), (5,), 0),
    ((4, 33, 17), (4, 17, 40), 0),  # past a micro-kernel tile
]


@pytest.mark.parametrize("a,b,trans_b", MATMUL_CASES)
def test_matmul(tmp_path, a, b, trans_b):
    check(tmp_path, [f"MatMul op 2 1 x y z 0={trans_b}"], {"x": _rand(a), "y": _rand(b, seed=1)}, ["z"], exact=False)


FLIP_CASES = [
    ((23,), "-23300=1,0"),
    ((23,), "-23300=1,-1"),
    ((7, 9), "-23300=1,0"),
    ((7, 9), "-23300=2,0,1"),
    ((6, 5, 7), "-23300=1,1"),
    ((6, 5, 7), "-23300=2,0,-1"),
    ((4, 3, 5, 6), "-23300=1,1"),
    ((4, 3, 5, 6), "-23300=4,0,1,2,3"),
    ((6, 5, 7), ""),
]


@pytest.mark.parametrize("shape,params", FLIP_CASES)
def test_flip(tmp_path, shape, params):
    one(tmp_path, "Flip", params, _rand(shape))


GLU_CASES = [
    ((24,), "0=0"),
    ((23,), "0=0"),
    ((8, 9), "0=0"),
    ((8, 10), "0=1"),
    ((6, 5, 8), "0=0"),
    ((6, 4, 7), "0=1"),
    ((6, 5, 8), "0=-1"),
    ((4, 3, 6, 5), "0=0"),
    ((3, 4, 6, 5), "0=1"),
    ((3, 4, 6, 5), "0=2"),
    ((3, 4, 5, 6), "0=3"),
]


@pytest.mark.parametrize("shape,params", GLU_CASES)
def test_glu(tmp_path, shape, params):
    one(tmp_path, "GLU", params, _rand(shape), exact=False)
