"""``ncnnq demo``: the network and photos shipped in the package, the demo run on them, what it
prints and writes, and the commands it ends with (which must remake its files)."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ncnnq
import ncnnq.cli.demo
import ncnnq.demo.run
import ncnnq.pipeline
from ncnnq import demo
from ncnnq.cli import main
from ncnnq.cli.demo import commands
from ncnnq.demo.run import DEFAULT_FOLDER, METHODS, new_folder, run_demo
from ncnnq.output import write_outputs
from reference import SHARED

PACKAGE = Path(demo.__file__).parent
LICENCES = ("public domain", "CC0-1.0", "CC-BY-2.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0")
MIB = 1 << 20


def _subset() -> list[Path]:
    """Eight photos: the demo's split of them is 4 calibration, 4 held out (fast enough for the
    default test run; the whole set runs in the slow test)."""
    return demo.photos()[:8]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo on the subset, and every path it handed to ncnnq's one writer."""
    photos = _subset()
    written: list[Path] = []

    def spy(files):
        written.extend(Path(path) for path, _ in files)
        return write_outputs(files)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(ncnnq.demo.run, "write_outputs", spy)
        m.setattr(ncnnq.pipeline, "write_outputs", spy)
        result = run_demo(tmp_path_factory.mktemp("demo") / "out", calibration=photos[0::2],
                          held_out=photos[1::2], bench_rounds=3)
    return result, written


@pytest.fixture(scope="module")
def result(demo_run):
    return demo_run[0]


def test_the_shipped_network_expands_to_ncnns_files():
    param, bin_bytes = demo.model_bytes()
    model = ncnnq.Model.from_bytes(param, bin_bytes)
    assert model.inputs == [demo.INPUT] and model.outputs == [demo.OUTPUT]
    assert sum(layer.type == "Convolution" for layer in model.layers) == 26
    assert {s for layer in model.layers for name, s in layer.weight_storage if name == "weight"} == {"fp16"}
    assert len(demo.class_names()) == 1000 and demo.class_names()[281] == "tabby"
    shared = SHARED / "models"
    if shared.is_dir():
        assert param == (shared / f"{demo.MODEL}.param").read_bytes()
        assert bin_bytes == (shared / f"{demo.MODEL}.bin").read_bytes()


def test_a_damaged_pack_is_an_error_not_a_wrong_model(tmp_path, monkeypatch):
    copy = tmp_path / "demo"
    (copy / "model").mkdir(parents=True)
    for f in (PACKAGE / "model").iterdir():
        data = f.read_bytes()
        if f.name.endswith(".bin.lo"):
            data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        (copy / "model" / f.name).write_bytes(data)
    monkeypatch.setattr(demo, "_root", lambda: copy)
    with pytest.raises(ncnnq.FileError, match="digest"):
        demo.model_bytes()


def test_no_shipped_file_is_a_shared_file_or_over_2_mib():
    """The project's rule for tracked files, on the demo's: derived forms only, each under 2 MiB."""
    shared = {hashlib.sha256(f.read_bytes()).hexdigest()
              for f in SHARED.rglob("*") if f.is_file() and f.stat().st_size < 8 * MIB} if SHARED.is_dir() else set()
    for f in PACKAGE.rglob("*"):
        if f.is_file() and "__pycache__" not in f.parts:
            assert f.stat().st_size < 2 * MIB, f
            assert hashlib.sha256(f.read_bytes()).hexdigest() not in shared, f"{f} is a copy of a shared file"


def test_every_photo_is_listed_with_its_source_and_a_redistributable_licence():
    photos = demo.photos()
    assert len(photos) >= 30
    sources = (PACKAGE / "photos" / "SOURCES.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+\.jpg)` \|(.*)$", sources, re.M)}
    assert set(rows) == {p.name for p in photos}
    for photo in photos:
        cells = [c.strip() for c in rows[photo.name].split("|")]
        licence = cells[2]
        assert any(licence == name or licence.startswith(f"[{name}]") for name in LICENCES), (photo.name, licence)
        assert re.search(r"`[0-9a-f]{64}`", rows[photo.name]), f"{photo.name}: no digest of the original"
        with Image.open(photo) as im:
            assert im.format == "JPEG" and max(im.size) <= 256, photo.name
    assert sum(p.stat().st_size for p in photos) < 1 * MIB
    assert "ImageNet" not in sources.replace("None is an ImageNet image", "")


def test_the_split_is_fixed_and_disjoint():
    calibration, held_out = demo.calibration_photos(), demo.held_out_photos()
    assert calibration == demo.photos()[0::2] and held_out == demo.photos()[1::2]
    assert not set(calibration) & set(held_out) and len(calibration) + len(held_out) == len(demo.photos())


def test_the_demo_writes_the_model_the_photos_and_per_method_its_files(result):
    folder = result.folder
    param, bin_bytes = demo.model_bytes()
    assert result.model["param"].read_bytes() == param and result.model["bin"].read_bytes() == bin_bytes
    photos = _subset()
    assert sorted(p.name for p in result.calibration.iterdir()) == [p.name for p in photos[0::2]]
    assert sorted(p.name for p in result.held_out.iterdir()) == [p.name for p in photos[1::2]]
    assert [m.method for m in result.methods] == list(METHODS)
    for m in result.methods:
        assert set(m.files) == {"table", "int8 param", "int8 bin"}
        assert all(p.parent == folder and p.stat().st_size for p in m.files.values())
        assert ncnnq.Table.load(m.files["table"]).text() == m.table.text()
        int8 = ncnnq.Model.load(m.files["int8 param"], m.files["int8 bin"])
        assert sum(layer.param(8) is not None and layer.param(8) != 0 for layer in int8.layers) == 26


def test_the_demo_measures_agreement_cosine_and_speed(result):
    for m in result.methods:
        a = m.agreement
        assert a.count == result.held_out_count == 4
        assert 0.5 <= a.top1 <= 1 and 0.9 < a.cosine_min <= a.cosine_mean <= 1, a
        assert m.seconds > 0
        if m.ncnn_agreement is not None:  # real ncnn runs the same files to nearly the same outputs
            assert m.ncnn_agreement.count == a.count
            assert abs(m.ncnn_agreement.cosine_mean - a.cosine_mean) < 0.01
        for photo, before, after in m.changed:
            assert (result.held_out / photo).is_file()
            assert before != after and before in demo.class_names() and after in demo.class_names()
        assert len(m.changed) == round((1 - a.top1) * a.count)
    speed = result.speed
    assert speed.runs == 3 and speed.fp32_ms > 0
    assert set(speed.int8_ms) == set(METHODS) and all(speed.speedup(m) > 0 for m in METHODS)


def test_the_printed_commands_remake_the_demo_files_and_run(result, monkeypatch, capsys):
    monkeypatch.chdir(result.folder.parent)
    quantize, run, bench = commands(result, "kl")
    files = result.methods[0].files
    assert result.methods[0].method == "kl"
    before = {name: path.read_bytes() for name, path in files.items()}
    for path in files.values():
        path.unlink()
    assert main(shlex.split(quantize)[1:]) == 0
    for name, path in files.items():
        assert path.read_bytes() == before[name], f"ncnnq quantize wrote another {name} than the demo"
    capsys.readouterr()
    assert main(shlex.split(run)[1:]) == 0
    photo = shlex.split(run)[4].removeprefix("input=")
    assert Path(photo).parent == result.held_out.relative_to(result.folder.parent)
    assert "top-5" in capsys.readouterr().out
    assert main(shlex.split(bench)[1:]) == 0


def test_the_demo_never_writes_into_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["demo", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_the_demo_refuses_a_folder_it_cannot_use_before_printing_anything(tmp_path, read_only_folder, capsys):
    (tmp_path / "file").write_text("mine")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dangling").symlink_to("nowhere")
    cases = {
        tmp_path / "file": "is not a folder",
        tmp_path / "pipe": "is not a folder",
        tmp_path / "dangling": "symlink to nothing",
        tmp_path / "missing" / "demo": "does not exist",
        read_only_folder / "demo": "cannot create the demo's folder",
    }
    before = sorted(p.name for p in tmp_path.iterdir())
    for folder, message in cases.items():
        assert main(["demo", str(folder)]) == 2, folder
        out, err = capsys.readouterr()
        assert not out, f"{folder}: printed before refusing: {out}"
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "file").read_text() == "mine" and (tmp_path / "dangling").is_symlink()
    assert not list(read_only_folder.iterdir())


def test_every_demo_file_goes_through_ncnnqs_writer(demo_run):
    result, written = demo_run
    files = sorted(p for p in result.folder.rglob("*") if not p.is_dir())
    assert len(files) == 3 + result.calibration_count + result.held_out_count + 3 * len(METHODS)
    assert sorted(written) == files, "a file was written some other way (or twice)"


def test_the_default_folder_is_new_in_the_current_folder(tmp_path):
    assert new_folder(tmp_path) == tmp_path / DEFAULT_FOLDER
    (tmp_path / DEFAULT_FOLDER).mkdir()
    assert new_folder(tmp_path) == tmp_path / DEFAULT_FOLDER, "an empty folder is used"
    (tmp_path / DEFAULT_FOLDER / "x").write_text("")
    assert new_folder(tmp_path) == tmp_path / f"{DEFAULT_FOLDER}-2"


def test_cli_demo_prints_the_results_and_ends_with_the_commands(tmp_path, monkeypatch, capsys):
    subset = _subset()[:4]  # 2 calibration photos, 2 held out: the printing and the folder are the point
    monkeypatch.setattr(demo, "photos", lambda: subset)
    monkeypatch.setattr(ncnnq.cli.demo, "run_demo", functools.partial(run_demo, bench_rounds=3))
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_FOLDER).mkdir()
    (tmp_path / DEFAULT_FOLDER / "taken").write_text("")
    temp_before = set(Path(tempfile.gettempdir()).iterdir())
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    folder = f"{DEFAULT_FOLDER}-2/"
    assert f"files go to {folder}" in out and f"files in {folder}" in out
    for text in ("top-1 same as fp32", "output cosine (mean)", "speed-up over fp32", "calibration time",
                 "method=kl", "method=best"):
        assert text in out, text
    assert re.search(r"top-1 same as fp32\s+\d+\.\d% \(\d/2\)\s+\d+\.\d% \(\d/2\)", out), out
    last = out.rstrip("\n").splitlines()[-3:]
    assert [line.split()[:2] for line in last] == [["ncnnq", "quantize"], ["ncnnq", "run"], ["ncnnq", "bench"]]
    assert f"{folder}calibration" in last[0] and "method=best" in last[0]
    assert (tmp_path / folder / f"{demo.MODEL}-int8-best.param").is_file()
    new_temp = set(Path(tempfile.gettempdir()).iterdir()) - temp_before
    assert not [p for p in new_temp if p.name.startswith("ncnnq-demo")], "the demo left a temporary folder"


@pytest.mark.slow
def test_the_whole_demo_on_every_photo(tmp_path, capsys):
    """The README's first command as a user runs it (also: real ncnn agrees with ncnnq's int8)."""
    assert main(["demo", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    n = len(demo.held_out_photos())
    for method in METHODS:
        table = ncnnq.Table.load(tmp_path / "d" / f"{demo.MODEL}-{method}.table")
        assert len(table.activations) == 26
    rows = re.findall(rf"(\d+\.\d)% \((\d+)/{n}\)", out)
    assert len(rows) >= 2 and all(int(k) >= n // 2 for _, k in rows), out
    cosines = [float(c) for c in re.findall(r"output cosine \(mean\)\s+([\d.]+)\s+([\d.]+)", out)[0]]
    assert all(c > 0.95 for c in cosines), out
    assert np.isfinite(cosines).all()
