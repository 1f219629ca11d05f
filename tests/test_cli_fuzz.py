"""The command line driven with random bad files and options (seeded): whatever happens, the exit
status is 0 or 2, nothing prints a traceback, no special file (device, FIFO, symlink) is changed,
and when the command fails every existing output is as it was and no temporary file is left.

The default run tries ``CASES`` command lines; ``pytest -m slow`` tries ``SLOW_CASES`` more."""

from __future__ import annotations

import contextlib
import os
import random
import stat
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinynet
from ncnnq.cli import main

CASES = 60
SLOW_CASES = 2000
PARAM, BIN = tinynet.model_files()
IMAGES = tinynet.image_files()[:4]


@dataclass
class Scene:
    """The files one case works in: inputs (some broken), existing outputs and special files."""

    root: Path
    rng: random.Random
    special: dict[Path, tuple[int, int, str]]
    existing: dict[Path, bytes]
    clean: bool = False
    """Good inputs and options, only the outputs drawn at random: commands that succeed, writing
    into devices, FIFOs, symlinks and existing files."""

    def path(self, name: str) -> str:
        return str(self.root / name)


def _mutated_param(rng: random.Random) -> str:
    lines = PARAM.read_text().splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        tokens = lines[i].split()
        kind = rng.randrange(7)
        if kind == 0 and tokens:
            tokens.pop(rng.randrange(len(tokens)))
        elif kind == 1 and tokens:
            tokens[rng.randrange(len(tokens))] = rng.choice(["-1", "0", "99999999", "1e40", "abc", "=", "[", "3=x"])
        elif kind == 2:
            lines.insert(i, lines[i])  # a duplicate layer (same name, same top)
        elif kind == 3:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        elif kind == 4 and len(tokens) > 1:
            lines.insert(i + 1, lines[i].replace(tokens[1], tokens[1] + "x", 1))  # a near-duplicate
        elif kind == 5:
            tokens.append(f"{rng.randint(-30, 40)}={rng.choice(['1', '2.5', '1,2', 'x', '999999999'])}")
        else:
            lines.insert(i, "".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(1, 40))))
        if kind in (0, 1, 5):
            lines[i] = " ".join(tokens)
    return "\n".join(lines) + "\n"


def _param(scene: Scene) -> str:
    rng = scene.rng
    choice = 0 if scene.clean else rng.randrange(14)
    target = scene.root / f"in{rng.randrange(1000)}.param"
    if choice == 0 or choice >= 8:
        return str(PARAM)
    if choice == 1:
        target.write_bytes(rng.randbytes(rng.randint(0, 300)))
    elif choice == 2:
        target.write_text(_mutated_param(rng))
    elif choice == 3:
        target.write_bytes(PARAM.read_bytes()[: rng.randrange(PARAM.stat().st_size)])
    elif choice == 4:
        return scene.path("missing.param")
    elif choice == 5:
        return str(scene.root)
    elif choice == 6:
        target.write_bytes(struct.pack("<iii", 7767517, rng.randint(-5, 1 << 30), rng.randint(-5, 1 << 30)))
    else:
        return scene.path("link.table")  # a symlink as input (a FIFO would wait for a writer)
    return str(target)


def _bin(scene: Scene) -> str:
    rng = scene.rng
    data = BIN.read_bytes()
    choice = 0 if scene.clean else rng.randrange(8)
    target = scene.root / f"in{rng.randrange(1000)}.bin"
    if choice <= 1:
        return str(BIN)
    if choice == 2:
        target.write_bytes(data[: rng.randrange(len(data))])
    elif choice == 3:
        target.write_bytes(data + rng.randbytes(rng.randint(1, 16)))
    elif choice == 4:
        return scene.path("missing.bin")
    else:
        target.write_bytes(rng.randbytes(rng.randint(0, 2000)))
    return str(target)


def _png_claiming(path: Path, width: int, height: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def _images(scene: Scene) -> str:
    rng = scene.rng
    choice = 0 if scene.clean else rng.randrange(10)
    entries = [str(p) for p in IMAGES]
    if choice == 0:
        return str(IMAGES[0].parent)
    if choice >= 7:
        pass  # a good list
    if choice == 1:
        bad = scene.root / "bad.png"
        bad.write_bytes(rng.randbytes(rng.randint(0, 200)))
        entries.insert(rng.randrange(len(entries) + 1), str(bad))
    elif choice == 2:
        entries.insert(rng.randrange(len(entries) + 1), scene.path("missing.jpg"))
    elif choice == 3:
        bomb = scene.root / "bomb.png"
        _png_claiming(bomb, rng.choice([14000, 1, 0, 70000]), rng.choice([14000, 1, 70000]))
        entries.append(str(bomb))
    elif choice == 4:
        entries = []
    elif choice == 5:
        img = scene.root / "odd.png"
        mode = rng.choice(["L", "RGBA", "I;16", "P", "1"])
        Image.fromarray(np.zeros((rng.randint(1, 9), rng.randint(1, 9)), np.uint8)).convert(mode).save(img)
        entries.append(str(img))
    elif choice == 6:
        return scene.path("nowhere")
    listing = scene.root / f"list{rng.randrange(1000)}.txt"
    listing.write_text("".join(f"{e}\n" for e in entries))
    return str(listing)


def _table(scene: Scene) -> str:
    rng = scene.rng
    target = scene.root / f"in{rng.randrange(1000)}.table"
    lines = ["conv1_param_0 " + "1.0 " * 16, "conv1 10.0 ", "conv2_param_0 " + "2.0 " * 32, "conv2 5.0 "]
    choice = 4 if scene.clean else rng.randrange(5)
    if choice == 0:
        lines.append(rng.choice(lines))
    elif choice == 1:
        lines[rng.randrange(len(lines))] += rng.choice(["x", "nan", "-1", "inf", "1e999"])
    elif choice == 2:
        lines.append(f"nosuchlayer {rng.random()}")
    elif choice == 3:
        target.write_bytes(rng.randbytes(rng.randint(0, 100)))
        return str(target)
    target.write_text("\n".join(lines) + "\n")
    return str(target)


def _output(scene: Scene, suffix: str) -> str:
    rng = scene.rng
    choice = rng.randrange(7)
    if choice <= 1:
        return scene.path(f"new{rng.randrange(3)}{suffix}")
    if choice == 2:
        return str(rng.choice(list(scene.existing)))
    if choice == 3:
        return str(rng.choice(list(scene.special)))
    if choice == 4:
        return str(scene.root)
    if choice == 5:
        return scene.path(f"missing/out{suffix}")
    return scene.path(f"new0{suffix}")  # perhaps the same as another output


OPTION_POOL = [
    "mean=[127.5,127.5,127.5]", "norm=[0.0078125,0.0078125,0.0078125]", "shape=[32,32,3]", "pixel=BGR",
    "mean=[1,2,3,4]", "mean=[1]", "mean=[]", "mean=", "mean=[1,2", "norm=[x,1,1]", "shape=[0,0,3]",
    "shape=[-5,32,3]", "shape=[99999999999,1,3]", "shape=[32]", "shape=[2000,2000,3]", "pixel=XYZ", "pixel=RAW",
    "pixel=GRAY", "thread=0", "thread=-3", "thread=99999", "thread=1", "thread=2", "method=foo", "method=kl",
    "method=aciq", "method=mse", "type=1", "type=3", "unknown=1", "=", "optimize=0", "optimize=2", "fp32=1",
    "table=" + "x" * 300, "threads=0", "loops=1", "warmup=0", "input=random", "input=nope.jpg", "top=0", "seed=-1",
    "--json", "target=sqnr:20", "target=cos:2", "target=top1:0.5", "target=foo", "val=0.5", "val=1", "verify=1",
    "samples=0", "samples=2", "json=", "plot=",
]


def _demo_folder(scene: Scene) -> str:
    """Only folders the demo must refuse (a good one would run the whole demo)."""
    return scene.rng.choice([str(scene.root), *map(str, scene.existing), *map(str, scene.special),
                             scene.path("missing/demo")])


def _options(scene: Scene, count: int, base: tuple[str, ...] = ()) -> list[str]:
    """``base`` with ``count`` random options added or put in place of the one with their key."""
    chosen = {token.partition("=")[0]: token for token in base}
    for token in scene.rng.sample(OPTION_POOL, 0 if scene.clean else count):
        chosen[token.partition("=")[0]] = token
    return list(chosen.values())


GOOD = (*OPTION_POOL[:4], "thread=1")


def _command(scene: Scene) -> list[str]:
    rng = scene.rng
    scene.clean = rng.random() < 0.3
    builders: list[Callable[[], list[str]]] = [
        lambda: ["info", _param(scene), _bin(scene)],
        lambda: ["table", _param(scene), _bin(scene), _images(scene), _output(scene, ".table"),
                 *_options(scene, rng.randint(0, 2), GOOD)],
        lambda: ["table", _param(scene), _bin(scene), _output(scene, ".table"), *_options(scene, rng.randint(0, 2))],
        lambda: ["int8", _param(scene), _bin(scene), _output(scene, ".param"), _output(scene, ".bin"), _table(scene)],
        lambda: ["quantize", _param(scene), _bin(scene), _images(scene), _output(scene, ".param"),
                 _output(scene, ".bin"), *_options(scene, rng.randint(0, 2), GOOD)],
        lambda: ["optimize", _param(scene), rng.choice([_bin(scene), "null"]), _output(scene, ".param"),
                 _output(scene, ".bin"), rng.choice(["0", "1", "65536", "x", "-1"])],
        lambda: ["run", _param(scene), _bin(scene), *_options(scene, rng.randint(0, 2))],
        lambda: ["bench", _param(scene), *_options(scene, rng.randint(0, 2), ("loops=1", "warmup=0"))],
        lambda: ["analyze", _param(scene), _bin(scene), _images(scene), *rng.choice([[], [_table(scene)]]),
                 *_options(scene, rng.randint(0, 2), (*GOOD, "samples=2")),
                 *rng.sample([f"json={_output(scene, '.json')}", f"plot={_output(scene, '.png')}"], rng.randint(0, 2))],
        lambda: ["demo", _demo_folder(scene), *rng.choice([[], ["--threads", rng.choice(["0", "-1", "x", "1"])]])],
    ]
    return rng.choice(builders)()


def _state(path: Path) -> tuple[int, int, str]:
    st = os.lstat(path)
    return stat.S_IFMT(st.st_mode), st.st_rdev, os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""


def _scene(root: Path, seed: int) -> Scene:
    scene = Scene(root, random.Random(seed), {}, {})
    for name in ("old.param", "old.bin", "old.table", "target.table"):
        (root / name).write_bytes(f"old {name}\n".encode())
        scene.existing[root / name] = (root / name).read_bytes()
    (root / "link.table").symlink_to("target.table")
    scene.special[root / "link.table"] = _state(root / "link.table")
    os.mkfifo(root / "pipe")
    scene.special[root / "pipe"] = _state(root / "pipe")
    try:
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        scene.special[root / "null"] = _state(root / "null")
    except PermissionError:
        pass  # not root: the symlink and the FIFO are the special files
    return scene


@contextlib.contextmanager
def _draining(fifo: Path) -> Iterator[None]:
    """A reader that empties ``fifo`` for as long as the command runs, as a pipe's reader would. It
    holds the FIFO open from the start, so a writer never waits and nothing waits on the path (a
    broken writer might replace it)."""
    stop = threading.Event()
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def drain() -> None:
        while not stop.is_set():
            try:
                if not os.read(fd, 1 << 16):
                    time.sleep(0.005)  # no writer, or the writer closed: nothing to read yet
            except BlockingIOError:
                time.sleep(0.005)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield
    finally:
        stop.set()
        reader.join()
        os.close(fd)


def _check(seed: int, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = _scene(root, seed)
    argv = _command(scene)
    with _draining(root / "pipe"):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's usage errors, as the ncnnq command exits with them
            code = e.code if isinstance(e.code, int) else 2
    err = capsys.readouterr().err
    described = f"seed {seed}: ncnnq {' '.join(argv)}\n{err}"
    assert code in (0, 2), described
    assert "Traceback" not in err and "internal error" not in err, described
    if code == 2:
        assert err.startswith("error: ") or "usage:" in err, described
    for path, state in scene.special.items():
        assert _state(path) == state, f"{path} changed: {described}"
    if code != 0:
        for path, data in scene.existing.items():
            assert path.read_bytes() == data, f"{path} changed: {described}"
    leftovers = [p.name for p in root.rglob(".*ncnnq-*")]
    assert not leftovers, f"temporary files {leftovers}: {described}"


@pytest.mark.parametrize("seed", range(CASES))
def test_random_bad_command_lines(seed, tmp_path, capsys):
    _check(seed, tmp_path, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(CASES, CASES + SLOW_CASES))
def test_many_more_random_bad_command_lines(seed, tmp_path, capsys):
    _check(seed, tmp_path, capsys)
