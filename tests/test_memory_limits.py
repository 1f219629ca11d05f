"""An input too large for the memory is a ``MemoryError`` (``ncnnq.OutOfMemoryError``) or exit 2,
never an abort: each check runs in a child process whose address space is capped with
``RLIMIT_AS``, so it behaves the same on any machine."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import tinynet

PARAM, BIN = (str(p) for p in tinynet.model_files())
GB = 1 << 30


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _python(code: str, limit: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: _limited(limit))


def _cli(*args: str, limit: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncnnq.cli", *args], capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: _limited(limit))


RUN_HUGE = """
    import numpy as np, ncnnq
    net = ncnnq.Net({param!r}, {bin!r}, threads=1)
    x = np.ones((3, 6000, 6000), np.float32)
    try:
        net.run({{{input!r}: x}}, [{output!r}])
    except MemoryError as e:
        print("MemoryError", isinstance(e, ncnnq.OutOfMemoryError), e)
    # The process goes on: a smaller input still runs.
    print(net.run({{{input!r}: np.ones((3, 64, 64), np.float32)}}, [{output!r}])[{output!r}].shape)
"""


def test_net_run_of_a_huge_input_raises_memory_error():
    r = _python(RUN_HUGE.format(param=PARAM, bin=BIN, input="data", output="prob"), 3 * GB)
    assert r.returncode == 0, r.stderr[-2000:]
    first, second = r.stdout.splitlines()
    assert first.startswith("MemoryError True layer '"), first
    assert "out of memory: cannot allocate" in first
    assert second == "(6,)"


def test_squeezenet_net_run_of_a_huge_input_raises_memory_error(shared):
    models = shared / "models"
    code = RUN_HUGE.format(param=str(models / "squeezenet_v1.1.param"), bin=str(models / "squeezenet_v1.1.bin"),
                           input="data", output="prob")
    r = _python(code, 3 * GB)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("MemoryError True layer '"), r.stdout


def test_table_with_a_huge_shape_exits_2_naming_the_image(tmp_path):
    image = tinynet.image_files()[0]
    (tmp_path / "list.txt").write_text(f"{image}\n")
    r = _cli("table", PARAM, BIN, str(tmp_path / "list.txt"), str(tmp_path / "t.table"), "mean=[1,1,1]",
             "norm=[1,1,1]", "shape=[100000,100000,3]", "pixel=BGR", "thread=1", limit=3 * GB)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "out of memory" in r.stderr and image.name in r.stderr and "list.txt:1" in r.stderr, r.stderr
    assert not (tmp_path / "t.table").exists()


def test_random_weights_larger_than_memory_exit_2(tmp_path: Path):
    param = tmp_path / "big.param"
    param.write_text("7767517\n2 2\nInput data 0 1 data 0=1000\nInnerProduct fc 1 1 data fc 0=800000 2=800000000\n")
    r = _cli("optimize", str(param), "null", str(tmp_path / "o.param"), str(tmp_path / "o.bin"), limit=2 * GB)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "out of memory" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.param"]
