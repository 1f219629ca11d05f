"""``ncnnq demo``: the whole job on the embedded model."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .. import demo
from ..pipeline import run_demo
from . import render
from .render import Console, RichProgress


def cmd_demo(args: argparse.Namespace, console: Console) -> None:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ncnnq-demo-"))
    param, _ = demo.model_files()
    render.demo_start(console, param.name, len(demo.image_files()), workdir)
    progress = RichProgress(console)
    try:
        result = run_demo(workdir, method=args.method, threads=args.threads, progress=progress)
    finally:
        progress.close()
    render.demo_result(console, args.method, result)
