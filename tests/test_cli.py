"""The ncnnq command line: a thin layer; bad input exits 2 with one line."""

from __future__ import annotations

import subprocess
import sys

from ncnnq.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ncnnq.cli", *args], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""}
    )


def test_info_on_the_embedded_model():
    r = _run("info")
    assert r.returncode == 0, r.stderr
    assert "Convolution" in r.stdout and "conv1" in r.stdout and "outputs: prob" in r.stdout


def test_info_on_a_real_model(shared, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert (
        main(["info", str(shared / "models" / "squeezenet_v1.1.param"), str(shared / "models" / "squeezenet_v1.1.bin")])
        == 0
    )
    out = capsys.readouterr().out
    assert "fire9/expand3x3" in out and "fp16" in out and "1,235,496 weights" in out


def test_bad_input_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.param"
    bad.write_text("7767517\n1 1\nReLU r 1 1 nowhere y\n")
    r = _run("info", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.param:3: layer 'r': bottom blob 'nowhere'" in lines[0], r.stderr
    r = _run("info", str(tmp_path / "missing.param"))
    assert r.returncode == 2 and "missing.param" in r.stderr
