#!/usr/bin/env python3
"""Make the test fixture tinynet: a small CNN trained here on a synthetic task, plus its sample images.

    python tools/make_tinynet.py         # writes tests/tinynet/{tinynet.param,tinynet.bin,images/}

Everything is derived from SEED with numpy (task, training, image choice) and written with ncnnq
itself, so the fixture owes nothing to a download. The script then checks the written files: real ncnn
(PyPI ``ncnn``) must agree with the numpy model and with ``ncnnq.Net`` and must classify the shipped
images well. Re-running it on the same numpy/BLAS build gives the same files.

The task: 32x32 RGB images of six kinds (horizontal stripes, vertical stripes, disc or ring,
cross, checkerboard, smooth gradient) with random colours, positions, sizes, angles, lighting and noise.
Stripes and checkers have fine periods and shapes must be told from
fragments of stripes, so the net needs
real features and int8 rounding has accuracy to lose.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# One BLAS thread: the matrices are small, and on a shared 2-core machine OpenBLAS's spinning worker
# threads make some products 50x slower; one thread is also what keeps the sums in a fixed order.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests"))

import tinynet  # noqa: E402  (the constants the written files are documented with)

SEED = 20240613
SIZE = 32
CLASSES = tinynet.CLASS_NAMES
MEAN = np.float32(tinynet.MEAN[0])
NORM = np.float32(tinynet.NORM[0])
BN_EPS = 1e-5
# Output channels of conv1, conv2, conv3a (1x1) and conv3b (3x3); dw4 and fc see conv3a + conv3b.
C1, C2, C3A, C3B = 16, 32, 16, 16
C4 = C3A + C3B

# ---------------------------------------------------------------------------------------------
# The synthetic task


def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    return xx, yy


XX, YY = _grid()


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two random colours far enough apart to be seen through the noise, but not always by much."""
    while True:
        a, b = rng.uniform(0, 255, size=(2, 3))
        if np.linalg.norm(a - b) > 70:
            return a, b


def _soft(d: np.ndarray, width: float = 0.7) -> np.ndarray:
    """Antialiased step: 0 well below the edge (d < 0), 1 well above it."""
    return np.clip(0.5 + d / width, 0.0, 1.0)


def _stripes(rng: np.random.Generator, angle: float) -> np.ndarray:
    period = rng.uniform(3.5, 9.0)
    duty = rng.uniform(0.3, 0.7)
    t = (XX * math.sin(angle) + YY * math.cos(angle)) / period + rng.uniform(0, 1)
    frac = t - np.floor(t)
    # distance (in pixels) inside the dark part of each period, signed
    d = np.minimum(frac, duty - frac) * period
    return _soft(np.where(frac < duty, d, -np.minimum(frac - duty, 1 - frac) * period))


def _disc(rng: np.random.Generator) -> np.ndarray:
    r = rng.uniform(5, 12)
    cx, cy = rng.uniform(r - 2, SIZE - r + 2, size=2)
    dist = np.hypot(XX - cx, YY - cy)
    if r >= 7 and rng.random() < 0.4:  # a ring (a small one would be a blob)
        thick = rng.uniform(2.0, 4.0)
        return _soft(np.minimum(r - dist, dist - (r - thick)))
    return _soft(r - dist)


def _cross(rng: np.random.Generator) -> np.ndarray:
    """A plus sign, any rotation: the union of two perpendicular bars."""
    arm = rng.uniform(6.0, 13.0)
    thick = rng.uniform(1.5, min(3.5, 0.3 * arm))  # thicker, and a short cross is a blob
    cx, cy = rng.uniform(0.7 * arm, SIZE - 0.7 * arm, size=2)
    a = rng.uniform(0, math.pi / 2)
    u = np.abs((XX - cx) * math.cos(a) + (YY - cy) * math.sin(a))
    v = np.abs(-(XX - cx) * math.sin(a) + (YY - cy) * math.cos(a))
    return _soft(np.maximum(np.minimum(thick - u, arm - v), np.minimum(thick - v, arm - u)))


def _checker(rng: np.random.Generator) -> np.ndarray:
    cell = rng.uniform(3.0, 7.0)
    a = rng.uniform(-0.3, 0.3)
    u = (XX * math.cos(a) + YY * math.sin(a)) / cell + rng.uniform(0, 2)
    v = (-XX * math.sin(a) + YY * math.cos(a)) / cell + rng.uniform(0, 2)
    su = np.minimum(u - np.floor(u), np.ceil(u) - u) * cell  # distance to the nearest cell edge
    sv = np.minimum(v - np.floor(v), np.ceil(v) - v) * cell
    parity = (np.floor(u) + np.floor(v)) % 2 * 2 - 1
    return _soft(parity * np.minimum(su, sv))


def _gradient(rng: np.random.Generator) -> np.ndarray:
    a = rng.uniform(0, 2 * math.pi)
    t = ((XX - SIZE / 2) * math.cos(a) + (YY - SIZE / 2) * math.sin(a)) / (SIZE * rng.uniform(0.5, 1.0))
    t = np.clip(t + 0.5, 0, 1)
    return t if rng.random() < 0.5 else t * t * (3 - 2 * t)


def make_image(rng: np.random.Generator, cls: int) -> np.ndarray:
    """One (32, 32, 3) uint8 RGB image of class ``cls``."""
    name = CLASSES[cls]
    if name == "hstripes":
        alpha = _stripes(rng, rng.uniform(-0.35, 0.35))
    elif name == "vstripes":
        alpha = _stripes(rng, math.pi / 2 + rng.uniform(-0.35, 0.35))
    elif name == "disc":
        alpha = _disc(rng)
    elif name == "cross":
        alpha = _cross(rng)
    elif name == "checker":
        alpha = _checker(rng)
    elif name == "gradient":
        alpha = _gradient(rng)
    else:
        raise ValueError(name)
    bg, fg = _colour_pair(rng)
    img = bg + alpha[..., None] * (fg - bg)
    # uneven lighting: a random linear ramp over the whole image
    ramp = rng.uniform(-0.25, 0.25, size=2)
    light = 1 + ramp[0] * (XX / SIZE - 0.5) * 2 + ramp[1] * (YY / SIZE - 0.5) * 2
    img = img * light[..., None]
    img = img + rng.normal(0, rng.uniform(3, 22), size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_set(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    images = np.stack([make_image(rng, int(c)) for c in labels])
    return images, labels


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 RGB -> (N, 3, 32, 32) float32 BGR, (x - mean) * norm, as ncnn2table does."""
    bgr = rgb[..., ::-1].astype(np.float32)
    return np.ascontiguousarray(((bgr - MEAN) * NORM).transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------------------------
# The network in numpy: forward and backward by hand. Activations are NHWC inside (channels last
# makes im2col and depthwise products contiguous); weights keep ncnn's (out, in, kh, kw) layout.


def _wmat(w: np.ndarray) -> np.ndarray:
    """(O, C, k, k) -> (O, k*k*C), matching the (ki, kj, c) column order of _im2col."""
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def _im2col(x: np.ndarray, k: int) -> np.ndarray:
    """(N, H, W, C) -> (N*H*W, k*k*C) for a stride-1 'same' convolution."""
    if k == 1:
        return x.reshape(-1, x.shape[3])
    n, h, w, c = x.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    cols = np.empty((n, h, w, k, k, c), np.float32)
    for i in range(k):
        for j in range(k):
            cols[:, :, :, i, j, :] = xp[:, i:i + h, j:j + w, :]
    return cols.reshape(n * h * w, k * k * c)


def _col2im(dcols: np.ndarray, shape: tuple[int, ...], k: int) -> np.ndarray:
    n, h, w, c = shape
    if k == 1:
        return dcols.reshape(shape)
    p = k // 2
    d = dcols.reshape(n, h, w, k, k, c)
    dxp = np.zeros((n, h + 2 * p, w + 2 * p, c), np.float32)
    for i in range(k):
        for j in range(k):
            dxp[:, i:i + h, j:j + w, :] += d[:, :, :, i, j, :]
    return dxp[:, p:p + h, p:p + w, :]


def conv_fwd(x, w, b):
    n, h, wd, _ = x.shape
    cols = _im2col(x, w.shape[2])
    y = cols @ _wmat(w).T
    if b is not None:
        y += b
    return y.reshape(n, h, wd, -1), cols


def conv_bwd(dy, cols, x_shape, w, need_dx=True):
    o, c, k, _ = w.shape
    dym = dy.reshape(-1, o)
    # OpenBLAS is much slower on a transposed operand with this long a reduction
    dwm = np.ascontiguousarray(dym.T) @ cols
    dw = dwm.reshape(o, k, k, c).transpose(0, 3, 1, 2)
    dx = _col2im(dym @ _wmat(w), x_shape, k) if need_dx else None
    return dx, dw, dym.sum(0)


def dw_fwd(x, w, b):
    """Depthwise 3x3 'same' convolution; w is (C, 1, 3, 3)."""
    h, wd = x.shape[1:3]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y = np.zeros_like(x)
    for i in range(3):
        for j in range(3):
            y += xp[:, i:i + h, j:j + wd, :] * w[:, 0, i, j]
    return y + b, xp


def dw_bwd(dy, xp, w):
    h, wd = dy.shape[1:3]
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(3):
        for j in range(3):
            win = xp[:, i:i + h, j:j + wd, :]
            dw[:, 0, i, j] = (dy * win).sum((0, 1, 2))
            dxp[:, i:i + h, j:j + wd, :] += dy * w[:, 0, i, j]
    return dxp[:, 1:-1, 1:-1, :], dw, dy.sum((0, 1, 2))


_QUAD = [(0, 0), (0, 1), (1, 0), (1, 1)]


def pool_fwd(x):
    """2x2 max pooling, stride 2."""
    m = x[:, 0::2, 0::2]
    for i, j in _QUAD[1:]:
        m = np.maximum(m, x[:, i::2, j::2])
    return m, x


def pool_bwd(dy, m, x):
    dx = np.zeros_like(x)
    taken = np.zeros(m.shape, bool)
    for i, j in _QUAD:  # the gradient goes to the first maximum, as argmax would pick
        sel = (x[:, i::2, j::2] == m) & ~taken
        dx[:, i::2, j::2] = dy * sel
        taken |= sel
    return dx


@dataclass
class Net:
    p: dict[str, np.ndarray]
    bn_mean: np.ndarray
    bn_var: np.ndarray

    @staticmethod
    def init(rng: np.random.Generator, n_cls: int) -> Net:
        def he(*shape):
            fan_in = int(np.prod(shape[1:]))
            return (rng.normal(0, math.sqrt(2 / fan_in), size=shape)).astype(np.float32)

        def z(n):
            return np.zeros(n, np.float32)

        p = {
            "w1": he(C1, 3, 3, 3), "g1": np.ones(C1, np.float32), "be1": z(C1),
            "w2": he(C2, C1, 3, 3), "b2": z(C2),
            "w3a": he(C3A, C2, 1, 1), "b3a": z(C3A),
            "w3b": he(C3B, C2, 3, 3), "b3b": z(C3B),
            "w4": he(C4, 1, 3, 3), "b4": z(C4),
            "wf": (rng.normal(0, math.sqrt(1 / C4), size=(n_cls, C4))).astype(np.float32), "bf": z(n_cls),
        }
        return Net(p, z(C1), np.ones(C1, np.float32))

    def forward(self, x_nchw: np.ndarray, train: bool):
        p, c = self.p, {}
        x = np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1))
        c["x_shape"] = x.shape
        y1, c["cols1"] = conv_fwd(x, p["w1"], None)
        if train:
            mu, var = y1.mean((0, 1, 2)), y1.var((0, 1, 2))
        else:
            mu, var = self.bn_mean, self.bn_var
        inv = (1 / np.sqrt(var + BN_EPS)).astype(np.float32)
        xhat = (y1 - mu) * inv
        c["xhat"], c["inv"], c["mu"], c["var"] = xhat, inv, mu, var
        a1 = np.maximum(xhat * p["g1"] + p["be1"], 0)
        q1, c["a1"] = pool_fwd(a1)
        c["q1"] = q1
        y2, c["cols2"] = conv_fwd(q1, p["w2"], p["b2"])
        a2 = np.maximum(y2, 0)
        c["a2"] = a2
        y3a, c["cols3a"] = conv_fwd(a2, p["w3a"], p["b3a"])
        y3b, c["cols3b"] = conv_fwd(a2, p["w3b"], p["b3b"])
        a3 = np.maximum(np.concatenate([y3a, y3b], 3), 0)
        q3, c["a3"] = pool_fwd(a3)
        c["q3"] = q3
        y4, c["xp4"] = dw_fwd(q3, p["w4"], p["b4"])
        a4 = np.maximum(y4, 0)
        c["a4"] = a4
        g = a4.mean((1, 2))
        c["g"] = g
        logits = g @ p["wf"].T + p["bf"]
        return logits, c

    def backward(self, dlogits: np.ndarray, c) -> dict[str, np.ndarray]:
        p, gr = self.p, {}
        gr["wf"] = dlogits.T @ c["g"]
        gr["bf"] = dlogits.sum(0)
        dg = dlogits @ p["wf"]
        a4 = c["a4"]
        dy4 = (dg[:, None, None, :] / (a4.shape[1] * a4.shape[2])) * (a4 > 0)
        dq3, gr["w4"], gr["b4"] = dw_bwd(dy4.astype(np.float32), c["xp4"], p["w4"])
        a3 = c["a3"]
        da3 = pool_bwd(dq3, c["q3"], a3) * (a3 > 0)
        a2 = c["a2"]
        dx3a, gr["w3a"], gr["b3a"] = conv_bwd(np.ascontiguousarray(da3[..., :C3A]), c["cols3a"], a2.shape, p["w3a"])
        dx3b, gr["w3b"], gr["b3b"] = conv_bwd(np.ascontiguousarray(da3[..., C3A:]), c["cols3b"], a2.shape, p["w3b"])
        dy2 = (dx3a + dx3b) * (a2 > 0)
        dq1, gr["w2"], gr["b2"] = conv_bwd(dy2, c["cols2"], c["q1"].shape, p["w2"])
        a1 = c["a1"]
        da1 = pool_bwd(dq1, c["q1"], a1) * (a1 > 0)
        xhat, inv = c["xhat"], c["inv"]
        gr["g1"] = (da1 * xhat).sum((0, 1, 2))
        gr["be1"] = da1.sum((0, 1, 2))
        dxhat = da1 * p["g1"]
        m = dxhat.shape[0] * dxhat.shape[1] * dxhat.shape[2]
        dy1 = (inv / m) * (m * dxhat - dxhat.sum((0, 1, 2)) - xhat * (dxhat * xhat).sum((0, 1, 2)))
        _, gr["w1"], _ = conv_bwd(dy1.astype(np.float32), c["cols1"], c["x_shape"], p["w1"], need_dx=False)
        return gr

    def predict(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        """Softmax probabilities in inference mode; ``x`` is (N, 3, 32, 32) as fed to ncnn."""
        out = []
        for i in range(0, len(x), batch):
            logits, _ = self.forward(x[i:i + batch], train=False)
            out.append(softmax(logits))
        return np.concatenate(out)

def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def train(net: Net, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, rng: np.random.Generator,
          epochs: int, batch: int = 64, lr: float = 6e-3, wd: float = 1e-4) -> None:
    m = {k: np.zeros_like(v) for k, v in net.p.items()}
    v2 = {k: np.zeros_like(v) for k, v in net.p.items()}
    b1, b2 = 0.9, 0.999
    steps = epochs * (len(x) // batch)
    step = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(len(x))
        loss_sum = 0.0
        for bi in range(len(x) // batch):
            idx = order[bi * batch:(bi + 1) * batch]
            xb = x[idx]
            if rng.random() < 0.5:  # flips keep every class a class (stripes stay horizontal/vertical)
                xb = xb[:, :, :, ::-1]
            if rng.random() < 0.5:
                xb = xb[:, :, ::-1, :]
            logits, cache = net.forward(np.ascontiguousarray(xb), train=True)
            # running statistics for inference
            net.bn_mean = 0.9 * net.bn_mean + 0.1 * cache["mu"]
            net.bn_var = 0.9 * net.bn_var + 0.1 * cache["var"]
            prob = softmax(logits)
            loss_sum += float(-np.log(prob[np.arange(batch), y[idx]] + 1e-12).mean())
            dlogits = prob
            dlogits[np.arange(batch), y[idx]] -= 1
            grads = net.backward((dlogits / batch).astype(np.float32), cache)
            step += 1
            lr_t = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            for k, g in grads.items():
                if k.startswith("w"):
                    g = g + wd * net.p[k]
                m[k] = b1 * m[k] + (1 - b1) * g
                v2[k] = b2 * v2[k] + (1 - b2) * g * g
                mh = m[k] / (1 - b1 ** step)
                vh = v2[k] / (1 - b2 ** step)
                net.p[k] -= (lr_t * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        acc = accuracy(net.predict(xv), yv)
        print(f"epoch {epoch + 1:2d}/{epochs}: loss {loss_sum / (len(x) // batch):.4f}, "
              f"held-out accuracy {acc:.2%} ({time.perf_counter() - t0:.1f} s)", flush=True)


def accuracy(prob: np.ndarray, y: np.ndarray) -> float:
    return float((prob.argmax(-1) == y).mean())


def print_confusion(prob: np.ndarray, y: np.ndarray) -> None:
    conf = np.zeros((len(CLASSES), len(CLASSES)), int)
    np.add.at(conf, (y, prob.argmax(-1)), 1)
    width = max(map(len, CLASSES))
    print("confusion (rows: true class, columns: predicted):")
    print(" " * (width + 1) + " ".join(f"{c[:8]:>8}" for c in CLASSES))
    for name, row in zip(CLASSES, conf):
        print(f"{name:>{width}} " + " ".join(f"{v:8d}" for v in row))


def set_population_stats(net: Net, x: np.ndarray) -> None:
    """Replace the running BatchNorm statistics with exact ones over ``x`` (what inference should use)."""
    x = x.transpose(0, 2, 3, 1)
    y1 = np.concatenate([conv_fwd(x[i:i + 256], net.p["w1"], None)[0] for i in range(0, len(x), 256)])
    net.bn_mean = y1.mean((0, 1, 2), dtype=np.float64).astype(np.float32)
    net.bn_var = y1.var((0, 1, 2), dtype=np.float64).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Writing the model with ncnnq, and the sample images

PARAM = """7767517
15 16
Input                    data                     0 1 data 0=32 1=32 2=3
Convolution              conv1                    1 1 data conv1 0={c1} 1=3 4=1 5=0 6={w1}
BatchNorm                bn1                      1 1 conv1 bn1 0={c1} 1=0.00001
ReLU                     relu1                    1 1 bn1 relu1
Pooling                  pool1                    1 1 relu1 pool1 0=0 1=2 2=2
Convolution              conv2                    1 1 pool1 conv2 0={c2} 1=3 4=1 5=1 6={w2} 9=1
Split                    splitncnn_0              1 2 conv2 conv2_splitncnn_0 conv2_splitncnn_1
Convolution              conv3a                   1 1 conv2_splitncnn_0 conv3a 0={c3a} 1=1 5=1 6={w3a} 9=1
Convolution              conv3b                   1 1 conv2_splitncnn_1 conv3b 0={c3b} 1=3 4=1 5=1 6={w3b} 9=1
Concat                   cat3                     2 1 conv3a conv3b cat3
Pooling                  pool3                    1 1 cat3 pool3 0=0 1=2 2=2
ConvolutionDepthWise     dw4                      1 1 pool3 dw4 0={c4} 1=3 4=1 5=1 6={w4} 7={c4} 9=1
Pooling                  gap                      1 1 dw4 gap 0=1 4=1
InnerProduct             fc                       1 1 gap fc 0={ncls} 1=1 2={fcw}
Softmax                  prob                     1 1 fc prob
"""


def write_model(net: Net, param: Path, bin_path: Path) -> None:
    import ncnnq

    p = net.p
    text = PARAM.format(c1=C1, w1=C1 * 27, c2=C2, w2=C2 * C1 * 9, c3a=C3A, w3a=C3A * C2, c3b=C3B,
                        w3b=C3B * C2 * 9, c4=C4, w4=C4 * 9, ncls=len(CLASSES), fcw=len(CLASSES) * C4)
    model = ncnnq.Model.from_bytes(text.encode(), name="tinynet.param").with_random_weights(SEED)
    weights = {
        ("conv1", "weight"): p["w1"],
        ("bn1", "slope"): p["g1"], ("bn1", "mean"): net.bn_mean, ("bn1", "var"): net.bn_var,
        ("bn1", "bias"): p["be1"],
        ("conv2", "weight"): p["w2"], ("conv2", "bias"): p["b2"],
        ("conv3a", "weight"): p["w3a"], ("conv3a", "bias"): p["b3a"],
        ("conv3b", "weight"): p["w3b"], ("conv3b", "bias"): p["b3b"],
        ("dw4", "weight"): p["w4"], ("dw4", "bias"): p["b4"],
        ("fc", "weight"): p["wf"], ("fc", "bias"): p["bf"],
    }
    for (layer, name), value in weights.items():
        model.layer(layer).set_weight(name, np.ascontiguousarray(value, np.float32).ravel())
    # every array the params describe must have been set from the trained net
    expected = {(layer.name, name) for layer in model.layers for name in layer.weights}
    assert expected == set(weights), expected ^ set(weights)
    model.save(param, bin_path, storage="fp32")


def write_images(images: np.ndarray, labels: np.ndarray, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    paths = []
    lines = []
    for i, (img, cls) in enumerate(zip(images, labels)):
        path = folder / f"img_{i:02d}.png"
        Image.fromarray(img, "RGB").save(path, optimize=True)
        paths.append(path)
        lines.append(f"{path.name} {CLASSES[int(cls)]}\n")
    (folder / "labels.txt").write_text("".join(lines))
    return paths


# ---------------------------------------------------------------------------------------------
# Checking what was written


def verify(net: Net, param: Path, bin_path: Path, paths: list[Path], labels: np.ndarray) -> None:
    import ncnn

    import ncnnq

    rgb = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    x = preprocess(rgb)
    ours = net.predict(x)

    ncnn_net = ncnn.Net()
    ncnn_net.opt.use_fp16_storage = False
    ncnn_net.opt.use_fp16_packed = False
    ncnn_net.opt.use_fp16_arithmetic = False
    ncnn_net.opt.use_bf16_storage = False
    assert ncnn_net.load_param(str(param)) == 0 and ncnn_net.load_model(str(bin_path)) == 0, "ncnn cannot load it"
    theirs = []
    for xi in x:
        ex = ncnn_net.create_extractor()
        ex.input("data", ncnn.Mat(np.ascontiguousarray(xi)))
        ret, out = ex.extract("prob")
        assert ret == 0, f"ncnn failed on {paths[len(theirs)]}"
        theirs.append(np.array(out).ravel())
    theirs = np.stack(theirs)
    diff = float(np.abs(theirs - ours).max())
    print(f"ncnn vs numpy model: max |prob difference| {diff:.2e}")
    assert diff < 1e-4, "the written weights do not reproduce the trained model in ncnn"
    acc = accuracy(theirs, labels)
    print(f"ncnn top-1 on the {len(paths)} shipped images: {acc:.2%}")
    assert acc >= 0.9, "ncnn's top-1 on the shipped images is below 90%"

    try:
        engine = ncnnq.Net(param, bin_path)
    except ncnnq.UnsupportedLayerError as e:
        print(f"ncnnq.Net not compared: {e}")
        return
    mine = np.stack([engine.run({"data": xi}, ["prob"])["prob"].ravel() for xi in x])
    diff = float(np.abs(mine - theirs).max())
    print(f"ncnnq.Net vs ncnn: max |prob difference| {diff:.2e}")
    assert diff < 1e-4, "ncnnq.Net disagrees with ncnn"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "tinynet", help="fixture folder")
    ap.add_argument("--train", type=int, default=9600, help="training images")
    ap.add_argument("--epochs", type=int, default=16)
    args = ap.parse_args()

    rng = np.random.default_rng(SEED)
    data_rng, init_rng, train_rng, ship_rng = rng.spawn(4)
    t0 = time.perf_counter()
    xtr_u8, ytr = make_set(data_rng, args.train)
    xva_u8, yva = make_set(data_rng, 3000)
    xtr, xva = preprocess(xtr_u8), preprocess(xva_u8)
    print(f"task: {len(CLASSES)} classes, {len(xtr)} training and {len(xva)} held-out images "
          f"({time.perf_counter() - t0:.1f} s)")

    net = Net.init(init_rng, len(CLASSES))
    train(net, xtr, ytr, xva, yva, train_rng, args.epochs)
    set_population_stats(net, xtr[:4000])
    prob = net.predict(xva)
    print(f"held-out accuracy (numpy, fp32, {len(xva)} images): {accuracy(prob, yva):.2%}")
    print_confusion(prob, yva)

    ship_u8, ship_y = make_set(ship_rng, 8 * len(CLASSES))
    args.out.mkdir(parents=True, exist_ok=True)
    param, bin_path = args.out / "tinynet.param", args.out / "tinynet.bin"
    write_model(net, param, bin_path)
    paths = write_images(ship_u8, ship_y, args.out / "images")
    size = param.stat().st_size + bin_path.stat().st_size + sum(p.stat().st_size for p in paths)
    print(f"wrote {param}, {bin_path} and {len(paths)} images ({size / 1024:.0f} KB in all)")
    verify(net, param, bin_path, paths, ship_y)


if __name__ == "__main__":
    main()
