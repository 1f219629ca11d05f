"""ncnnq.optimize: ncnnoptimize's passes, checked pass by pass and on whole models.

Every rewritten model is run in real ncnn next to its original (same random input, same weights):
the outputs must agree. Whole models are also compared with real ncnnoptimize's outputs in
../shared/data/reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import ncnnq
from ncnnq.cli import main
from reference import assert_close, random_inputs, run_ncnn

# ---------------------------------------------------------------------------------------------
# Helpers


def _model(text: str, seed: int = 1) -> ncnnq.Model:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    blobs = {b for line in lines for b in _blob_names(line)}
    header = f"7767517\n{len(lines)} {len(blobs)}\n"
    return ncnnq.Model.from_bytes((header + "\n".join(lines) + "\n").encode()).with_random_weights(seed)


def _blob_names(line: str) -> list[str]:
    parts = line.split()
    n = int(parts[2]) + int(parts[3])
    return parts[4 : 4 + n]


def _types(model: ncnnq.Model) -> list[str]:
    return [layer.type for layer in model.layers]


def _declared_inputs(model: ncnnq.Model, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for layer in model.layers:
        if layer.type != "Input":
            continue
        w, h, d, c = (layer.param(i) or 0 for i in (0, 1, 11, 2))
        shape = (c, d, h, w) if d else (c, h, w) if c else (h, w) if h else (w,)
        inputs[layer.tops[0]] = rng.uniform(-1, 1, size=shape).astype(np.float32)
    return inputs


def _weight_arrays(model: ncnnq.Model) -> list[tuple[str, np.ndarray]]:
    return [(storage, layer.weights[name]) for layer in model.layers for name, storage in layer.weight_storage]


def _same_weights(a: ncnnq.Model, b: ncnnq.Model) -> bool:
    wa, wb = _weight_arrays(a), _weight_arrays(b)
    return len(wa) == len(wb) and all(sa == sb and np.array_equal(x, y) for (sa, x), (sb, y) in zip(wa, wb))


def _assert_same_outputs(original: ncnnq.Model, optimized: ncnnq.Model, tmp_path: Path,
                         inputs: dict[str, np.ndarray], what: str) -> None:
    """Both models in real ncnn on the same inputs: every output of the optimized model agrees."""
    a_param, a_bin, b_param = tmp_path / "a.param", tmp_path / "a.bin", tmp_path / "b.param"
    original.save(a_param, a_bin)
    if _same_weights(original, optimized):
        optimized.save(b_param)  # identical .bin: no need to write it twice
        b_bin = a_bin
    else:
        b_bin = tmp_path / "b.bin"
        optimized.save(b_param, b_bin)
    names = optimized.outputs
    assert set(names) <= set(original.blobs), f"{what}: outputs {set(names) - set(original.blobs)} are new"
    theirs = run_ncnn(a_param, a_bin, inputs, names)
    ours = run_ncnn(b_param, b_bin, inputs, names)
    for name in names:
        assert_close(ours[name], theirs[name], f"{what}: {name}")


def _assert_idempotent(optimized: ncnnq.Model, what: str, fp16: bool = False) -> None:
    again, report = ncnnq.optimize(optimized, fp16)
    assert not report.fired, f"{what}: a second optimize still rewrites {[p.name for p in report.fired]}"
    assert report.shape_inference.new_hints == 0, what
    assert again.param_text() == optimized.param_text(), what
    assert _same_weights(again, optimized), what


# ---------------------------------------------------------------------------------------------
# Each pass: a model it rewrites and a near miss it must leave alone


@dataclass(frozen=True)
class PassCase:
    name: str
    rewrites: str
    types_after: list[str]
    leaves: str

    def __str__(self) -> str:
        return self.name


IN3 = "Input in 0 1 x 0=6 1=6 2=4"
IN1 = "Input in 0 1 x 0=16"
CONV = "Convolution conv 1 1 x c 0=8 1=3 4=1 5=1 6=288"
CONVDW = "ConvolutionDepthWise dw 1 1 x c 0=4 1=3 4=1 6=36 7=4"
DECONV = "Deconvolution de 1 1 x c 0=4 1=3 5=1 6=144"
DECONVDW = "DeconvolutionDepthWise dd 1 1 x c 0=4 1=3 6=36 7=4"
IP = "InnerProduct fc 1 1 x c 0=8 1=1 2=128"
GAP = "Pooling gap 1 1 c p 0=1 4=1"
EPS = "1=1.000000e-05"

CASES = [
    PassCase("fuse_batchnorm_scale",
             f"{IN3}\nBatchNorm bn 1 1 x b 0=4 {EPS}\nScale s 1 1 b y 0=4 1=1", ["Input", "BatchNorm"],
             f"{IN3}\nBatchNorm bn 1 1 x b 0=4\nSplit sp 1 2 b b0 b1\nScale s 1 1 b0 s0 0=4 1=1\n"
             "ReLU r 1 1 b1 r1\nConcat cat 2 1 s0 r1 y"),
    PassCase("fuse_convolution_batchnorm",
             f"{IN3}\n{CONV.replace(' 5=1', '')}\nBatchNorm bn 1 1 c y 0=8 {EPS}", ["Input", "Convolution"],
             f"{IN3}\n{CONV} 9=1\nBatchNorm bn 1 1 c y 0=8"),
    PassCase("fuse_convolution_mul",
             f"{IN3}\n{CONV}\nMemoryData m 0 1 m 0=8\nBinaryOp mul 2 1 c m y 0=2", ["Input", "Convolution"],
             f"{IN3}\n{CONV}\nMemoryData m 0 1 m 0=1 1=1 2=8\nBinaryOp mul 2 1 c m y 0=2"),
    PassCase("fuse_convolution_add",
             f"{IN3}\n{CONV.replace(' 5=1', '')}\nMemoryData m 0 1 m 0=1 1=1 2=8\nBinaryOp add 2 1 c m y 0=0",
             ["Input", "Convolution"],
             f"{IN3}\n{CONV}\nMemoryData m 0 1 m 0=8\nBinaryOp sub 2 1 c m y 0=1"),
    PassCase("fuse_convolutiondepthwise_batchnorm",
             f"{IN3}\n{CONVDW}\nBatchNorm bn 1 1 c y 0=4 {EPS}", ["Input", "ConvolutionDepthWise"],
             f"{IN3}\n{CONVDW} 9=1\nBatchNorm bn 1 1 c y 0=4"),
    PassCase("fuse_convolutiondepthwise_mul",
             f"{IN3}\n{CONVDW}\nMemoryData m 0 1 m 0=4\nBinaryOp mul 2 1 c m y 0=2", ["Input", "ConvolutionDepthWise"],
             f"{IN3}\n{CONVDW}\nMemoryData m 0 1 m 0=4\nBinaryOp mul 2 1 m c y 0=2"),
    PassCase("fuse_convolutiondepthwise_add",
             f"{IN3}\n{CONVDW}\nMemoryData m 0 1 m 0=4\nBinaryOp add 2 1 c m y 0=0", ["Input", "ConvolutionDepthWise"],
             f"{IN3}\n{CONVDW}\nMemoryData m 0 1 m 0=4\nBinaryOp max 2 1 c m y 0=4"),
    PassCase("fuse_deconvolution_batchnorm",
             f"{IN3}\n{DECONV}\nBatchNorm bn 1 1 c y 0=4 {EPS}", ["Input", "Deconvolution"],
             f"{IN3}\n{DECONV} 9=1\nBatchNorm bn 1 1 c y 0=4"),
    PassCase("fuse_deconvolution_mul",
             f"{IN3}\n{DECONV}\nMemoryData m 0 1 m 0=4\nBinaryOp mul 2 1 c m y 0=2", ["Input", "Deconvolution"],
             f"{IN3}\n{DECONV}\nMemoryData m 0 1 m 0=1 1=1 2=4\nBinaryOp mul 2 1 c m y 0=2"),
    PassCase("fuse_deconvolution_add",
             f"{IN3}\n{DECONV}\nMemoryData m 0 1 m 0=1 1=1 2=4\nBinaryOp add 2 1 c m y 0=0", ["Input", "Deconvolution"],
             f"{IN3}\n{DECONV}\nMemoryData m 0 1 m 0=1 1=1 2=4\nBinaryOp div 2 1 c m y 0=3"),
    PassCase("fuse_deconvolutiondepthwise_batchnorm",
             f"{IN3}\n{DECONVDW}\nBatchNorm bn 1 1 c y 0=4 {EPS}", ["Input", "DeconvolutionDepthWise"],
             f"{IN3}\n{DECONVDW}\nSplit sp 1 2 c c0 c1\nBatchNorm bn 1 1 c0 b 0=4\nConcat cat 2 1 b c1 y"),
    PassCase("fuse_innerproduct_batchnorm",
             f"{IN1}\n{IP}\nBatchNorm bn 1 1 c y 0=8 {EPS}", ["Input", "InnerProduct"],
             f"{IN1}\n{IP} 9=1\nBatchNorm bn 1 1 c y 0=8"),
    PassCase("fuse_innerproduct_add",
             f"{IN1}\n{IP.replace(' 1=1', '')}\nMemoryData m 0 1 m 0=8\nBinaryOp add 2 1 c m y 0=0",
             ["Input", "InnerProduct"],
             f"{IN1}\n{IP}\nMemoryData m 0 1 m 0=8\nBinaryOp mul 2 1 c m y 0=2"),
    PassCase("fuse_innerproduct_dropout",
             f"{IN1}\n{IP}\nDropout d 1 1 c y 0=5.000000e-01", ["Input", "InnerProduct"],
             f"{IN1}\n{IP} 9=1\nDropout d 1 1 c y 0=5.000000e-01"),
    PassCase("replace_reduction_with_global_pooling",
             "Input in 0 1 x -23330=5,3,6,5,1,4 0=6 1=5 2=4\nReduction r1 1 1 x a 0=3 1=0 -23303=1,2 5=1\n"
             "Reduction r2 1 1 a y 0=3 1=0 -23303=1,1 5=1", ["Input", "Pooling"],
             "Input in 0 1 x -23330=5,3,6,5,1,4 0=6 1=5 2=4\nReduction r1 1 1 x a 0=3 1=0 -23303=1,2 4=1 5=1\n"
             "Reduction r2 1 1 a y 0=3 1=0 -23303=1,1 4=1 5=1"),
    PassCase("replace_prelu_with_leaky_relu",
             f"{IN3}\nPReLU p 1 1 x y 0=1", ["Input", "ReLU"],
             f"{IN3}\nPReLU p 1 1 x y 0=4"),
    PassCase("fuse_convolution_activation",
             f"{IN3}\n{CONV}\nReLU r 1 1 c y 0=1.000000e-01", ["Input", "Convolution"],
             f"{IN3}\n{CONV}\nTanH t 1 1 c y"),
    PassCase("fuse_convolution_activation",
             f"{IN3}\n{CONV}\nClip r 1 1 c y 0=-5.000000e-01 1=5.000000e-01", ["Input", "Convolution"],
             f"{IN3}\n{CONV} 9=4\nClip r 1 1 c y 0=-5.000000e-01 1=5.000000e-01"),
    PassCase("fuse_convolution_activation",
             f"{IN3}\n{CONV}\nSigmoid r 1 1 c y", ["Input", "Convolution"],
             f"{IN3}\n{CONV}\nSplit sp 1 2 c c0 c1\nSigmoid r 1 1 c0 s\nConcat cat 2 1 s c1 y"),
    PassCase("fuse_convolution_activation",
             f"{IN3}\n{CONV}\nMish r 1 1 c y", ["Input", "Convolution"],
             f"{IN3}\n{CONV}\nSwish r 1 1 c y"),
    PassCase("fuse_convolution_activation",
             f"{IN3}\n{CONV}\nHardSwish r 1 1 c y", ["Input", "Convolution"],
             f"{IN3}\n{CONV}\nHardSigmoid r 1 1 c y"),
    PassCase("fuse_convolution_activation",
             "Input in 0 1 x 0=10 1=4\nConvolution1D c1 1 1 x c 0=3 1=3 5=1 6=36\nMish r 1 1 c y",
             ["Input", "Convolution1D"],
             "Input in 0 1 x 0=10 1=4\nConvolution1D c1 1 1 x c 0=3 1=3 5=1 6=36\nHardSwish r 1 1 c y"),
    PassCase("fuse_convolutiondepthwise_activation",
             f"{IN3}\n{CONVDW}\nReLU r 1 1 c y", ["Input", "ConvolutionDepthWise"],
             f"{IN3}\n{CONVDW} 9=1\nSigmoid r 1 1 c y"),
    PassCase("fuse_deconvolution_activation",
             f"{IN3}\n{DECONV}\nSigmoid r 1 1 c y", ["Input", "Deconvolution"],
             f"{IN3}\n{DECONV}\nMish r 1 1 c y"),
    PassCase("fuse_deconvolutiondepthwise_activation",
             f"{IN3}\n{DECONVDW}\nClip r 1 1 c y 0=-5.000000e-01 1=5.000000e-01", ["Input", "DeconvolutionDepthWise"],
             f"{IN3}\n{DECONVDW}\nHardSwish r 1 1 c y"),
    PassCase("fuse_innerproduct_activation",
             f"{IN1}\n{IP}\nHardSwish r 1 1 c y", ["Input", "InnerProduct"],
             f"{IN1}\n{IP}\nTanH r 1 1 c y"),
    PassCase("fuse_memorydata_binaryop",
             f"{IN3}\nMemoryData m 0 1 m 0=1\nBinaryOp sub 2 1 m x y 0=1", ["Input", "BinaryOp"],
             f"{IN3}\nMemoryData m 0 1 m 0=1\nBinaryOp pow 2 1 m x y 0=6"),
    PassCase("fuse_memorydata_binaryop",
             f"{IN3}\nMemoryData m 0 1 m 0=1\nSplit sp 1 2 m m0 m1\nBinaryOp mul 2 1 x m0 a 0=2\n"
             "BinaryOp div 2 1 m1 a y 0=3", ["Input", "BinaryOp", "BinaryOp"],
             f"{IN3}\nMemoryData m 0 1 m 0=4\nSplit sp 1 2 m m0 m1\nBinaryOp mul 2 1 x m0 a 0=2\n"
             "BinaryOp div 2 1 m1 a y 0=3"),
    PassCase("fuse_binaryop_eltwise",
             f"{IN3}\nSplit sp 1 2 x x0 x1\nBinaryOp m0 1 1 x0 a 0=2 1=1 2=5.000000e-01\n"
             "BinaryOp m1 1 1 x1 b 0=2 1=1 2=3.000000e+00\nBinaryOp add 2 1 a b y 0=0", ["Input", "Split", "Eltwise"],
             f"{IN3}\nSplit sp 1 2 x x0 x1\nBinaryOp m0 1 1 x0 a 0=2 1=1 2=5.000000e-01\n"
             "BinaryOp m1 1 1 x1 b 0=0 1=1 2=3.000000e+00\nBinaryOp add 2 1 a b y 0=1"),
    PassCase("eliminate_dropout",
             f"{IN3}\n{CONV}\nDropout d 1 1 c d\nPooling p 1 1 d y 1=2 2=2", ["Input", "Convolution", "Pooling"],
             f"{IN3}\n{CONV}\nDropout d 1 1 c d 0=5.000000e-01\nPooling p 1 1 d y 1=2 2=2"),
    PassCase("eliminate_pooling1x1",
             f"{IN3}\n{CONV}\nPooling p 1 1 c y 1=1", ["Input", "Convolution"],
             f"{IN3}\n{CONV}\nPooling p 1 1 c y 1=1 2=2"),
    PassCase("eliminate_noop",
             f"{IN3}\n{CONV}\nNoop n 1 1 c y", ["Input", "Convolution"],
             f"{IN3}\nSplit sp 1 2 x x0 x1\nConvolution a 1 1 x0 a 0=8 1=3 4=1 6=288\n"
             "Convolution b 1 1 x1 b 0=8 1=3 4=1 6=288\nNoop n 2 2 a b y z"),
    PassCase("eliminate_split",
             f"{IN3}\n{CONV}\nSplit sp 1 1 c d\nPooling p 1 1 d y 1=2 2=2", ["Input", "Convolution", "Pooling"],
             f"{IN3}\n{CONV}\nSplit sp 1 2 c c0 c1\nPooling p 1 1 c0 p0 1=2 2=2\nPooling q 1 1 c1 p1 0=1 1=2 2=2\n"
             "Concat cat 2 1 p0 p1 y"),
    PassCase("eliminate_flatten_after_global_pooling",
             f"{IN3}\n{CONV}\n{GAP}\nFlatten f 1 1 p y", ["Input", "Convolution", "Pooling"],
             f"{IN3}\n{CONV}\nPooling mp 1 1 c p 1=2 2=2\nFlatten f 1 1 p y"),
    PassCase("eliminate_reshape_after_global_pooling",
             f"{IN3}\n{CONV}\n{GAP}\nReshape r 1 1 p y 0=-1", ["Input", "Convolution", "Pooling"],
             f"{IN3}\n{CONV}\n{GAP}\nReshape r 1 1 p y 0=2 1=-1"),
    PassCase("eliminate_reshape_before_binaryop",
             f"{IN3}\nSplit sp 1 2 x x0 x1\nPooling gap 1 1 x0 p 0=1 4=1\nReshape r 1 1 p q 0=1 1=1 2=-1\n"
             "BinaryOp mul 2 1 x1 q y 0=2", ["Input", "Split", "Pooling", "BinaryOp"],
             f"{IN3}\nSplit sp 1 2 x x0 x1\nPooling gap 1 1 x0 p 0=1 4=1\nReshape r 1 1 p q 0=1 1=1 2=-1\n"
             "ReLU rq 1 1 q q0\nBinaryOp mul 2 1 x1 q0 y 0=2"),
    PassCase("replace_convolution_with_innerproduct_after_global_pooling",
             f"{IN3}\n{CONV}\n{GAP}\nConvolution fc 1 1 p y 0=5 1=1 5=1 6=40",
             ["Input", "Convolution", "Pooling", "InnerProduct"],
             f"{IN3}\n{CONV}\nPooling mp 1 1 c p 1=2 2=2\nConvolution fc 1 1 p y 0=5 1=1 5=1 6=40"),
    PassCase("replace_convolution_with_innerproduct_after_innerproduct",
             f"{IN1}\n{IP}\nConvolution c2 1 1 c y 0=4 1=1 5=1 6=32", ["Input", "InnerProduct", "InnerProduct"],
             f"{IN1}\n{IP}\nSplit sp 1 2 c c0 c1\nConvolution c2 1 1 c0 a 0=4 1=1 5=1 6=32\n"
             "Convolution c3 1 1 c1 b 0=4 1=1 5=1 6=32\nConcat cat 2 1 a b y"),
    PassCase("eliminate_flatten_after_innerproduct",
             f"{IN1}\n{IP}\nFlatten f 1 1 c y", ["Input", "InnerProduct"],
             "Input in 0 1 x 0=16 1=3\nInnerProduct fc 1 1 x c -23330=5,2,8,3,1,1 0=8 1=1 2=128\nFlatten f 1 1 c y"),
    PassCase("eliminate_orphaned_memorydata",
             f"{IN1}\nMemoryData m 0 1 m 0=16\nReLU r 1 1 x y", ["Input", "ReLU"],
             f"{IN1}\nMemoryData m 0 1 m 0=16\nBinaryOp add 2 1 x m y 0=0"),
]


def test_every_pass_has_cases():
    passes = {p.name for p in ncnnq.optimize(_model(f"{IN1}\nReLU r 1 1 x y"))[1].passes}
    assert passes == {c.name for c in CASES}
    assert len(passes) == 34


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{i}" for i, c in enumerate(CASES)])
def test_pass_rewrites_and_ncnn_agrees(case: PassCase, tmp_path):
    model = _model(case.rewrites)
    optimized, report = ncnnq.optimize(model)
    assert report.pass_result(case.name).count >= 1, report
    assert _types(optimized) == case.types_after
    _assert_same_outputs(model, optimized, tmp_path, _declared_inputs(model), case.name)
    _assert_idempotent(optimized, case.name)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{i}" for i, c in enumerate(CASES)])
def test_pass_leaves_a_near_miss_alone(case: PassCase, tmp_path):
    model = _model(case.leaves)
    optimized, report = ncnnq.optimize(model)
    assert not report.fired, [(p.name, p.fired) for p in report.fired]
    assert _types(optimized) == _types(model)
    _assert_same_outputs(model, optimized, tmp_path, _declared_inputs(model), case.name)


# ---------------------------------------------------------------------------------------------
# Whole models against real ncnnoptimize

REAL_MODELS = {
    "squeezenet_v1.1": "squeezenet_v1.1/squeezenet_v1.1-opt",
    "mnet.25-opt": "mnet.25-opt/mnet.25-opt-ncnnoptimize",
    "nanodet_m": "nanodet_m/nanodet_m-ncnnoptimize",
}

BENCHMARKS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
                                     / "benchmark-params").glob("*.param"))

# Their output shapes depend on the data (detections), so ncnn's hint (made with zero weights)
# and ours need not agree; ncnn writes none when there are no detections.
DATA_DEPENDENT = {"DetectionOutput", "Yolov3DetectionOutput", "YoloDetectionOutput", "Proposal"}


def _layout(model: ncnnq.Model) -> list[tuple[str, str, list[str], list[str]]]:
    return [(layer.type, layer.name, layer.bottoms, layer.tops) for layer in model.layers]


def _assert_hints_match(ours: ncnnq.Model, reference: ncnnq.Model, report, what: str) -> None:
    """Hints we write equal ncnnoptimize's; one it wrote and we did not is allowed only when our
    shape inference could not run (the engine lacks a layer type) or the shape is data-dependent."""
    for layer in ours.layers:
        for top in layer.tops:
            mine, theirs = ours.blob_shape(top), reference.blob_shape(top)
            if mine is not None and theirs is not None:
                assert mine == theirs, f"{what}: {top}: hint {mine} vs ncnnoptimize {theirs}"
            elif mine != theirs:
                assert layer.type in DATA_DEPENDENT or (mine is None and not report.shape_inference.ran), (
                    f"{what}: {top}: hint {mine} vs ncnnoptimize {theirs} ({report.shape_inference})")


@pytest.mark.parametrize("name", sorted(REAL_MODELS))
def test_real_models_match_ncnnoptimize_byte_for_byte(shared, name, tmp_path):
    model = ncnnq.Model.load(shared / "models" / f"{name}.param", shared / "models" / f"{name}.bin")
    optimized, report = ncnnq.optimize(model)
    optimized.save(tmp_path / "o.param", tmp_path / "o.bin")
    ref = shared / "reference" / REAL_MODELS[name]
    assert (tmp_path / "o.param").read_bytes() == Path(f"{ref}.param").read_bytes()
    assert (tmp_path / "o.bin").read_bytes() == Path(f"{ref}.bin").read_bytes()
    assert report.before.layers == report.after.layers == len(model.layers)
    if name == "squeezenet_v1.1":
        assert report.shape_inference.ran and report.shape_inference.new_hints == 56
        assert report.after.weight_bytes == (tmp_path / "o.bin").stat().st_size  # fp16 → fp32
    inputs = {model.inputs[0]: random_inputs(model, name)[model.inputs[0]] * 100}
    _assert_same_outputs(model, optimized, tmp_path, inputs, name)
    _assert_idempotent(optimized, name)


@pytest.mark.parametrize("stem", BENCHMARKS)
def test_benchmark_architecture(shared, stem, tmp_path):
    """Layout (types, names, blobs) equal to ncnnoptimize's, shape hints equal where both have
    one, and the optimized model computes the same in real ncnn (seeded random weights, BatchNorm
    statistics far from identity). Idempotence of these is checked in rust/tests/optimize_models.rs."""
    model = ncnnq.Model.load(shared / "benchmark-params" / f"{stem}.param").with_random_weights(7)
    optimized, report = ncnnq.optimize(model)
    reference = ncnnq.Model.load(shared / "reference" / "benchmark-opt" / f"{stem}-opt.param")
    assert _layout(optimized) == _layout(reference)
    assert report.after.layers == len(reference.layers)
    _assert_hints_match(optimized, reference, report, stem)
    _assert_same_outputs(model, optimized, tmp_path, random_inputs(model, stem), stem)


def test_fused_layers_are_the_ones_ncnnoptimize_fuses(shared):
    model = ncnnq.Model.load(shared / "benchmark-params" / "mobilenet_v3.param").with_random_weights(1)
    report = ncnnq.optimize(model)[1]
    counts = {p.name: p.count for p in report.fired}
    assert counts == {"fuse_convolution_activation": 10, "fuse_convolutiondepthwise_activation": 4,
                      "fuse_innerproduct_activation": 1}
    assert ("454", "461") in report.pass_result("fuse_convolution_activation").fired
    assert (report.before.layers, report.after.layers, report.before.blobs, report.after.blobs) == (145, 130, 163, 148)


# ---------------------------------------------------------------------------------------------
# Storage, cut, CLI


def test_fp16_storage_halves_tagged_arrays_and_still_runs(shared, tmp_path):
    model = ncnnq.Model.load(shared / "models" / "squeezenet_v1.1.param", shared / "models" / "squeezenet_v1.1.bin")
    fp32, _ = ncnnq.optimize(model)
    fp16, report = ncnnq.optimize(model, fp16=True)
    conv = fp16.layer("conv1")
    assert dict(conv.weight_storage) == {"weight": "fp16", "bias": "fp32"}
    assert report.after.weight_bytes < 0.52 * ncnnq.optimize(model)[1].after.weight_bytes
    assert report.after.weight_bytes == len(fp16.bin_bytes())
    # squeezenet's .bin already stores fp16: the fp16 output holds exactly the original values.
    assert np.array_equal(conv.weights["weight"], model.layer("conv1").weights["weight"])
    _assert_idempotent(fp16, "fp16", fp16=True)
    fp16.save(tmp_path / "h.param", tmp_path / "h.bin")
    fp32.save(tmp_path / "f.param", tmp_path / "f.bin")
    x = {"data": np.random.default_rng(3).uniform(-100, 100, (3, 227, 227)).astype(np.float32)}
    a = run_ncnn(tmp_path / "h.param", tmp_path / "h.bin", x, ["prob"])["prob"]
    b = run_ncnn(tmp_path / "f.param", tmp_path / "f.bin", x, ["prob"])["prob"]
    assert_close(a, b, "fp16 storage")


def test_cut_gives_a_model_ncnn_loads(shared, tmp_path):
    model = ncnnq.Model.load(shared / "models" / "squeezenet_v1.1.param", shared / "models" / "squeezenet_v1.1.bin")
    full, _ = ncnnq.optimize(model)
    part, report = ncnnq.optimize(model, cut_start="fire2/squeeze1x1", cut_end="fire3/concat")
    assert _types(part)[0] == "Input" and part.inputs == ["pool1"]
    assert part.outputs == ["fire3/concat"]
    assert part.blob_shape("pool1") == (3, 56, 56, 1, 64)
    assert "new Input layers for pool1" in report.notes[0]
    part.save(tmp_path / "p.param", tmp_path / "p.bin")
    counts = (tmp_path / "p.param").read_text().splitlines()[1]
    assert counts == f"{len(part.layers)} {len(part.blobs)}"
    full.save(tmp_path / "f.param", tmp_path / "f.bin")
    x = {"data": np.random.default_rng(4).uniform(-100, 100, (3, 227, 227)).astype(np.float32)}
    mid = run_ncnn(tmp_path / "f.param", tmp_path / "f.bin", x, ["pool1", "fire3/concat"])
    ours = run_ncnn(tmp_path / "p.param", tmp_path / "p.bin", {"pool1": mid["pool1"]}, ["fire3/concat"])
    assert_close(ours["fire3/concat"], mid["fire3/concat"], "cut")
    with pytest.raises(ncnnq.InputError, match="no layer named"):
        ncnnq.optimize(model, cut_start="nosuch")
    with pytest.raises(ncnnq.InputError, match="comes after"):
        ncnnq.optimize(model, cut_start="fire3/concat", cut_end="conv1")


def test_cli_writes_the_model_and_prints_the_report(shared, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    src = shared / "benchmark-params" / "mobilenet_v3.param"
    out_param, out_bin = tmp_path / "o.param", tmp_path / "o.bin"
    assert main(["optimize", str(src), "null", str(out_param), str(out_bin), "65536"]) == 0
    out = capsys.readouterr().out
    assert "fuse_convolution_activation" in out and "454+461" in out
    assert "145" in out and "130" in out and "weight bytes" in out
    written = ncnnq.Model.load(out_param, out_bin)
    assert len(written) == 130 and dict(written.layer("454").weight_storage)["weight"] == "fp16"
    x = random_inputs(written, "mobilenet_v3")
    assert run_ncnn(out_param, out_bin, x, written.outputs)[written.outputs[0]].shape == (1000,)


def test_cli_bad_input_exits_2(shared, tmp_path, capsys):
    src = str(shared / "models" / "squeezenet_v1.1.param")
    bin_path = str(shared / "models" / "squeezenet_v1.1.bin")
    out = [str(tmp_path / "o.param"), str(tmp_path / "o.bin")]
    assert main(["optimize", src, bin_path, *out, "fp16"]) == 2
    assert "flag must be an integer" in capsys.readouterr().err
    assert main(["optimize", src, bin_path, *out, "0", "nosuch"]) == 2
    assert "no layer named" in capsys.readouterr().err
    assert main(["optimize", src, str(tmp_path / "missing.bin"), *out]) == 2
    assert not (tmp_path / "o.param").exists()
    with pytest.raises(SystemExit) as e:
        main(["optimize", src])
    assert e.value.code == 2
