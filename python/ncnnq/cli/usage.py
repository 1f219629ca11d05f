"""What each subcommand's ``--help`` says: its full syntax, every argument and option with its
default, and an example. The method list comes from the method registry, the thread limit from
the engine, so neither can fall behind."""

from __future__ import annotations

from dataclasses import dataclass

from .._native import MAX_THREADS
from ..methods.registry import METHODS
from .ncnn_args import ANALYZE_USAGE, BENCH_USAGE, PIXEL_FORMATS, QUANTIZE_USAGE, RUN_USAGE, TABLE_USAGE


@dataclass(frozen=True)
class Help:
    summary: str
    """One line in ``ncnnq --help``."""
    usage: str
    details: str
    """Arguments and options, as shown under the usage line."""
    example: str


def _methods() -> str:
    width = max(len(name) for name in METHODS)
    return "\n".join(f"                        {name:<{width}}  {m.about}" for name, m in METHODS.items())


_CALIBRATION_OPTIONS = f"""\
options (ncnn2table's; for a model with several inputs, one bracket group per input,
in Input-layer order: mean=[104,117,123],[0.5]):
  mean=[m0,m1,m2]       subtracted from each channel's 0..255 values (required for images;
                        none or one value per channel of the pixel format)
  norm=[n0,n1,n2]       then multiplied by (required for images; none or one per channel)
  shape=[w,h,c]         input size: images are resized to w x h (w or h <= 0: keep the
                        aspect ratio); for type=1 the .npy shape in ncnn order (required)
  pixel=BGR             channel order the model takes: {', '.join(PIXEL_FORMATS[:-1])}
                        (RAW for type=1) (required for images)
  thread=N              worker threads, 1 to {MAX_THREADS} (default: every core)
  method=kl             how activation scales are chosen (default kl):
{_methods()}
  type=0                0: images (default), 1: float32 .npy files"""

TABLE = Help(
    summary="calibrate (ncnn2table): images in, the int8 scale table out",
    usage=f"{TABLE_USAGE}\n       ncnnq table model.param model.bin out.table   (weight-only: no calibration data)",
    details=f"""\
arguments:
  model.param model.bin   the fp32 model (run ncnnq optimize first, as with ncnn's tools)
  list.txt                ncnn2table's list file (one image or .npy path per line; relative
                          paths from the working folder, else from the list's folder), or a
                          folder of images (sorted by name); one per input, comma-separated
  out.table               the table to write (replaced only when calibration succeeded)

{_CALIBRATION_OPTIONS}

The weight-only form takes no options: it writes only the static weight scales (Embed,
MultiHeadAttention, RNN, LSTM, GRU); convolutions need calibration data.""",
    example=(
        "ncnnq table opt.param opt.bin images/ opt.table mean=[104,117,123] norm=[1,1,1] "
        "shape=[227,227,3] pixel=BGR thread=2 method=kl"
    ),
)

QUANTIZE = Help(
    summary="optimize, calibrate and quantize in one step: fp32 model and images in, int8 model out",
    usage=QUANTIZE_USAGE,
    details=f"""\
arguments:
  in.param in.bin         the fp32 model
  images/|list.txt        a folder of images or ncnn2table's list file (one per input, comma-separated)
  out.param out.bin       the int8 model to write (with the table, written together or not at all)

{_CALIBRATION_OPTIONS}

ncnnq's own options:
  optimize=1            run ncnnoptimize's passes first (0: calibrate the model as given)
  table=out.table       also write the scale table (default: not written)
  fp32=0                1: keep float layers' weights fp32 (default fp16, as ncnn2int8;
                        fp32 with target= from a method with cle or shift, or auto)

automatic mixed precision (the fewest float MACs that reach an accuracy target):
  target=sqnr:30        sqnr:<dB>, cos:<0..1> or top1:<0..1>, measured on the model's
                        outputs against fp32 on a validation split of the images (sqnr
                        and top1 by a lower confidence bound, for the images to come);
                        sqnr is the worst output's, sqnr_mean:<dB> the mean over outputs;
                        layers that break it stay float (their table lines commented out);
                        the search starts from method=, by default best+cle+shift+round+bc
  val=0.2               the validation fraction, never used for calibration (with target=)
  verify=1              also run the written files in real ncnn (PyPI ncnn) on the
                        validation split and compare (with target=; default 0)""",
    example=(
        "ncnnq quantize in.param in.bin images/ int8.param int8.bin mean=[104,117,123] norm=[1,1,1] "
        "shape=[227,227,3] pixel=BGR thread=2 method=kl table=int8.table"
    ),
)

ANALYZE = Help(
    summary="which layers break int8: per-layer figures on the model's outputs against fp32",
    usage=ANALYZE_USAGE,
    details=f"""\
arguments:
  model.param model.bin   the fp32 model
  images/|list.txt        a folder of images or ncnn2table's list file (one per input, comma-separated)
  existing.table          judge this table instead of calibrating one

{_CALIBRATION_OPTIONS}

ncnnq's own options:
  val=0.2               the validation fraction, never used for calibration
  samples=N             validation samples the figures use (default: as many as fit a
                        time budget of about five kl tables)
  json=report.json      also write the report as JSON
  plot=report.png       also write it as a PNG chart
  fp32=0                1: judge the files with fp32 float arrays (as quantize fp32=1)""",
    example=(
        "ncnnq analyze opt.param opt.bin images/ mean=[104,117,123] norm=[1,1,1] shape=[227,227,3] "
        "pixel=BGR thread=2 method=kl plot=layers.png"
    ),
)

INT8 = Help(
    summary="quantize with a table (ncnn2int8): fp32 model and table in, int8 model out",
    usage="ncnnq int8 in.param in.bin out.param out.bin model.table [--fp32]",
    details="""\
The table is checked against the model first (unknown layers, wrong counts, bad scales are all
listed) and both outputs are written together or not at all. A layer without its two table
lines stays float.""",
    example="ncnnq int8 opt.param opt.bin int8.param int8.bin opt.table",
)

OPTIMIZE = Help(
    summary="ncnnoptimize: fuse and remove layers, add shape hints, write the model",
    usage="ncnnq optimize in.param in.bin out.param out.bin [flag] [cutstart [cutend]]",
    details="""\
in.bin may be null: seeded random weights (ncnnoptimize's seed 7767517). An output may be a
device or FIFO (out.bin /dev/null drops the weights, as with ncnn's tools) or a symlink (its
target is replaced).""",
    example="ncnnq optimize in.param in.bin opt.param opt.bin 0",
)

INFO = Help(
    summary="show a model's layers, params and weights (default: the demo's network)",
    usage="ncnnq info [model.param [model.bin]] [--json]",
    details="Without arguments: the demo's network. Loading warnings (e.g. duplicate layer names) are listed.\n"
    "--json prints one JSON document instead.",
    example="ncnnq info squeezenet.param squeezenet.bin",
)

RUN = Help(
    summary="run one input through a model and summarize its outputs",
    usage=RUN_USAGE,
    details=f"""\
arguments:
  model.param [model.bin] the model (without a .bin: seeded random weights)

options:
  input=random          per input: an image, a float32 .npy in numpy order, or random (default)
  mean=[..] norm=[..] shape=[w,h,c] pixel=BGR
                        how an image becomes the input, as for ncnnq table (default shape:
                        the Input layer's)
  threads=1             worker threads, 1 to {MAX_THREADS} (default 1)
  seed=0                seed of random inputs and weights (default 0)
  labels=synset.txt     one class name per line, shown beside the top outputs
  top=5                 how many of the largest outputs to show (default 5)
  --json                one JSON document on stdout instead of the tables""",
    example=(
        "ncnnq run squeezenet.param squeezenet.bin input=cat.jpg mean=[104,117,123] norm=[1,1,1] "
        "shape=[227,227,3] pixel=BGR labels=synset_words.txt"
    ),
)

BENCH = Help(
    summary="latency of a model (fp32 or int8 as the file is)",
    usage=BENCH_USAGE,
    details=f"""\
arguments:
  model.param [model.bin] the model (without a .bin: seeded random weights)

options:
  threads=1             worker threads, 1 to {MAX_THREADS} (default 1)
  loops=10              timed runs (default 10)
  warmup=3              untimed runs first (default 3)
  shape=[w,h,c]         input size (default: the Input layer's)
  seed=0                seed of the random input and weights (default 0)
  --json                one JSON document on stdout instead of the table""",
    example="ncnnq bench squeezenet_int8.param squeezenet_int8.bin threads=2 loops=20",
)

DEMO = Help(
    summary="quantize a real pretrained network (SqueezeNet v1.1) on shipped photos with kl and best; "
    "compare with fp32, time it, and show the commands for your own model",
    usage="ncnnq demo [folder] [--threads N]",
    details=f"""\
arguments:
  folder                a new or empty folder for its files (default: ./ncnnq-demo, or
                        ./ncnnq-demo-2, ... when that one is taken); nothing is ever replaced

options:
  --threads 2           worker threads, 1 to {MAX_THREADS} (default 2)""",
    example="ncnnq demo my-demo --threads 4",
)
