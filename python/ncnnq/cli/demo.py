"""``ncnnq demo [folder]``: the shipped pretrained network quantized on shipped photos, the result
compared with fp32 and timed, then the commands that do the same on the user's own model."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from .. import demo
from ..demo.run import DemoResult, method_files, new_folder, prepare_folder, run_demo
from . import render
from .render import Console, RichProgress


def _shown(path: Path) -> str:
    """``path`` as the user would type it: relative to the current folder when inside it."""
    relative = os.path.relpath(path)
    return shlex.quote(path.as_posix() if relative.startswith("..") else Path(relative).as_posix())


def _options() -> str:
    def values(v: tuple[float, ...]) -> str:
        return ",".join(f"{x:g}" for x in v)

    return (f"mean=[{values(demo.MEAN)}] norm=[{values(demo.NORM)}] shape=[{values(demo.SHAPE)}] "
            f"pixel={demo.PIXEL}")


def commands(result: DemoResult, method: str) -> list[str]:
    """``ncnnq quantize`` as the demo ran it for ``method`` (it writes the same files as the demo's),
    then ``ncnnq run`` and ``ncnnq bench`` on its output."""
    files = {k: _shown(v) for k, v in method_files(result.folder, method).items()}
    photos = sorted(result.held_out.iterdir())
    photo = next((p for p in photos if "chelsea" in p.name), photos[0])
    param, bin_path = _shown(result.model["param"]), _shown(result.model["bin"])
    return [
        f"ncnnq quantize {param} {bin_path} {_shown(result.calibration)} {files['int8 param']} {files['int8 bin']} "
        f"{_options()} thread={result.threads} method={method} table={files['table']}",
        f"ncnnq run {files['int8 param']} {files['int8 bin']} input={_shown(photo)} {_options()} "
        f"labels={_shown(result.model['classes'])}",
        f"ncnnq bench {files['int8 param']} {files['int8 bin']} threads={result.threads}",
    ]


def cmd_demo(args: argparse.Namespace, console: Console) -> None:
    folder = Path(args.folder) if args.folder else new_folder(Path.cwd())
    prepare_folder(folder)  # before the first line, which names it
    shown = _shown(folder) + "/"
    render.demo_start(console, demo.MODEL, len(demo.photos()), len(demo.calibration_photos()), shown)
    progress = RichProgress(console)
    try:
        result = run_demo(folder, threads=args.threads, progress=progress)
    finally:
        progress.close()
    render.demo_result(console, result, shown)
    best = result.methods[-1].method
    render.commands(
        console,
        f"The same on your own model: give [bold]ncnnq quantize[/] your .param and .bin, a folder of your "
        f"images and your model's input options (as written it remakes the method={best} files above):",
        commands(result, best),
    )
