"""The ``ncnnq`` command: its subcommands and their arguments, and the exit status.

Exit status: 0 done; 2 bad input (a usage error, a bad file, option or model, a file that cannot
be read or written, not enough memory for the input), with one line on stderr naming what was
wrong; 130 interrupted (Ctrl-C); 1 a bug in ncnnq (an unexpected exception: one line, and the
traceback with ``NCNNQ_DEBUG=1``). A command that fails leaves every existing output as it was.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from PIL import Image

from .._native import MAX_THREADS
from ..errors import Error
from . import render, usage
from .json_out import add_json_flag, pop_json_flag
from .render import Console

Command = Callable[[argparse.Namespace, Console], None]


def _command(module: str, name: str) -> Command:
    """The subcommand body ``name`` of ``ncnnq.cli.<module>``, imported when it runs: a command
    does not pay for importing what only the others use (the pipeline, mixed precision, the demo)."""

    def run(args: argparse.Namespace, console: Console) -> None:
        body: Command = getattr(importlib.import_module(f"{__package__}.{module}"), name)
        body(args, console)

    return run

EXIT_OK = 0
EXIT_BUG = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def _subcommand(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, h: usage.Help
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=h.summary,
        usage=h.usage,
        description=h.details,
        epilog=f"example:\n  {h.example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _threads(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected a thread count from 1 to {MAX_THREADS}, not {value!r}")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ncnnq",
        description="ncnn post-training int8 quantization; `ncnnq <command> --help` shows a command's options",
        epilog="exit status: 0 done, 2 bad input, 130 interrupted, 1 a bug in ncnnq (NCNNQ_DEBUG=1 for the traceback)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    info = _subcommand(sub, "info", usage.INFO)
    info.add_argument("param", nargs="?", help=".param file (text or binary)")
    info.add_argument("bin", nargs="?", help=".bin weights file")
    add_json_flag(info)
    info.set_defaults(run=_command("model", "cmd_info"))
    table = _subcommand(sub, "table", usage.TABLE)
    table.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    table.set_defaults(run=_command("quantization", "cmd_table"))
    int8 = _subcommand(sub, "int8", usage.INT8)
    int8.add_argument("in_param", metavar="in.param", help="the fp32 model's .param")
    int8.add_argument("in_bin", metavar="in.bin", help="its .bin")
    int8.add_argument("out_param", metavar="out.param", help="the int8 .param to write")
    int8.add_argument("out_bin", metavar="out.bin", help="the int8 .bin to write")
    int8.add_argument("table", metavar="model.table", help="the scale table (ncnn2table's or ncnnq table's)")
    int8.add_argument("--fp32", action="store_true", help="store the float layers' weights as fp32 (default fp16)")
    int8.set_defaults(run=_command("quantization", "cmd_int8"))
    quant = _subcommand(sub, "quantize", usage.QUANTIZE)
    quant.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    quant.set_defaults(run=_command("quantization", "cmd_quantize"))
    analyze = _subcommand(sub, "analyze", usage.ANALYZE)
    analyze.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    analyze.set_defaults(run=_command("analysis", "cmd_analyze"))
    opt = _subcommand(sub, "optimize", usage.OPTIMIZE)
    opt.add_argument("inparam", metavar="in.param", help="input .param")
    opt.add_argument("inbin", metavar="in.bin", help="input .bin, or null for seeded random weights")
    opt.add_argument("outparam", metavar="out.param", help="output .param")
    opt.add_argument("outbin", metavar="out.bin", help="output .bin (may be /dev/null)")
    opt.add_argument("flag", nargs="?", default="0", help="0 fp32 weights (default), 1 or 65536 fp16")
    opt.add_argument("cutstart", nargs="?", help="keep only the layers from this one (name)")
    opt.add_argument("cutend", nargs="?", help="keep only the layers up to this one (name)")
    opt.set_defaults(run=_command("model", "cmd_optimize"))
    run = _subcommand(sub, "run", usage.RUN)
    add_json_flag(run)
    run.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    run.set_defaults(run=_command("inference", "cmd_run"))
    bench = _subcommand(sub, "bench", usage.BENCH)
    add_json_flag(bench)
    bench.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    bench.set_defaults(run=_command("inference", "cmd_bench"))
    demo = _subcommand(sub, "demo", usage.DEMO)
    demo.add_argument("folder", nargs="?", help="new or empty folder for its files (default: ./ncnnq-demo, "
                      "or ./ncnnq-demo-2, ... when that one is taken)")
    demo.add_argument("--threads", type=_threads, default=2, help=f"worker threads, 1 to {MAX_THREADS} (default 2)")
    demo.set_defaults(run=_command("demo", "cmd_demo"))
    return parser


def _os_message(e: OSError) -> str:
    """``path: reason`` for an OSError (both paths for a rename), else its text."""
    if e.filename is None:
        return str(e)
    reason = e.strerror or str(e)
    if e.filename2 is not None:
        return f"{e.filename} -> {e.filename2}: {reason}"
    return f"{e.filename}: {reason}"


def _debug() -> None:
    """With NCNNQ_DEBUG=1, the traceback of the exception being handled, whatever it is."""
    if os.environ.get("NCNNQ_DEBUG"):
        traceback.print_exc()


def _run(args: argparse.Namespace, console: Console) -> int:
    """Runs the subcommand; every way it can end becomes an exit status and at most one line."""
    try:
        args.run(args, console)
    except KeyboardInterrupt:
        _debug()
        render.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Whoever read our output stopped (e.g. `| head`): nothing more to say, and nowhere to say it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Error as e:
        _debug()
        render.error(e)
        return EXIT_BAD_INPUT
    except MemoryError as e:
        _debug()
        render.error(f"out of memory{': ' + str(e) if str(e) else ''} (the input is too large for this machine)")
        return EXIT_BAD_INPUT
    except (OSError, Image.DecompressionBombError) as e:
        _debug()
        render.error(_os_message(e) if isinstance(e, OSError) else str(e))
        return EXIT_BAD_INPUT
    except Exception as e:
        _debug()
        render.error(f"internal error: {type(e).__name__}: {e} (run with NCNNQ_DEBUG=1 for the traceback)")
        return EXIT_BUG
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except KeyboardInterrupt:
        render.error("interrupted")
        return EXIT_INTERRUPTED
    if isinstance(getattr(args, "args", None), list) and hasattr(args, "json"):
        args.json = pop_json_flag(args.args) or args.json  # `run m.param --json`: after the positionals
    return _run(args, Console())
