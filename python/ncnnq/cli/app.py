"""The ``ncnnq`` command: its subcommands and their arguments, and the exit status.

Bad input exits with status 2 and a one-line error on stderr.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..errors import Error
from . import render
from .analysis import cmd_analyze
from .demo import cmd_demo
from .inference import cmd_bench, cmd_run
from .json_out import add_json_flag, pop_json_flag
from .model import cmd_info, cmd_optimize
from .ncnn_args import ANALYZE_USAGE, BENCH_USAGE, QUANTIZE_USAGE, RUN_USAGE
from .quantization import cmd_int8, cmd_quantize, cmd_table
from .render import Console

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ncnnq", description="ncnn post-training int8 quantization")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show a model's layers, params and weights (default: the demo's network)")
    info.add_argument("param", nargs="?", help=".param file (text or binary)")
    info.add_argument("bin", nargs="?", help=".bin weights file")
    add_json_flag(info)
    info.set_defaults(run=cmd_info)
    table = sub.add_parser(
        "table",
        help="calibrate: ncnn2table's arguments (model.param model.bin list.txt out.table mean=[..] norm=[..] "
        "shape=[..] pixel=BGR thread=N method=kl|aciq|eq type=0|1)",
    )
    table.add_argument("args", nargs=argparse.REMAINDER)  # a folder may stand for a list file
    table.set_defaults(run=cmd_table)
    int8 = sub.add_parser(
        "int8", help="quantize with a table, like ncnn2int8: in.param in.bin out.param out.bin model.table"
    )
    for name in ("in_param", "in_bin", "out_param", "out_bin", "table"):
        int8.add_argument(name)
    int8.add_argument("--fp32", action="store_true", help="store the float layers' weights as fp32 instead of fp16")
    int8.set_defaults(run=cmd_int8)
    quant = sub.add_parser("quantize", help="optimize, calibrate and quantize in one step: " + QUANTIZE_USAGE)
    quant.add_argument("args", nargs=argparse.REMAINDER)
    quant.set_defaults(run=cmd_quantize)
    analyze = sub.add_parser(
        "analyze", help="which layers break int8: per-layer figures on the model's outputs: " + ANALYZE_USAGE
    )
    analyze.add_argument("args", nargs=argparse.REMAINDER)
    analyze.set_defaults(run=cmd_analyze)
    opt = sub.add_parser("optimize", help="ncnnoptimize: fuse and remove layers, add shape hints, write the model")
    opt.add_argument("inparam", help="input .param")
    opt.add_argument("inbin", help="input .bin, or null for seeded random weights")
    opt.add_argument("outparam", help="output .param")
    opt.add_argument("outbin", help="output .bin")
    opt.add_argument("flag", nargs="?", default="0", help="0 fp32 weights (default), 1 or 65536 fp16")
    opt.add_argument("cutstart", nargs="?", help="keep only the layers from this one (name)")
    opt.add_argument("cutend", nargs="?", help="keep only the layers up to this one (name)")
    opt.set_defaults(run=cmd_optimize)
    run = sub.add_parser("run", help="run one input through a model and summarize its outputs: " + RUN_USAGE)
    add_json_flag(run)
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(run=cmd_run)
    bench = sub.add_parser("bench", help="latency of a model (fp32 or int8 as the file is): " + BENCH_USAGE)
    add_json_flag(bench)
    bench.add_argument("args", nargs=argparse.REMAINDER)
    bench.set_defaults(run=cmd_bench)
    demo = sub.add_parser(
        "demo", help="quantize a real pretrained network (SqueezeNet v1.1) on shipped photos with kl and best; "
        "compare with fp32, time it, and show the commands for your own model"
    )
    demo.add_argument("folder", nargs="?", help="new or empty folder for its files (default: ./ncnnq-demo, "
                      "or ./ncnnq-demo-2, ... when that one is taken)")
    demo.add_argument("--threads", type=int, default=2)
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if isinstance(getattr(args, "args", None), list) and hasattr(args, "json"):
        args.json = pop_json_flag(args.args) or args.json  # `run m.param --json`: after the positionals
    console = Console()
    try:
        args.run(args, console)
    except Error as e:
        render.error(e)
        return EXIT_BAD_INPUT
    return 0
