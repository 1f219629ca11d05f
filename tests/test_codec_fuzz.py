"""Property test: whatever bytes arrive, loading raises an ncnnq.Error or succeeds; nothing else
(in particular no panic crossing into Python)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

import ncnnq

SEED = (
    b"7767517\n4 5\nInput data 0 1 data 0=8 1=8 2=3\n"
    b"Convolution conv 1 1 data c -23330=4,3,8,8,4 0=4 1=3 4=1 5=1 6=108 9=2 -23310=1,1.000000e-01\n"
    b"Split sp 1 2 c c0 c1\nConcat cat 2 1 c0 c1 out 0=0\n"
)
SEED_BIN = ncnnq.Model.from_bytes(SEED).with_random_weights().bin_bytes()


def _load(param: bytes, bin_bytes: bytes | None) -> None:
    try:
        model = ncnnq.Model.from_bytes(param, bin_bytes, name="fuzz")
    except ncnnq.Error:
        return
    model.param_text()


@settings(max_examples=400, deadline=None)
# A value past f32's range ('1.000000e101'): it used to load as inf and fail only when written back.
@example(edits=[(133, 49)], with_bin=False)
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), min_size=1, max_size=6), st.booleans())
def test_mutated_params_fail_cleanly(edits, with_bin):
    data = bytearray(SEED)
    for pos, byte in edits:
        data[pos] = byte
    _load(bytes(data), SEED_BIN if with_bin else None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=len(SEED_BIN) + 8))
def test_arbitrary_bins_fail_cleanly(bin_bytes):
    _load(SEED, bin_bytes)
