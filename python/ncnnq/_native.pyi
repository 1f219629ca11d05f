"""Type stubs and API documentation of the native module ``ncnnq._native``.

``ncnnq`` re-exports ``Model``, ``Layer``, ``Net``, ``OptimizeReport``, ``QuantizeReport``,
``from_pixels``, ``kernel_info``, ``int8_kernel``, ``int8_kernels_available``, ``kernel_calls`` and
``__version__``: import them from there. The other
names are building blocks that ncnnq's Python modules wrap (``ncnnq.optimize``, ``ncnnq.quantize``,
``ncnnq.calibrate``); ``tests/test_stubs.py`` holds both to this.
"""

from os import PathLike
from typing import final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_THREADS",
    "BlobStats",
    "Counts",
    "Layer",
    "LayerProbe",
    "Model",
    "Net",
    "NetworkProbe",
    "OptimizeReport",
    "PassResult",
    "Patches",
    "QuantizeReport",
    "ShapeInferenceResult",
    "StatsCollector",
    "__version__",
    "check_outputs",
    "from_pixels",
    "int8_kernel",
    "int8_kernels_available",
    "kernel_calls",
    "kernel_info",
    "optimize",
    "quantize_model",
    "write_outputs",
]

__version__: str
MAX_THREADS: int
"""The largest thread count ``Net``, ``StatsCollector`` and calibration accept (1024)."""

_StrPath = str | PathLike[str]
_ParamValue = int | float | str | list[int] | list[float]

def kernel_info() -> dict[str, object]:
    """This build's CPU dispatch: ``{"arch": "aarch64", "features": ["neon", "dotprod", ...],
    "families": {"f32": {...}, "i8": {"var": "NCNNQ_KERNEL_I8", "chosen": "dotprod", "paths":
    [{"name", "needs", "available"}, ...]}}}``, one entry per kernel family: ``f32`` is the path
    every float kernel shares, ``i8`` the one every int8 kernel shares (``int8_kernel()``). Paths
    are the ones this build compiles, best first; a family runs the first available one, chosen
    once per process, unless its ``var`` (``NCNNQ_KERNEL_F32``, ``NCNNQ_KERNEL_I8``) or
    ``NCNNQ_KERNEL`` (every family that has a path of that name) forces another; a forced path
    the CPU lacks falls back to the best one with a warning."""

@final
class Model:
    """An ncnn model: layers in file order, blobs, params and weights.

    Weights are exposed as read-only numpy views that share memory with the model.
    """

    @staticmethod
    def load(param: _StrPath, bin: _StrPath | None = None) -> Model:
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
        param: _StrPath,
        bin: _StrPath | None = None,
        storage: str = "keep",
        binary: bool = False,
    ) -> None:
        """Write the model with ncnn's writer conventions through ncnnq's one writer
        (``ncnnq.output``): both files together or neither, a regular file replaced through a
        temporary file and a rename, a device or FIFO written in place, a symlink followed.
        Raises ``FileError`` naming the path (missing folder, a folder, param and bin the same file).

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
    def check_layer_names(self) -> None:
        """Raise ``InputError`` naming every layer name two layers share (with the ``.param``
        lines): calibration tables key layers by name, so such a model cannot be calibrated or
        quantized (loading and running it is allowed, with a warning in ``warnings``)."""
    @property
    def has_weights(self) -> bool:
        """Whether every layer holds the weight arrays its params describe."""

def optimize(
    model: Model,
    fp16: bool = False,
    cut_start: str | None = None,
    cut_end: str | None = None,
    shape_inference: bool = True,
) -> tuple[Model, OptimizeReport]:
    """ncnnoptimize's passes (``ncnnq.optimize`` is the documented entry point): the optimized
    model and the report. Raises ``InputError`` for an unknown cut layer or a model without
    weights."""

@final
class PassResult:
    """One optimizer pass: each match it rewrote (layer names, the surviving layer first) and the
    matches it declined where ncnn would have rewritten and computed something else."""

    @property
    def name(self) -> str: ...
    @property
    def fired(self) -> list[tuple[str, ...]]: ...
    @property
    def declined(self) -> list[str]:
        """Why each declined match was left alone."""
    @property
    def count(self) -> int:
        """How many times the pass fired."""

@final
class Counts:
    """A model's size: layers, blobs and the bytes of the ``.bin`` it is written as."""

    @property
    def layers(self) -> int: ...
    @property
    def blobs(self) -> int: ...
    @property
    def weight_bytes(self) -> int: ...

@final
class ShapeInferenceResult:
    """Whether shape inference ran; if not (``reason``), existing hints were kept and none added."""

    @property
    def ran(self) -> bool: ...
    @property
    def new_hints(self) -> int: ...
    @property
    def reason(self) -> str | None: ...

@final
class OptimizeReport:
    """What ``ncnnq optimize`` did: every pass in ncnnoptimize's order, counts before and after,
    shape inference, notes."""

    @property
    def passes(self) -> list[PassResult]: ...
    @property
    def before(self) -> Counts: ...
    @property
    def after(self) -> Counts: ...
    @property
    def shape_inference(self) -> ShapeInferenceResult: ...
    @property
    def notes(self) -> list[str]: ...
    @property
    def fired(self) -> list[PassResult]:
        """The passes that rewrote something, in pass order."""
    @property
    def declined(self) -> list[str]:
        """Every rewrite declined where ncnnoptimize would have made it, prefixed by its pass."""
    def pass_result(self, name: str) -> PassResult:
        """The pass named ``name`` (``InputError`` if there is none)."""

@final
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
    def params(self) -> dict[int, _ParamValue]:
        """Parameters as written in the file (defaults are not filled in)."""
    def param(self, id: int) -> _ParamValue | None:
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
    def set_param(self, id: int, value: _ParamValue) -> None:
        """Set parameter ``id`` (0..29), checked against the type the layer reads: an int given
        for a float parameter (or in a float array) becomes a float; any other mismatch, or an id
        the layer type does not read, raises ``LayerError``."""
    @property
    def weights(self) -> dict[str, npt.NDArray[np.float32] | npt.NDArray[np.float16] | npt.NDArray[np.int8]]:
        """Weight arrays by name (``weight``, ``bias``, ``slope``, …) as read-only views."""
    @property
    def weight_storage(self) -> list[tuple[str, str]]:
        """(name, storage) per array: ``fp32``, ``fp16``, ``int8`` or ``codebook``."""
    def set_weight(self, name: str, values: npt.ArrayLike) -> None:
        """Copy values into an existing array (same length), converted to its storage."""

@final
class Net:
    """The inference engine on a model (fp32 now; int8 layers as the quantizer writes them).

    ``Net(model)`` takes a :class:`Model`; ``Net(param, bin)`` loads files. A layer type the engine
    lacks raises ``UnsupportedLayerError`` here, naming the layer. ``threads``: 1 to
    ``MAX_THREADS``, else ``InputError``. A tensor that does not fit in memory raises
    ``OutOfMemoryError`` (a ``MemoryError``) naming the layer, instead of aborting.
    """

    def __new__(cls, model: Model | _StrPath, bin: _StrPath | None = None, threads: int = 1) -> Net: ...
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

@final
class StatsCollector:
    """Activation statistics of some blobs of a model over a calibration set, collected while the
    fp32 engine runs, in parallel across samples on ``threads`` threads. Results do not depend on
    the thread count or on the order samples arrive in.

    ``mode``: ``"absmax"``; ``"histogram"`` (absmax and a 65536-bin widening histogram in one
    pass); ``"linear"`` (ncnn2table's pass 2: a 2048-bin histogram over [0, absmax) with the given
    ``absmax`` per blob).
    """

    def __new__(
        cls,
        model: Model,
        blobs: list[str],
        mode: str = "histogram",
        absmax: list[float] | None = None,
        threads: int = 1,
    ) -> StatsCollector: ...
    def add(self, samples: list[dict[str, npt.NDArray[np.float32]]]) -> None:
        """Runs a batch of samples and merges their statistics. A failing sample raises with
        ``sample_index`` (its position in the batch) set on the exception."""
    @property
    def samples(self) -> int: ...
    def result(self) -> dict[str, BlobStats]:
        """The statistics of every watched blob so far, by blob name."""

@final
class BlobStats:
    """One blob's activation statistics over the samples a :class:`StatsCollector` saw."""

    @property
    def absmax(self) -> float:
        """The largest |value| seen."""
    @property
    def elements(self) -> int:
        """Elements of the blob in one sample (the largest seen)."""
    @property
    def non_finite(self) -> int:
        """NaN or infinite values seen (their samples add nothing to the histograms)."""
    @property
    def histogram(self) -> npt.NDArray[np.uint64] | None:
        """``"histogram"`` mode: the 65536-bin widening histogram of |x| over
        [0, ``histogram_range``), a read-only view."""
    @property
    def histogram_range(self) -> float | None: ...
    @property
    def linear(self) -> npt.NDArray[np.uint64] | None:
        """``"linear"`` mode: ncnn2table's 2048-bin histogram of |x| over [0, the absmax given),
        a read-only view."""

def quantize_model(
    model: Model, weights: dict[str, list[float]], activations: dict[str, float]
) -> tuple[Model, QuantizeReport]:
    """ncnn2int8's rewrite with a table's scales. Use ``ncnnq.quantize`` instead."""

@final
class QuantizeReport:
    """What ``ncnnq int8`` did to each layer."""

    @property
    def quantized(self) -> list[tuple[str, str]]:
        """(layer, type) of every layer given int8 weights."""
    @property
    def kept_float(self) -> list[tuple[str, str]]:
        """(layer, reason) of Convolution/ConvolutionDepthWise/InnerProduct layers left in float
        (mixed precision)."""
    @property
    def requantized(self) -> list[str]:
        """Layers whose int8 output feeds int8 convolutions directly (+100)."""
    @property
    def warnings(self) -> list[str]:
        """Findings that did not stop quantization."""

@final
class Patches:
    """A quantizable layer's fp32 inputs as the columns its int8 GEMM multiplies (im2col at
    sampled output positions, with the layer's own padding), and its fp32 outputs there: what
    :meth:`LayerProbe.sample` returns, cached by calibration methods. Immutable; the arrays are
    read-only views of it."""

    @property
    def groups(self) -> int:
        """1, or the group count of a ConvolutionDepthWise."""
    @property
    def rows(self) -> int:
        """Inputs per group and position (in_g·kh·kw, or num_input)."""
    @property
    def columns(self) -> int:
        """Number of positions."""
    def __len__(self) -> int: ...
    @property
    def x(self) -> npt.NDArray[np.float32]:
        """The fp32 inputs, (groups, rows, columns)."""
    @property
    def reference(self) -> npt.NDArray[np.float32] | None:
        """The layer's fp32 outputs at the same positions, (groups, outputs per group, columns),
        when the output blob was given to ``sample``."""
    @property
    def positions(self) -> npt.NDArray[np.uint64]:
        """Each column's output position in its sample: oy·outw + ox, or the row of a 2-D
        InnerProduct input."""
    def select(self, indices: list[int]) -> Patches:
        """The columns at ``indices``, in that order."""
    @staticmethod
    def concat(parts: list[Patches]) -> Patches:
        """Several samples' patches of one layer as one, columns in order."""

@final
class LayerProbe:
    """One Convolution, ConvolutionDepthWise or InnerProduct of an fp32 model, simulated in int8
    by ncnnq's own engine code (its quantizer, int8 GEMM, epilogue and activation).

    Guarantee: ``simulate`` on patches of an input blob returns, at every sampled position, bit
    for bit what ncnnq's ``Net`` computes for that layer in the int8 file ``ncnnq int8`` writes
    with the same scales (and int8 weights and bias, when given), fed the same fp32 input, on this
    CPU. ``exact=False`` uses instead a portable epilogue (product then sum with an exactly
    divided de-scale factor), the same on every CPU. The GIL is released while it computes, on a
    pool of ``threads`` threads shared by all probes of that thread count.

    Raises ``InputError`` for an unknown layer and ``LayerError`` (naming it) for a layer that is
    not quantizable, already int8, or has dynamic weights.
    """

    def __new__(cls, model: Model, layer: str, threads: int = 1) -> LayerProbe: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def form(self) -> str:
        """The int8 implementation: ``convolution``, ``grouped``, ``depthwise`` or ``innerproduct``."""
    @property
    def num_output(self) -> int: ...
    @property
    def groups(self) -> int: ...
    @property
    def rows(self) -> int:
        """Inputs per group and output position (the GEMM's k)."""
    @property
    def scale_count(self) -> int:
        """Weight scales the layer takes: one per output channel, or per group (ConvolutionDepthWise)."""
    @property
    def outputs_per_scale(self) -> int:
        """Output channels one weight scale applies to."""
    @property
    def six_bit(self) -> bool:
        """A 3x3 stride-1 dilation-1 Convolution: ncnn2table keeps its int8 weights within ±31."""
    @property
    def activation(self) -> str:
        """The fused activation, e.g. ``Relu``, ``LeakyRelu(0.1)``, ``Identity``."""
    @property
    def weights(self) -> npt.NDArray[np.float32]:
        """The fp32 weights, (scale_count, values per scale), a copy."""
    @property
    def bias(self) -> npt.NDArray[np.float32] | None: ...
    def sample(
        self,
        input: npt.NDArray[np.float32],
        output: npt.NDArray[np.float32] | None = None,
        count: int = 1024,
        seed: int = 0,
    ) -> Patches:
        """The layer's input columns at up to ``count`` output positions drawn with ``seed``
        (every position when there are fewer; every row of a 2-D InnerProduct input; the single
        column of a flat input), and its fp32 ``output`` there when given. ``input``/``output``
        are the layer's blobs for one sample (C-contiguous float32, as ``Net.run`` returns them),
        read in place. ``ShapeError`` naming the layer for blobs that do not fit it."""
    def quantize_input(self, patches: Patches, input_scale: float) -> npt.NDArray[np.int8]:
        """The patches quantized as the int8 layer quantizes its input: (groups, rows, columns)."""
    def quantize_weights(self, weight_scales: npt.ArrayLike) -> npt.NDArray[np.int8]:
        """The int8 weights ``ncnnq int8`` writes for these scales (ncnn2int8's rounding; an
        ``inf`` scale reads as 1): (num_output, rows)."""
    def simulate(
        self,
        x: Patches | npt.NDArray[np.int8],
        weight_scales: npt.ArrayLike,
        input_scale: float,
        output_scale: float | None = None,
        weights: npt.NDArray[np.int8] | None = None,
        bias: npt.ArrayLike | None = None,
        exact: bool = True,
    ) -> npt.NDArray[np.float32] | npt.NDArray[np.int8]:
        """The int8 layer's outputs (num_output, columns) on ``x`` (fp32 patches, quantized with
        ``input_scale``, or int8 columns from ``quantize_input``): float32, or int8 when
        ``output_scale`` requantizes them (not for InnerProduct). ``weights`` replaces the int8
        weights the scales give (e.g. rounding choices), ``bias`` the layer's bias."""
    def evaluate_weight_scales(
        self,
        x: Patches | npt.NDArray[np.int8],
        input_scale: float,
        units: list[int],
        scales: npt.ArrayLike,
        bias: npt.ArrayLike | None = None,
        exact: bool = True,
    ) -> npt.NDArray[np.float32]:
        """Many candidate weight scales at once, one int8 GEMM per group: rows
        [r·k, (r+1)·k) (k = ``outputs_per_scale``) are the float outputs of scale unit
        ``units[r]`` (output channel, or group) with its weights quantized with ``scales[r]``,
        as ``simulate`` computes them: (len(units)·k, columns)."""

@final
class NetworkProbe:
    """An fp32 model run with a chosen set of its quantizable layers int8.

    Guarantee: the nets it builds compute bit for bit what ``Net`` computes on the int8 files
    ``ncnnq int8`` writes for the same table with the other quantizable layers' lines commented
    out (requantize fusion and float boundaries included; float arrays fp16, or fp32 with
    ``fp32=True`` as ``--fp32``). Built layer ops are cached and reused across configurations, so
    switching one layer rebuilds only it and the neighbours whose requantization changed.
    """

    def __new__(cls, model: Model, threads: int = 1, fp32: bool = False) -> NetworkProbe: ...
    def net(
        self,
        weights: dict[str, npt.ArrayLike],
        activations: dict[str, float],
        int8: list[str] | None = None,
        int8_weights: dict[str, npt.NDArray[np.int8]] | None = None,
        biases: dict[str, npt.ArrayLike] | None = None,
    ) -> Net:
        """A Net with the layers ``int8`` (every layer the table covers when None) int8 under the
        table (``weights``: ``<layer>_param_<k>`` -> scales, ``activations``: layer -> scale),
        optionally with int8 weights and biases replaced per int8 layer. Feed it at the model's
        inputs or at any blob (only the layers downstream run). Errors name the layer: unknown,
        not quantizable, missing from the table, or an override of a layer that is not int8."""
    def model(
        self,
        weights: dict[str, npt.ArrayLike],
        activations: dict[str, float],
        int8: list[str] | None = None,
        int8_weights: dict[str, npt.NDArray[np.int8]] | None = None,
        biases: dict[str, npt.ArrayLike] | None = None,
    ) -> tuple[Model, QuantizeReport]:
        """The int8 model ``net`` runs for the same arguments, and the quantizer's report."""
    @property
    def cached_ops(self) -> int:
        """Built layer ops held for reuse."""

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

def check_outputs(paths: list[_StrPath]) -> None:
    """Checks every output path of one command before any work (``ncnnq.output.check_outputs``):
    its folder exists and takes new files, it is not a folder or socket, no two are the same file.
    Raises ``FileError`` naming the path."""

def write_outputs(files: list[tuple[_StrPath, bytes]]) -> None:
    """Writes every ``(path, bytes)`` together or not at all (``ncnnq.output.write_outputs``):
    regular files and new paths through a temporary file and a rename, devices and FIFOs in place,
    symlinks followed. Raises ``FileError`` naming the path."""
