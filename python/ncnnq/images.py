"""Calibration inputs: images decoded with Pillow and turned into the tensors real ncnn builds
(ncnn2table: 8-bit BGR, ncnn's fixed-point bilinear resize, pixel conversion, mean/norm), and
``.npy`` inputs checked against the expected shape."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import _native
from .errors import ImageError, InputError, OutOfMemoryError

#: Channels of the tensor each ``pixel`` format gives (``RAW``: ``.npy`` inputs, taken as they are).
PIXEL_CHANNELS = {"BGR": 3, "RGB": 3, "GRAY": 1, "RGBA": 4, "BGRA": 4, "RAW": 0}


@dataclass(frozen=True)
class InputSpec:
    """How one network input is made from a file, in ncnn2table's terms. Checked when made: a
    known ``pixel`` format, ``mean`` and ``norm`` with none or one value per channel of that
    format, 1 to 4 ``shape`` values that fit ncnn's 32-bit ints."""

    shape: tuple[int, ...]
    """ncnn order: [w, h] or [w, h, c] for images (c is ignored); [w], [w,h], [w,h,c], [w,h,d,c] for npy."""
    pixel: str = "BGR"
    mean: tuple[float, ...] = ()
    norm: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.pixel not in PIXEL_CHANNELS:
            raise InputError(f"pixel={self.pixel}: must be one of {', '.join(PIXEL_CHANNELS)}")
        if not 1 <= len(self.shape) <= 4 or not all(-(2**31) <= int(v) < 2**31 for v in self.shape):
            raise InputError(f"shape={list(self.shape)}: expected 1 to 4 integers (32-bit)")
        channels = PIXEL_CHANNELS[self.pixel]
        for what, values in (("mean", self.mean), ("norm", self.norm)):
            if self.pixel != "RAW" and len(values) not in (0, channels):
                raise InputError(
                    f"{what} has {len(values)} values but pixel={self.pixel} gives {channels} channel"
                    f"{'s' if channels > 1 else ''}"
                )


def read_rgb(path: Path) -> np.ndarray:
    """Decodes an image into 8-bit RGB (height, width, 3), like ncnn2table's decoder: alpha is
    dropped, grey and palette images are expanded, 16-bit images reduced to 8 bits. EXIF
    orientation is not applied (ncnn's stb_image decoder ignores it)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                wide = np.asarray(im, dtype=np.uint32)
                gray = (wide >> 8 if wide.max(initial=0) > 255 else wide).astype(np.uint8)
                rgb = np.repeat(gray[:, :, None], 3, axis=2)
            elif im.mode == "F":
                gray = np.clip(np.asarray(im), 0, 255).astype(np.uint8)
                rgb = np.repeat(gray[:, :, None], 3, axis=2)
            elif im.mode == "RGB":
                rgb = np.asarray(im)  # convert("RGB") would copy the image once more
            else:
                rgb = np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise ImageError(f"{path}: cannot read image ({e})") from e
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: image too large to decode ({e})") from e
    except MemoryError:
        raise OutOfMemoryError(f"{path}: out of memory decoding the image") from None
    return np.ascontiguousarray(rgb)


def target_size(width: int, height: int, shape: tuple[int, ...]) -> tuple[int, int]:
    """ncnn2table's resize target from ``shape=[w,h,...]``: both given, one given (aspect kept,
    truncated), or none (no resize)."""
    w, h = [*shape, 0, 0][:2]
    if w > 0 and h > 0:
        return w, h
    if w <= 0 and h <= 0:
        return width, height
    if h <= 0:
        s = width / w
        return w, int(height / s)
    s = height / h
    return int(width / s), h


def image_tensor(path: Path, spec: InputSpec) -> np.ndarray:
    """The float32 (c, h, w) tensor ncnn2table feeds for this image."""
    if spec.pixel == "RAW":
        raise ImageError(f"{path}: pixel=RAW cannot be used with images (only with type=1 .npy inputs)")
    rgb = read_rgb(path)
    w, h = target_size(rgb.shape[1], rgb.shape[0], spec.shape)
    if w <= 0 or h <= 0:
        raise ImageError(f"{path}: shape {list(spec.shape)} gives an empty image")
    # ncnn resizes the BGR image, then converts; the resize treats channels independently, so
    # resizing the RGB order and converting from RGB gives the same tensor without a copy.
    try:
        return _native.from_pixels(rgb, "RGB", spec.pixel, w, h, list(spec.mean), list(spec.norm))
    except OutOfMemoryError as e:
        raise OutOfMemoryError(f"{path}: resizing to {w}x{h}: {e}") from None


def npy_tensor(path: Path, spec: InputSpec) -> np.ndarray:
    """A ``.npy`` input: float32, with the numpy shape equal to ``shape`` reversed."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ImageError(f"{path}: cannot read .npy ({e})") from e
    except MemoryError:
        raise OutOfMemoryError(f"{path}: out of memory reading the .npy") from None
    if array.dtype != np.float32:
        raise ImageError(f"{path}: .npy inputs must be float32, this one is {array.dtype}")
    expected = tuple(reversed(spec.shape))
    if array.shape != expected:
        raise ImageError(
            f"{path}: shape {array.shape} does not match shape={list(spec.shape)} (numpy order {expected})"
        )
    return np.ascontiguousarray(array)
