"""Type stubs and API documentation of the native module ``ncnnq._native``.

Everything here is re-exported by ``ncnnq``; import it from there.
"""

from os import PathLike
from typing import Union

import numpy as np
import numpy.typing as npt

__version__: str

StrPath = Union[str, PathLike[str]]
ParamValue = Union[int, float, str, list[int], list[float]]

def kernel_info() -> dict[str, object]:
    """This build's CPU dispatch: ``{"arch": "aarch64", "features": ["neon", "dotprod", ...],
    "families": {"f32": {...}, "i8": {"chosen": "dotprod", "paths": [{"name", "needs",
    "available"}, ...]}}}``. ``f32`` is the path every f32 kernel shares, ``i8`` the one every int8
    kernel shares (``int8_kernel()``). Paths are listed best first; a family runs the first
    available one unless ``NCNNQ_KERNEL=<path>`` (every family with a path of that name) or
    ``NCNNQ_KERNEL_I8=<path>`` (int8) forces another."""

class Model:
    """An ncnn model: layers in file order, blobs, params and weights.

    Weights are exposed as read-only numpy views that share memory with the model.
    """

    @staticmethod
    def load(param: StrPath, bin: StrPath | None = None) -> Model:
        """Load a ``.param`` (text or binary, detected from content) and optionally its ``.bin``.

        Raises ``ParamError`` (file, line, layer named), ``WeightsError`` (layer and byte offset
        named; also for a truncated ``.bin`` or trailing bytes) or ``FileError``.
        """
    @staticmethod
    def from_bytes(param: bytes, bin: bytes | None = None, name: str = "<memory>") -> Model:
        """Parse a model held in memory; ``name`` appears in error messages."""
    def with_random_weights(self, seed: int = 7767517) -> Model:
        """A copy whose every weight array holds seeded random values (for weightless params)."""
    def save(
        self,
        param: StrPath,
        bin: StrPath | None = None,
        storage: str = "keep",
        binary: bool = False,
    ) -> None:
        """Write the model with ncnn's writer conventions, atomically (temp file + rename).

        ``storage`` applies to tagged float arrays: ``"keep"`` (as loaded), ``"fp32"`` or
        ``"fp16"``. int8 arrays stay int8. ``binary=True`` writes a ``.param.bin``.
        """
    def param_text(self) -> str:
        """The text ``.param`` this model would be saved as."""
    def bin_bytes(self, storage: str = "keep") -> bytes:
        """The ``.bin`` this model would be saved as."""
    @property
    def layers(self) -> list[Layer]:
        """Every layer, in file order."""
    def layer(self, name: str) -> Layer:
        """The layer with this name (``InputError`` if none)."""
    def __len__(self) -> int: ...
    @property
    def blobs(self) -> list[str]:
        """Blob names, in the order they are produced."""
    def blob_shape(self, name: str) -> tuple[int, int, int, int, int] | None:
        """The ``-23330`` shape hint of a blob as (dims, w, h, d, c), or None."""
    @property
    def inputs(self) -> list[str]:
        """Blobs produced by Input layers."""
    @property
    def outputs(self) -> list[str]:
        """Blobs that no layer consumes."""
    @property
    def warnings(self) -> list[str]:
        """Non-fatal findings from loading (ignored trailing layers, type-confused params, …)."""
    @property
    def has_weights(self) -> bool:
        """Whether every layer holds the weight arrays its params describe."""

def optimize(
    model: Model,
    fp16: bool = False,
    cut_start: str | None = None,
    cut_end: str | None = None,
    shape_inference: bool = True,
) -> tuple[Model, dict[str, object]]:
    """ncnnoptimize's passes (see ``ncnnq.optimize``, which types the report): returns the
    optimized model and the report as plain dicts and lists. Raises ``InputError`` for an unknown
    cut layer or a model without weights."""

class Layer:
    """A view of one layer of a :class:`Model`."""

    @property
    def index(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def bottoms(self) -> list[str]: ...
    @property
    def tops(self) -> list[str]: ...
    @property
    def params(self) -> dict[int, ParamValue]:
        """Parameters as written in the file (defaults are not filled in)."""
    def param(self, id: int) -> ParamValue | None:
        """A parameter's effective value: as written, or the layer type's default."""
    @property
    def param_names(self) -> list[tuple[int, str]]:
        """(id, name) of every parameter ncnn defines for this layer type."""
    @property
    def expressions(self) -> dict[int, str]:
        """{id: infix text} of the layer's shape expressions (``96 // @0.n``; ``@k`` is input k)."""
    @property
    def key_params(self) -> list[int]:
        """Ids of the parameters ``ncnnq info`` shows."""
    def set_param(self, id: int, value: ParamValue) -> None:
        """Set parameter ``id`` (0..29); ints stay ints, floats floats."""
    @property
    def weights(self) -> dict[str, npt.NDArray[np.float32] | npt.NDArray[np.float16] | npt.NDArray[np.int8]]:
        """Weight arrays by name (``weight``, ``bias``, ``slope``, …) as read-only views."""
    @property
    def weight_storage(self) -> list[tuple[str, str]]:
        """(name, storage) per array: ``fp32``, ``fp16``, ``int8`` or ``codebook``."""
    def set_weight(self, name: str, values: npt.ArrayLike) -> None:
        """Copy values into an existing array (same length), converted to its storage."""

class Net:
    """The inference engine on a model (fp32 now; int8 layers as the quantizer writes them).

    ``Net(model)`` takes a :class:`Model`; ``Net(param, bin)`` loads files. A layer type the engine
    lacks raises ``UnsupportedLayerError`` here, naming the layer.
    """

    def __init__(self, model: Model | StrPath, bin: StrPath | None = None, threads: int = 1) -> None: ...
    @property
    def threads(self) -> int: ...
    def run(self, inputs: dict[str, npt.NDArray[np.float32]], outputs: list[str]) -> dict[str, npt.NDArray[np.float32]]:
        """Feed blobs (C-contiguous float32 arrays in numpy order: (w,), (h, w), (c, h, w) or
        (c, d, h, w)) and return the requested blobs. Any blob may be fed or extracted. The GIL
        is released while the network runs. A blob ncnn leaves empty (a detection layer that
        found nothing) comes back as an array of shape (0,)."""

def from_pixels(
    pixels: npt.NDArray[np.uint8],
    pixel_from: str,
    pixel_to: str,
    width: int,
    height: int,
    mean: list[float] = ...,
    norm: list[float] = ...,
) -> npt.NDArray[np.float32]:
    """Interleaved 8-bit pixels (h, w[, c]) to a float (c, height, width) tensor, exactly as
    ``ncnn::Mat::from_pixels_resize`` + ``substract_mean_normalize`` do it: ncnn's fixed-point
    bilinear resize, its pixel conversions (RGB, BGR, GRAY, RGBA, BGRA; integer luma), then
    ``(x - mean[c]) * norm[c]``. The GIL is released."""

class StatsCollector:
    """Activation statistics of some blobs of a model over a calibration set, collected while the
    fp32 engine runs, in parallel across samples on ``threads`` threads. Results do not depend on
    the thread count or on the order samples arrive in.

    ``mode``: ``"absmax"``; ``"histogram"`` (absmax and a 65536-bin widening histogram in one
    pass); ``"linear"`` (ncnn2table's pass 2: a 2048-bin histogram over [0, absmax) with the given
    ``absmax`` per blob).
    """

    def __init__(
        self, model: Model, blobs: list[str], mode: str = "histogram", absmax: list[float] | None = None, threads: int = 1
    ) -> None: ...
    def add(self, samples: list[dict[str, npt.NDArray[np.float32]]]) -> None:
        """Runs a batch of samples and merges their statistics. A failing sample raises with
        ``sample_index`` (its position in the batch) set on the exception."""
    @property
    def samples(self) -> int: ...
    def result(self) -> dict[str, dict[str, object]]:
        """{blob: {"absmax", "elements", "non_finite", "histogram", "histogram_range", "linear"}}."""

def conv_patches(
    model: Model, layer: str, input: npt.NDArray[np.float32], count: int, seed: int = 0
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint64]]:
    """im2col columns (c·kh·kw, n) of a Convolution/ConvolutionDepthWise input at up to ``count``
    sampled output positions, with the layer's padding; and those positions (oy·outw + ox)."""

def int8_gemm(
    w: npt.NDArray[np.int8],
    x: npt.NDArray[np.int8],
    scale: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32] | None = None,
    threads: int = 1,
) -> npt.NDArray[np.float32]:
    """``(w @ x) * scale[:, None] + bias[:, None]`` in float32 (product, then sum), with int8 ``w``
    (m, k) and ``x`` (k, n) multiplied exactly by the int8 kernels: the ``eq`` search's int8 layer."""

def quantize_model(
    model: Model, weights: dict[str, list[float]], activations: dict[str, float]
) -> tuple[Model, dict[str, list]]:
    """ncnn2int8's rewrite with a table's scales. Use ``ncnnq.quantize`` instead."""

def int8_kernel() -> str:
    """The int8 kernel path this process runs: ``avx512vnni``, ``avxvnni``, ``avx2``, ``dotprod``,
    ``neon`` or ``reference``. Chosen once, the best this CPU has, unless ``NCNNQ_KERNEL_I8``
    (or ``NCNNQ_KERNEL`` naming an int8 path) forces one; a forced path the CPU lacks falls back
    to the best with a warning, and this function names the path that really runs."""

def int8_kernels_available() -> list[str]:
    """Every int8 kernel path this CPU can run, best first (``reference`` last)."""

def kernel_calls() -> list[tuple[str, str, int]]:
    """(kind, path, calls) for each int8 kernel that ran in this process so far; kinds are
    ``gemm`` (convolutions), ``depthwise`` and ``gemv`` (inner products)."""
