"""The one writer (``ncnnq.output``, ``Model.save``): special files are written in place, symlinks
followed, modes follow the umask, every output is checked before the work and several outputs are
written together or not at all."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import ncnnq
import tinynet
from ncnnq.output import check_outputs, write_outputs

PARAM, BIN = (str(p) for p in tinynet.model_files())
IMAGES = str(Path(tinynet.image_files()[0]).parent)
OPTS = ["mean=[127.5,127.5,127.5]", "norm=[0.0078125,0.0078125,0.0078125]", "shape=[32,32,3]", "pixel=BGR",
        "thread=1"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncnnq.cli", *args], capture_output=True, text=True, timeout=120)


def _mknod_char(path: Path, minor: int) -> None:
    """A character device like /dev/null (1, 3) or /dev/full (1, 7), made in the test's folder."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD (root)")


def _state(path: Path) -> tuple[int, int, str]:
    """What must not change about a special file: its type bits, device number, link target."""
    st = os.lstat(path)
    return stat.S_IFMT(st.st_mode), st.st_rdev, os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""


def _reference_bin(tmp_path: Path) -> bytes:
    r = _cli("optimize", PARAM, BIN, str(tmp_path / "ref.param"), str(tmp_path / "ref.bin"), "0")
    assert r.returncode == 0, r.stderr
    return (tmp_path / "ref.bin").read_bytes()


def test_optimize_into_a_character_device_writes_in_place(tmp_path):
    null = tmp_path / "null"
    _mknod_char(null, 3)
    before = _state(null)
    r = _cli("optimize", PARAM, BIN, str(tmp_path / "o.param"), str(null), "0")
    assert r.returncode == 0, r.stderr
    assert _state(null) == before and stat.S_ISCHR(os.lstat(null).st_mode)
    assert ncnnq.Model.load(tmp_path / "o.param").layers, "the .param was written as usual"


def test_a_failing_device_write_leaves_the_other_output_untouched(tmp_path):
    full = tmp_path / "full"
    _mknod_char(full, 7)  # writes fail with ENOSPC
    out = tmp_path / "o.param"
    out.write_text("old")
    r = _cli("optimize", PARAM, BIN, str(out), str(full), "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "full" in r.stderr and out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "o.param"], "no temporary file left"


def test_optimize_into_a_fifo_writes_through_it(tmp_path):
    expected = _reference_bin(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = bytearray()

    def read() -> None:
        with open(fifo, "rb") as f:
            received.extend(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    r = _cli("optimize", PARAM, BIN, str(tmp_path / "o.param"), str(fifo), "0")
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert bytes(received) == expected


def test_optimize_through_a_symlink_replaces_its_target(tmp_path):
    expected = _reference_bin(tmp_path)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "weights.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.bin"
    link.symlink_to("real/weights.bin")
    before = _state(link)
    r = _cli("optimize", PARAM, BIN, str(tmp_path / "o.param"), str(link), "0")
    assert r.returncode == 0, r.stderr
    assert _state(link) == before, "the link is still the same link"
    assert target.read_bytes() == expected and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["weights.bin"]


def test_table_save_writes_through_special_files_and_symlinks(tmp_path):
    table = ncnnq.Table(activations={"conv": 1.5})
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(fifo.read_bytes()))
    reader.start()
    table.save(fifo)
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and bytes(received) == table.text().encode()
    target = tmp_path / "t.table"
    target.write_text("old")
    (tmp_path / "link").symlink_to(target.name)
    table.save(tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and target.read_text() == table.text()


def test_new_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        ncnnq.Table(activations={"conv": 1.5}).save(tmp_path / "t.table")
        r = _cli("table", PARAM, BIN, IMAGES, str(tmp_path / "cli.table"), *OPTS)
        assert r.returncode == 0, r.stderr
        r = _cli("optimize", PARAM, BIN, str(tmp_path / "o.param"), str(tmp_path / "o.bin"), "0")
        assert r.returncode == 0, r.stderr
    finally:
        os.umask(old)
    for name in ("t.table", "cli.table", "o.param", "o.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_table_save_to_a_folder_is_a_file_error(tmp_path):
    with pytest.raises(ncnnq.FileError, match="is a folder"):
        ncnnq.Table(activations={"conv": 1.5}).save(tmp_path)
    with pytest.raises(OSError, match="does not exist"):
        ncnnq.Table().save(tmp_path / "missing" / "t.table")


def test_check_outputs_names_the_problem(tmp_path):
    (tmp_path / "a").write_text("x")
    (tmp_path / "alias").symlink_to("a")
    cases = [
        ([tmp_path], "is a folder"),
        ([tmp_path / "nowhere" / "x"], "does not exist"),
        ([tmp_path / "a", tmp_path / "alias"], "same file"),
        ([tmp_path / "new", tmp_path / "." / "new"], "same file"),
        ([str(tmp_path / "dir") + "/"], "names a folder"),
    ]
    for paths, message in cases:
        with pytest.raises(ncnnq.FileError, match=message):
            check_outputs(paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "alias"]


def test_read_only_folder_fails_before_the_work(read_only_folder):
    r = _cli("table", PARAM, BIN, IMAGES, str(read_only_folder / "t.table"), *OPTS)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "t.table" in r.stderr and "calibration" not in r.stdout, "refused before calibrating"
    with pytest.raises(ncnnq.FileError, match="cannot create files"):
        ncnnq.Table().save(read_only_folder / "t.table")
    assert not list(read_only_folder.iterdir())


def test_int8_with_a_folder_as_bin_writes_nothing(tmp_path):
    table = tmp_path / "t.table"
    assert _cli("table", PARAM, BIN, IMAGES, str(table), *OPTS).returncode == 0
    out = tmp_path / "ok.param"
    (tmp_path / "dir.bin").mkdir()
    r = _cli("int8", PARAM, BIN, str(out), str(tmp_path / "dir.bin"), str(table))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "dir.bin" in r.stderr and not out.exists()


def test_quantize_checks_every_output_before_calibrating(tmp_path):
    (tmp_path / "dir.bin").mkdir()
    table = tmp_path / "q.table"
    r = _cli("quantize", PARAM, BIN, IMAGES, str(tmp_path / "q.param"), str(tmp_path / "dir.bin"), *OPTS,
             f"table={table}")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert not table.exists() and not (tmp_path / "q.param").exists()
    assert "calibration" not in r.stdout, "refused before calibrating"


def test_several_outputs_are_written_together(tmp_path):
    keep = tmp_path / "keep.table"
    keep.write_text("old")
    full = tmp_path / "full"
    _mknod_char(full, 7)
    with pytest.raises(ncnnq.FileError, match="full"):
        write_outputs([(keep, "new"), (full, b"x")])
    assert keep.read_text() == "old"
    write_outputs([(keep, "new"), (tmp_path / "b", b"\x00\x01")])
    assert keep.read_text() == "new" and (tmp_path / "b").read_bytes() == b"\x00\x01"


def test_quantize_leaves_no_table_when_the_bin_cannot_be_written(tmp_path):
    """Item 6: the table is not left behind by a later failing write, with or without target=."""
    full = tmp_path / "full"
    _mknod_char(full, 7)  # writes fail with ENOSPC
    out = tmp_path / "q.param"
    out.write_text("old")
    for extra in ([], ["target=sqnr:20"]):
        r = _cli("quantize", PARAM, BIN, IMAGES, str(out), str(full), *OPTS, f"table={tmp_path / 'q.table'}", *extra)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "full" in r.stderr, r.stderr
        assert out.read_text() == "old" and not (tmp_path / "q.table").exists(), extra
        assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "q.param"], "no temporary file left"


def test_quantize_with_a_target_writes_its_table_through_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "q.table"
    target.write_text("old")
    (tmp_path / "link.table").symlink_to("real/q.table")
    r = _cli("quantize", PARAM, BIN, IMAGES, str(tmp_path / "q.param"), str(tmp_path / "q.bin"), *OPTS,
             f"table={tmp_path / 'link.table'}", "target=sqnr:20")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "link.table").is_symlink() and target.read_text().startswith("conv")


def test_verify_needs_outputs_it_can_read_back(tmp_path):
    null = tmp_path / "null"
    _mknod_char(null, 3)
    out = tmp_path / "q.param"
    out.write_text("old")
    r = _cli("quantize", PARAM, BIN, IMAGES, str(out), str(null), *OPTS, "target=sqnr:20", "verify=1")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "null" in r.stderr and "verify=1" in r.stderr, r.stderr
    assert out.read_text() == "old" and "calibrat" not in r.stdout, "refused before the work"


def test_analyze_writes_its_report_through_special_files_and_symlinks(tmp_path):
    null = tmp_path / "null"
    _mknod_char(null, 3)
    before = _state(null)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.png").write_bytes(b"old")
    (tmp_path / "plot.png").symlink_to("real/a.png")
    r = _cli("analyze", PARAM, BIN, IMAGES, *OPTS, "samples=2", f"json={null}", f"plot={tmp_path / 'plot.png'}")
    assert r.returncode == 0, r.stderr
    assert _state(null) == before and (tmp_path / "plot.png").is_symlink()
    assert (tmp_path / "real" / "a.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["a.png"]


def test_analyze_checks_its_outputs_before_the_work(tmp_path):
    (tmp_path / "dir.json").mkdir()
    for option, name in ((f"json={tmp_path / 'dir.json'}", "dir.json"), (f"plot={tmp_path / 'no' / 'a.png'}", "no")):
        r = _cli("analyze", PARAM, BIN, IMAGES, *OPTS, option)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert name in r.stderr and "layer by layer" not in r.stdout, r.stdout
    r = _cli("analyze", PARAM, BIN, IMAGES, *OPTS, f"json={tmp_path / 'a.json'}", f"plot={tmp_path / 'a.json'}")
    assert r.returncode == 2 and "same file" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json"]
