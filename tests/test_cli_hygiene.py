"""How the command line ends: one line on stderr and exit 2 for bad input (never a traceback),
130 for Ctrl-C, 1 with a pointer to NCNNQ_DEBUG for a bug; and what each ``--help`` says."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import ncnnq
import tinynet
from ncnnq.analyze import analyze
from ncnnq.cli import main
from ncnnq.cli import model as cli_model
from ncnnq.methods.registry import METHODS

PARAM, BIN = (str(p) for p in tinynet.model_files())
OPTS = ["mean=[127.5,127.5,127.5]", "norm=[0.0078125,0.0078125,0.0078125]", "shape=[32,32,3]", "pixel=BGR"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ncnnq.cli", *args], capture_output=True, text=True, timeout=120
    )


def _one_error_line(r: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares width x height (Pillow checks the size before decoding anything)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def test_a_decompression_bomb_is_named_with_its_list_line(tmp_path):
    _png_header_only(tmp_path / "huge.png", 14000, 14000)
    (tmp_path / "list.txt").write_text(f"{tinynet.image_files()[0]}\n{tmp_path / 'huge.png'}\n")
    line = _one_error_line(_cli("table", PARAM, BIN, str(tmp_path / "list.txt"), str(tmp_path / "t.table"), *OPTS))
    assert "huge.png" in line and "list.txt:2" in line and "too large" in line, line
    assert not (tmp_path / "t.table").exists()


def test_ctrl_c_exits_130_with_one_line_and_keeps_the_old_table(tmp_path):
    # Enough samples that calibration is still running when the signal arrives.
    images = [str(p) for p in tinynet.image_files()]
    (tmp_path / "list.txt").write_text("\n".join(images * 1500) + "\n")
    table = tmp_path / "t.table"
    table.write_text("old\n")
    # The child gets Python's own SIGINT handler even when this test runs with SIGINT ignored (a
    # background job of a non-interactive shell inherits SIG_IGN, and Python then keeps it).
    start_cli = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                 "runpy.run_module('ncnnq.cli', run_name='__main__', alter_sys=True)")
    proc = subprocess.Popen(
        [sys.executable, "-c", start_cli, "table", PARAM, BIN, str(tmp_path / "list.txt"), str(table), *OPTS,
         "thread=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(3)
    assert proc.poll() is None, "calibration finished before the interrupt; make the list longer"
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip().splitlines() == ["error: interrupted"], err
    assert table.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.txt", "t.table"], "no temporary file left"


def test_an_unexpected_exception_is_one_line_exit_1(monkeypatch, capsys):
    def broken(args: object, console: object) -> None:
        raise RuntimeError("something ncnnq did not expect")

    monkeypatch.setattr(cli_model, "cmd_info", broken)
    monkeypatch.delenv("NCNNQ_DEBUG", raising=False)
    assert main(["info"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: internal error: RuntimeError: something ncnnq did not expect (run with NCNNQ_DEBUG=1 for the traceback)"
    ]
    monkeypatch.setenv("NCNNQ_DEBUG", "1")
    assert main(["info"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_memory_and_os_errors_are_bad_input(monkeypatch, capsys):
    def out_of_memory(args: object, console: object) -> None:
        raise MemoryError

    def os_error(args: object, console: object) -> None:
        raise PermissionError(13, "Permission denied", "/some/where.table")

    monkeypatch.setattr(cli_model, "cmd_info", out_of_memory)
    assert main(["info"]) == 2
    assert "out of memory" in capsys.readouterr().err
    monkeypatch.setattr(cli_model, "cmd_info", os_error)
    assert main(["info"]) == 2
    assert capsys.readouterr().err.strip() == "error: /some/where.table: Permission denied"


def test_messages_keep_their_brackets():
    # rich would take [..] for markup and drop it.
    line = _one_error_line(_cli("quantize", PARAM))
    assert "images/|list.txt[,...]" in line and "mean=[..]" in line, line
    line = _one_error_line(_cli("table", PARAM, BIN, "t.table", "shape=[227,227,3]"))
    assert "no list file" in line and "list.txt[,list2.txt...]" in line, line


def test_a_forgotten_list_file_is_an_error_not_an_empty_table(tmp_path):
    table = tmp_path / "t.table"
    table.write_text("conv1 1.0 \n")
    r = _cli("table", PARAM, BIN, str(table), *OPTS)
    line = _one_error_line(r)
    assert "no list file" in line and "mean" in line, line
    assert table.read_text() == "conv1 1.0 \n"
    # The weight-only form itself still works.
    r = _cli("table", PARAM, BIN, str(tmp_path / "w.table"))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("command", ["info", "table", "int8", "quantize", "analyze", "optimize", "run", "bench",
                                     "demo"])
def test_every_subcommand_help_has_syntax_options_and_an_example(command):
    r = _cli(command, "--help")
    assert r.returncode == 0 and not r.stderr, r.stderr
    text = r.stdout
    assert text.startswith(f"usage: ncnnq {command}"), text[:200]
    assert "example:\n  ncnnq " + command in text, text
    expected = {
        "table": ["mean=", "norm=", "shape=", "pixel=", "thread=", "method=", "type=", "weight-only"],
        "quantize": ["mean=", "norm=", "shape=", "pixel=", "thread=", "method=", "optimize=1", "table=", "fp32=0",
                     "target=", "val=0.2", "verify=1"],
        "analyze": ["mean=", "norm=", "shape=", "pixel=", "thread=", "method=", "existing.table", "val=0.2",
                    "samples=N", "json=", "plot=", "fp32=0"],
        "int8": ["--fp32", "model.table"],
        "optimize": ["flag", "cutstart", "null", "/dev/null"],
        "run": ["input=", "threads=1", "seed=0", "labels=", "top=5", "--json"],
        "bench": ["threads=1", "loops=10", "warmup=3", "seed=0", "--json"],
        "demo": ["folder", "--threads"],
        "info": ["model.param", "--json"],
    }[command]
    missing = [e for e in expected if e not in text]
    assert not missing, (missing, text)
    if command in ("table", "quantize", "analyze"):
        assert all(m in text for m in METHODS), text


def test_thread_counts_are_checked_up_front(tmp_path):
    for bad in (-1, 0, 100000):
        with pytest.raises(ncnnq.InputError, match="between 1 and 1024"):
            ncnnq.Net(PARAM, BIN, threads=bad)
    start = time.monotonic()
    line = _one_error_line(_cli("table", PARAM, BIN, str(tinynet.image_files()[0].parent), str(tmp_path / "t.table"),
                                *OPTS, "thread=100000"))
    assert "thread=100000" in line and time.monotonic() - start < 30
    r = _cli("demo", str(tmp_path / "demo"), "--threads", "0")  # argparse: usage line, then the error
    assert r.returncode == 2 and "thread count from 1 to 1024" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(ncnnq.InputError, match="threads"):
        ncnnq.calibrate(ncnnq.Model.load(PARAM, BIN), [os.fspath(tinynet.image_files()[0])], threads=-1)
    table = ncnnq.Table(activations={"conv1": 1.0})
    for call in (
        lambda: analyze(ncnnq.Model.load(PARAM, BIN), tinynet.image_files()[:4], table=table, threads=-1),
        lambda: ncnnq.quantize_model(ncnnq.Model.load(PARAM, BIN), tinynet.image_files()[:4], threads=0,
                                     target="sqnr:20"),
    ):
        with pytest.raises(ncnnq.InputError, match="threads"):
            call()
