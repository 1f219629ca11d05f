#!/usr/bin/env python3
"""Pack the demo's pretrained network (ncnn's squeezenet_v1.1) into python/ncnnq/demo/model/.

    python tools/pack_demo_model.py [--models ../shared/data/models]

The wheel ships the model in a lossless packed form that ``ncnnq.demo`` expands at run time and
checks against the SHA-256 digests recorded here, so the files the demo writes are byte for byte
ncnn's. Why packed: the project never commits the shared data files as they are, and keeps every
tracked file under 2 MiB; the .bin (2.48 MB) stores its weights as fp16.

The packing: the .bin is split into its bytes at odd and at even offsets. Every array in it starts
at a multiple of 4 bytes, so for the fp16 weights (99.7 % of the file) the odd bytes are the high
bytes of the little-endian values: sign, the five exponent bits and the top two mantissa bits, which
compress well (xz, 867 KB). The even bytes are the low eight mantissa bits, close to uniform noise
that no general-purpose compressor shrinks (xz and bzip2 both make them larger), so they are stored
as they are (1.24 MB). The .param is xz-compressed. MANIFEST.json names the parts and the digests.

Also written: ``imagenet_classes.txt``, the first name of each line of ncnn's ``synset_words.txt``
(the classifier's 1000 output classes, in order), from ``--synsets``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "python" / "ncnnq" / "demo" / "model"
NAME = "squeezenet_v1.1"
# xz with LZMA2 at its strongest preset; lc=4 literal context bits (the previous high byte's top
# four bits: sign and exponent) measured best on the high bytes.
FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 4, "lp": 0, "pb": 0}]


def _xz(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, filters=FILTERS)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(param: bytes, weights: bytes, out: Path) -> dict[str, object]:
    if len(weights) % 2:
        raise SystemExit("the .bin has an odd length: its arrays are not 4-byte aligned")
    parts = {
        f"{NAME}.param.xz": _xz(param),
        f"{NAME}.bin.hi.xz": _xz(weights[1::2]),
        f"{NAME}.bin.lo": weights[0::2],
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, data in parts.items():
        (out / name).write_bytes(data)
    manifest = {
        f"{NAME}.param": {"sha256": _digest(param), "size": len(param), "xz": f"{NAME}.param.xz"},
        f"{NAME}.bin": {
            "sha256": _digest(weights),
            "size": len(weights),
            "odd_bytes_xz": f"{NAME}.bin.hi.xz",
            "even_bytes": f"{NAME}.bin.lo",
        },
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return {name: len(data) for name, data in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=ROOT.parent / "shared" / "data" / "models",
                    help="folder holding squeezenet_v1.1.param and .bin")
    ap.add_argument("--synsets", type=Path,
                    default=ROOT.parent / "shared" / "data" / "imagenet-sample" / "synset_words.txt",
                    help="ncnn's synset_words.txt (one '<wnid> <names>' line per output class)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    param = (args.models / f"{NAME}.param").read_bytes()
    weights = (args.models / f"{NAME}.bin").read_bytes()
    sizes = pack(param, weights, args.out)
    names = [line.split(" ", 1)[1].split(",")[0].strip() for line in args.synsets.read_text().splitlines()]
    assert len(names) == 1000, f"{args.synsets}: {len(names)} classes, expected 1000"
    (args.out / "imagenet_classes.txt").write_text("".join(f"{n}\n" for n in names))
    for name, size in sizes.items():
        print(f"{args.out / name}: {size:,} bytes")
    print(f"total {sum(sizes.values()):,} bytes for {len(param) + len(weights):,} bytes of model")

    # The check the demo makes at run time, here on what was just written.
    import sys

    sys.path.insert(0, str(ROOT / "python"))
    from ncnnq.demo import model_bytes

    if args.out == OUT:
        assert model_bytes() == (param, weights), "the packed model does not expand to the original"
        print("expands to the original files (SHA-256 checked)")


if __name__ == "__main__":
    main()
