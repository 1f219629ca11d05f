"""`ncnnq run`, `ncnnq bench`, and which int8 kernel path runs."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ncnnq
from ncnnq import _native, runner
from ncnnq.cli import main
from ncnnq.cli.ncnn_args import parse_run_options
from ncnnq.errors import InputError

TINY_INT8 = """7767517
5 5
Input            in   0 1 data 0=12 1=10 2=3
Convolution      c1   1 1 data a 0=8 1=3 4=1 5=1 6=216 8=102 9=1
ConvolutionDepthWise d2 1 1 a b 0=8 1=3 4=1 5=1 6=72 7=8 8=1 9=1
Pooling          p    1 1 b g 0=1 4=1
InnerProduct     fc   1 1 g prob 0=6 1=1 2=48 8=1
"""

TINY_FP32 = """7767517
3 3
Input            in   0 1 data 0=12 1=10 2=3
Convolution      c1   1 1 data a 0=8 1=3 4=1 5=1 6=216 9=1
InnerProduct     fc   1 1 a prob 0=6 1=1 2=5760
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    param = tmp_path / "tiny.param"
    ncnnq.Model.from_bytes(TINY_INT8.encode()).with_random_weights(3).save(param, tmp_path / "tiny.bin")
    return param


def cpu_flags() -> set[str]:
    # Only this architecture's own field: under qemu-user (CI's emulated aarch64 run) /proc/cpuinfo is
    # the host's, whose x86 "flags" say nothing about the emulated CPU.
    field = {"x86_64": "flags", "aarch64": "Features"}.get(platform.machine())
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if field and line.startswith(field) for f in line.split(":")[1].split()}


@pytest.mark.emulated  # CI also runs it on the aarch64 wheel under qemu, with NCNNQ_EXPECT_PATHS
def test_the_best_int8_path_of_this_cpu_runs(tiny):
    forced = os.environ.get("NCNNQ_KERNEL_I8") or (os.environ.get("NCNNQ_KERNEL") in _native.int8_kernels_available())
    chosen = _native.int8_kernel()
    available = _native.int8_kernels_available()
    assert chosen in available and available[-1] == "reference"
    if not forced:
        assert chosen == available[0]
        if "avx512_vnni" in cpu_flags() and "avx512bw" in cpu_flags():
            assert chosen == "avx512vnni"
        if "asimddp" in cpu_flags():
            assert chosen == "dotprod"
    for item in os.environ.get("NCNNQ_EXPECT_PATHS", "").split(","):
        family, _, path = item.partition("=")
        if family.strip() == "i8":
            assert chosen == path.strip()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 10, 12)).astype(np.float32)
    before = dict(((k, p), n) for k, p, n in _native.kernel_calls())
    ncnnq.Net(tiny, tiny.with_suffix(".bin")).run({"data": x}, ["prob"])
    after = dict(((k, p), n) for k, p, n in _native.kernel_calls())
    for kind in ("gemm", "depthwise", "gemv"):
        assert after.get((kind, chosen), 0) == before.get((kind, chosen), 0) + 1, f"{kind} did not run on {chosen}"


def forced_run(tiny: Path, path: str) -> subprocess.CompletedProcess:
    code = (
        "import numpy as np, ncnnq; from ncnnq import _native; "
        f"ncnnq.Net({str(tiny)!r}, {str(tiny.with_suffix('.bin'))!r}).run("
        "{'data': np.ones((3, 10, 12), np.float32)}, ['prob']); "
        "print(_native.int8_kernel(), sorted({p for _, p, _ in _native.kernel_calls()}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NCNNQ_KERNEL", "NCNNQ_KERNEL_I8")}
    env["NCNNQ_KERNEL_I8"] = path
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)


@pytest.mark.parametrize("path", ["reference"] + [p for p in ["avx2"] if p in _native.int8_kernels_available()])
def test_ncnnq_kernel_i8_forces_a_path(tiny, path):
    result = forced_run(tiny, path)
    assert result.stdout.split()[0] == path
    assert f"['{path}']" in result.stdout, result.stdout


def test_forcing_a_path_this_cpu_lacks_falls_back_with_a_warning(tiny):
    foreign = "dotprod" if "avx2" in _native.int8_kernels_available() else "avx512vnni"
    result = forced_run(tiny, foreign)
    assert result.stdout.split()[0] == _native.int8_kernels_available()[0]
    assert "cannot run" in result.stderr


def test_run_prints_outputs_and_kernels(tiny, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping in rich's output
    assert main(["run", str(tiny), str(tiny.with_suffix(".bin")), "seed=4", "top=3"]) == 0
    out = capsys.readouterr().out
    assert "prob" in out and "top-3" in out and "int8 (3 of 3" in out
    assert f"gemm {_native.int8_kernel()}" in out


def test_run_summarizes_what_the_net_computes(tiny):
    model, _ = runner.load_model(tiny, tiny.with_suffix(".bin"))
    options = parse_run_options(["seed=5"])
    inputs = runner.model_inputs(model, options)
    assert inputs["data"].shape == (3, 10, 12)
    result = runner.run_once(model, inputs)
    direct = ncnnq.Net(model).run(inputs, ["prob"])["prob"]
    np.testing.assert_array_equal(result.outputs["prob"], direct)
    (summary,) = runner.summarize_outputs(result.outputs, 2, ["a", "b", "c", "d", "e", "f"])
    best = int(np.argmax(direct))
    assert summary.top[0] == (best, float(direct[best]), "abcdef"[best])
    assert summary.min == pytest.approx(float(direct.min())) and summary.max == pytest.approx(float(direct.max()))


def test_run_reads_npy_and_images(tiny, tmp_path):
    model, _ = runner.load_model(tiny, tiny.with_suffix(".bin"))
    x = np.random.default_rng(1).uniform(-1, 1, (3, 10, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    got = runner.model_inputs(model, parse_run_options([f"input={tmp_path / 'x.npy'}"]))
    np.testing.assert_array_equal(got["data"], x)
    from PIL import Image

    rgb = np.random.default_rng(2).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "im.png")
    got = runner.model_inputs(model, parse_run_options(
        [f"input={tmp_path / 'im.png'}", "shape=[12,10,3]", "mean=[1,2,3]", "norm=[0.5,0.5,0.5]", "pixel=BGR"]))
    want = _native.from_pixels(rgb, "RGB", "BGR", 12, 10, [1.0, 2.0, 3.0], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(got["data"], want)


def test_bench_reports_precision_timings_and_paths(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["bench", str(tiny), "threads=2", "loops=3", "warmup=1"]) == 0
    out = capsys.readouterr().out
    assert "random weights" in out and "int8 (3 of 3" in out and "median ms" in out
    assert f"gemm {_native.int8_kernel()} ×3" in out
    fp32 = tmp_path / "fp32.param"
    fp32.write_text(TINY_FP32)
    model, _ = runner.load_model(fp32, None)
    result = runner.bench(model, runner.model_inputs(model, runner.RunOptions()), loops=4, warmup=0)
    assert len(result.times) == 4 and result.kernels == [] and runner.precision(model) == "fp32"
    assert all(t > 0 for t in result.times) and result.minimum <= result.median


@pytest.mark.parametrize("argv, message", [
    (["run"], "usage"),
    (["run", "a.param", "b.bin", "c.bin"], "usage"),
    (["bench", "x.param", "loops=0"], "loops=0"),
    (["run", "x.param", "colour=red"], "unknown option"),
    (["run", "x.param", "threads=2", "threads=3"], "twice"),
])
def test_bad_arguments_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_random_input_needs_a_shape(tmp_path):
    model = ncnnq.Model.from_bytes(b"7767517\n2 2\nInput in 0 1 data\nReLU r 1 1 data out\n")
    with pytest.raises(InputError, match="shape"):
        runner.model_inputs(model, runner.RunOptions())
    got = runner.model_inputs(model, parse_run_options(["shape=[4,3,2]"]))
    assert got["data"].shape == (2, 3, 4)
