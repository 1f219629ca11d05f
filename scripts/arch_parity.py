"""The same work on two architectures must give the same numbers: run the pipeline on the embedded
default with the installed ncnnq and dump its results, or compare two dumps.

    python scripts/arch_parity.py dump OUT.json       # run with the installed ncnnq
    python scripts/arch_parity.py compare A.json B.json

scripts/test-aarch64.sh dumps with the x86_64 wheel and with the aarch64 wheel under qemu, then
compares. Dumped, each from the demo's images with the demo's documented preprocessing:

- ``table``: ``ncnnq table`` (ncnn2table's arguments, method=kl) on the embedded default, read back
  from the table file; every scale must agree within 0.5%.
- ``fp32``: the embedded default's output per image, and each blob's 127 / max|x| over the images;
  outputs within the project's parity bar, scales within 0.5%.
- ``int8``: ``ncnnq int8`` with this architecture's table, then the int8 model's output per image.

and the same for a small conv net (seeded random weights) made of layers the engine had from the
start, so that the pipeline is compared even while the default cannot run yet.

A section the engine cannot run yet (a layer it lacks) is skipped on both sides with the reason.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

import ncnnq
from ncnnq import demo

SCALE_RTOL = 0.005
console = Console(width=120)

# Layers the engine has had from the start, with the default's input: calibrated and run like the
# default, so that the pipeline is compared across architectures even while the default cannot run.
SMALL_NET = """7767517
7 7
Input            data   0 1 data 0=32 1=32 2=3
Convolution      conv1  1 1 data c1 0=16 1=3 4=1 5=1 6=432 9=1
Pooling          pool1  1 1 c1 p1 0=0 1=2 2=2
Convolution      conv2  1 1 p1 c2 0=24 1=3 5=1 6=3456
ReLU             relu2  1 1 c2 r2 0=0.1
InnerProduct     fc     1 1 r2 fc 0=10 1=1 2=47040
Softmax          prob   1 1 fc prob
"""


def _demo_input(path: Path) -> np.ndarray:
    """What ncnn2table feeds the demo model for this image (ncnnq/demo/README.md)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    bgr = rgb[..., ::-1] if demo.PIXEL == "BGR" else rgb
    x = (bgr - np.array(demo.MEAN, np.float32)) * np.array(demo.NORM, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _net(model: ncnnq.Model) -> ncnnq.Net | str:
    try:
        return ncnnq.Net(model)
    except ncnnq.UnsupportedLayerError as e:
        return str(e)


def _run(model: ncnnq.Model, inputs: list[np.ndarray]) -> dict:
    """Every blob's scale 127 / max|x| over the inputs, and the outputs per input."""
    net = _net(model)
    if isinstance(net, str):
        return {"skipped": net}
    blobs = [b for b in model.blobs if b not in model.inputs]
    absmax = dict.fromkeys(blobs, 0.0)
    outputs: dict[str, list[list[float]]] = {name: [] for name in model.outputs}
    for x in inputs:
        for name, value in net.run({model.inputs[0]: x}, blobs).items():
            absmax[name] = max(absmax[name], float(np.max(np.abs(value))) if value.size else 0.0)
            if name in outputs:
                outputs[name].append(value.ravel().tolist())
    return {"scales": {k: (127.0 / v if v else 0.0) for k, v in absmax.items()}, "outputs": outputs}


def _cli(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "ncnnq.cli", *args], capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        sys.exit(f"ncnnq {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")


def _read_table(path: Path) -> dict[str, list[float]]:
    table = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            table[fields[0]] = [float(v) for v in fields[1:]]
    return table


def _pipeline(tmp: Path, param: Path, bin_path: Path, images: list[Path]) -> dict:
    """ncnnq table, ncnnq int8 and runs of a model taking the demo's input, as far as the engine can."""
    model = ncnnq.Model.load(param, bin_path)
    inputs = [_demo_input(f) for f in images]
    fp32 = _run(model, inputs)
    if "skipped" in fp32:  # calibration runs the fp32 model too
        return {"table": fp32, "fp32": fp32, "int8": fp32}
    (tmp / "list.txt").write_text("".join(f"{f}\n" for f in images))
    fmt = ",".join
    options = [f"mean=[{fmt(map(str, demo.MEAN))}]", f"norm=[{fmt(map(str, demo.NORM))}]",
               f"shape=[{fmt(map(str, demo.SHAPE))}]", f"pixel={demo.PIXEL}", "method=kl"]
    table_path = tmp / "model.table"
    _cli("table", str(param), str(bin_path), str(tmp / "list.txt"), str(table_path), *options)
    _cli("int8", str(param), str(bin_path), str(tmp / "int8.param"), str(tmp / "int8.bin"), str(table_path))
    int8 = _run(ncnnq.Model.load(tmp / "int8.param", tmp / "int8.bin"), inputs)
    int8.pop("scales", None)  # int8 blobs' ranges are the table's business, compared above
    return {"table": {"scales": _read_table(table_path)}, "fp32": fp32, "int8": int8}


def dump(out: Path) -> None:
    images = demo.image_files()
    sections = {}
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small"
        small.mkdir()
        net = ncnnq.Model.from_bytes(SMALL_NET.encode(), name="small-net").with_random_weights(seed=3)
        net.save(small / "small.param", small / "small.bin")
        for name, (param, bin_path) in [("default", demo.model_files()),
                                        ("small net", (small / "small.param", small / "small.bin"))]:
            work = Path(tmp) / name.replace(" ", "-")
            work.mkdir()
            console.print(f"[bold]{name}[/]: {param.name}")
            for section, result in _pipeline(work, param, bin_path, images).items():
                sections[f"{name}: {section}"] = result
    info = ncnnq.kernel_info()
    result = {"machine": platform.machine(), "features": info["features"],
              "paths": {family: d["chosen"] for family, d in info["families"].items()}, "sections": sections}
    out.write_text(json.dumps(result))
    console.print(f"{result['machine']}: CPU features {result['features']}, kernel paths {result['paths']}")
    for name, section in sections.items():
        what = "skipped: " + section["skipped"] if "skipped" in section else f"{len(section.get('scales', {}))} scales"
        console.print(f"  {name}: {what}")


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b)) if a or b else 0.0


def _close(a: list[float], b: list[float]) -> tuple[bool, str]:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        return False, f"shapes {x.shape} vs {y.shape}"
    denom = np.linalg.norm(x) * np.linalg.norm(y)
    cos = float(x @ y / denom) if denom else float(np.array_equal(x, y))
    err = float(np.max(np.abs(x - y))) if x.size else 0.0
    mag = float(np.max(np.abs(y))) if y.size else 0.0
    return cos >= 0.99999 and err <= 1e-3 * mag, f"cosine {cos:.7f}, max abs {err:.3g} of {mag:.3g}"


def compare(a_path: Path, b_path: Path) -> int:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    ma, mb = a["machine"], b["machine"]
    failures: list[str] = []
    scales = outputs = 0
    for title, ra in a["sections"].items():
        rb = b["sections"][title]
        if "skipped" in ra or "skipped" in rb:
            if ("skipped" in ra) != ("skipped" in rb):
                failures.append(f"{title}: ran on one architecture only")
            console.print(f"[yellow]{title}: skipped[/] ({ra.get('skipped') or rb.get('skipped')})")
            continue
        sa, sb = ra.get("scales", {}), rb.get("scales", {})
        if sa or sb:
            console.print(f"{title}: scales, {ma} vs {mb}")
            t = Table()
            for col in ("name", ma, mb, "rel. diff"):
                t.add_column(col, justify="left" if col == "name" else "right")
            if list(sa) != list(sb):
                failures.append(f"{title}: different entries {sorted(set(sa) ^ set(sb))}")
            for name in [n for n in sa if n in sb]:
                va, vb = (v if isinstance(v, list) else [v] for v in (sa[name], sb[name]))
                worst = max((_rel(x, y) for x, y in zip(va, vb)), default=0.0) if len(va) == len(vb) else 1.0
                scales += len(va)
                if worst > SCALE_RTOL:
                    failures.append(f"{title}: {name} differs by {worst:.3%}")
                t.add_row(name, " ".join(f"{x:.6g}" for x in va[:3]), " ".join(f"{y:.6g}" for y in vb[:3]),
                          f"{worst:.4%}", style=None if worst <= SCALE_RTOL else "red")
            console.print(t)
        for name, runs in ra.get("outputs", {}).items():
            bad = 0
            for i, (x, y) in enumerate(zip(runs, rb["outputs"][name], strict=True)):
                ok, how = _close(x, y)
                outputs += 1
                if not ok:
                    bad += 1
                    failures.append(f"{title}: output {name} of input {i}: {how}")
            console.print(f"{title}: output {name}: {len(runs) - bad} of {len(runs)} inputs within the parity bar"
                          f" (last: {how})", style="red" if bad else None)
    if not scales:
        failures.append("no scales were compared")
    for f in failures:
        console.print(f"[red]FAIL[/] {f}")
    verdict = "agree" if not failures else "DISAGREE"
    console.print(f"{ma} and {mb} {verdict}: {scales} scales within {SCALE_RTOL:.1%}, {outputs} outputs compared")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "dump":
        dump(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
