"""A small model with one known fragile layer, for the analysis and the mixed-precision search.

``conv1``'s output channel 0 is 10⁴ times the others and ``conv2`` reads it with weights 10⁴
times smaller: the fp32 network computes what it did before, but ``conv2``'s input shares one int8
scale across channels, so either the large channel clips or the others round to nothing. Only
``conv2`` breaks in int8; every other layer is harmless."""

from __future__ import annotations

import numpy as np

import ncnnq

FRAGILE = """7767517
7 7
Input        data 0 1 data 0=16 1=16 2=3
Convolution  conv1 1 1 data c1 0=8 1=3 4=1 5=1 6=216 9=1
Convolution  conv2 1 1 c1 c2 0=8 1=1 5=1 6=64 9=1
Convolution  conv3 1 1 c2 c3 0=8 1=3 4=1 5=1 6=576 9=1
Convolution  conv4 1 1 c3 c4 0=8 1=1 5=1 6=64 9=1
Pooling      pool 1 1 c4 pool 0=1 4=1
InnerProduct fc 1 1 pool fc 0=10 1=1 2=80
"""
LAYERS = ["conv1", "conv2", "conv3", "conv4", "fc"]
OUTLIER = 1e4


def fragile_model() -> ncnnq.Model:
    return with_outlier_channel(ncnnq.Model.from_bytes(FRAGILE.encode(), name="fragile.param").with_random_weights(3))


def with_outlier_channel(model: ncnnq.Model) -> ncnnq.Model:
    """Makes ``conv2`` of a model with two 8-channel convolutions ``conv1`` → ``conv2`` fragile:
    ``conv1``'s channel 0 is OUTLIER times wider and ``conv2`` reads it OUTLIER times weaker, so
    fp32 is unchanged while the shared int8 scale leaves the other channels a few levels."""
    conv1, conv2 = model.layer("conv1"), model.layer("conv2")
    w1 = np.array(conv1.weights["weight"]).reshape(8, -1)
    b1 = np.array(conv1.weights["bias"])
    w1[0] *= OUTLIER
    b1[0] *= OUTLIER
    conv1.set_weight("weight", w1.ravel())
    conv1.set_weight("bias", b1)
    w2 = np.array(conv2.weights["weight"]).reshape(8, 8)
    w2[:, 0] /= OUTLIER
    conv2.set_weight("weight", w2.ravel())
    return model


def fragile_inputs(count: int = 40, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, 16, 16)).astype(np.float32) for _ in range(count)]
