"""The same work on two architectures must give the same numbers: run the embedded default with the
installed ncnnq and dump what a run elsewhere must reproduce, or compare two dumps.

    python scripts/arch_parity.py dump OUT.json       # run with the installed ncnnq
    python scripts/arch_parity.py compare A.json B.json

scripts/test-aarch64.sh dumps with the x86_64 wheel and with the aarch64 wheel under qemu, then
compares. What is dumped:

- ``table``: the calibration table of ``ncnnq table`` on the embedded default (once that command
  exists), read back from ncnn's table format; every scale must agree within 0.5%.
- ``blobs``: per-blob scales 127 / max|x| over a few seeded inputs, from running every blob of the
  embedded default (and of a small conv net made only of layers the engine has had from the start,
  so that the engine is compared across architectures even while the default cannot run yet);
  every scale within 0.5%, the outputs within the project's parity bar.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import ncnnq
from ncnnq import demo

SCALE_RTOL = 0.005
# ncnnq's table command on the embedded default, writing ncnn's table format to {path}.
TABLE_ARGS = ["table", "--output", "{path}"]

SMALL_NET = """7767517
7 7
Input            data   0 1 data 0=20 1=18 2=3
Convolution      conv1  1 1 data c1 0=16 1=3 4=1 5=1 6=432 9=1
Pooling          pool1  1 1 c1 p1 0=0 1=2 2=2
Convolution      conv2  1 1 p1 c2 0=24 1=3 5=1 6=3456
ReLU             relu2  1 1 c2 r2 0=0.1
InnerProduct     fc     1 1 r2 fc 0=10 1=1 2=13440
Softmax          prob   1 1 fc prob
"""


def _input_shape(model: ncnnq.Model) -> tuple[int, ...]:
    layer = next(layer for layer in model.layers if layer.type == "Input")
    w, h, c = (layer.param(i) for i in (0, 1, 2))
    return (c, h, w)


def _run_blobs(model: ncnnq.Model, seed: int = 0, batch: int = 4) -> dict:
    try:
        net = ncnnq.Net(model)
    except ncnnq.UnsupportedLayerError as e:
        return {"skipped": str(e)}
    rng = np.random.default_rng(seed)
    blobs = [b for b in model.blobs if b not in model.inputs]
    absmax = dict.fromkeys(blobs, 0.0)
    outputs: dict[str, list[list[float]]] = {name: [] for name in model.outputs}
    for _ in range(batch):
        x = rng.uniform(-1, 1, size=_input_shape(model)).astype(np.float32)
        result = net.run({model.inputs[0]: x}, blobs)
        for name, value in result.items():
            absmax[name] = max(absmax[name], float(np.max(np.abs(value))))
            if name in outputs:
                outputs[name].append(value.ravel().tolist())
    return {"scales": {k: (127.0 / v if v else 0.0) for k, v in absmax.items()}, "outputs": outputs}


def _read_table(path: Path) -> dict[str, list[float]]:
    table = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields:
            table[fields[0]] = [float(v) for v in fields[1:]]
    return table


def _run_table() -> dict:
    from ncnnq import cli

    commands = next(a for a in cli._parser()._actions if a.dest == "command").choices
    if "table" not in commands:
        return {"skipped": "ncnnq has no table command yet"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "default.table"
        args = [a.format(path=path) for a in TABLE_ARGS]
        r = subprocess.run([sys.executable, "-m", "ncnnq.cli", *args], capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            sys.exit(f"ncnnq {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
        return {"scales": _read_table(path)}


def dump(out: Path) -> None:
    param, bin_path = demo.model_files()
    small = ncnnq.Model.from_bytes(SMALL_NET.encode(), name="small-net").with_random_weights(seed=3)
    result = {
        "machine": platform.machine(),
        "kernels": ncnnq.kernel_info(),
        "table": _run_table(),
        "blobs": {"embedded default": _run_blobs(ncnnq.Model.load(param, bin_path)), "small net": _run_blobs(small)},
    }
    out.write_text(json.dumps(result))
    console = Console(width=120)
    chosen = {family: d["chosen"] for family, d in result["kernels"]["families"].items()}
    console.print(f"{result['machine']}: CPU features {result['kernels']['features']}, kernel paths {chosen}")
    for name, run in result["blobs"].items():
        if "skipped" in run:
            console.print(f"[yellow]{name}: not run[/] ({run['skipped']})")
            continue
        console.print(f"{name} on {result['machine']}: scale = 127 / max|x| over the seeded inputs")
        t = Table()
        t.add_column("blob")
        t.add_column("scale", justify="right")
        for blob, s in run["scales"].items():
            t.add_row(blob, f"{s:.6g}")
        console.print(t)


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
    console = Console(width=120)
    failures: list[str] = []
    compared = 0

    def scales_table(title: str, sa: dict, sb: dict) -> None:
        nonlocal compared
        console.print(title)
        t = Table()
        for col in ("name", ma, mb, "rel. diff"):
            t.add_column(col, justify="left" if col == "name" else "right")
        if sa.keys() != sb.keys():
            failures.append(f"{title}: different names {sorted(set(sa) ^ set(sb))}")
        for name in sa.keys() & sb.keys():
            va, vb = (v if isinstance(v, list) else [v] for v in (sa[name], sb[name]))
            if len(va) != len(vb):
                failures.append(f"{title}: {name} has {len(va)} vs {len(vb)} scales")
                continue
            worst = max((_rel(x, y) for x, y in zip(va, vb)), default=0.0)
            compared += len(va)
            if worst > SCALE_RTOL:
                failures.append(f"{title}: {name} differs by {worst:.3%}")
            t.add_row(name, " ".join(f"{x:.6g}" for x in va[:4]), " ".join(f"{y:.6g}" for y in vb[:4]),
                      f"{worst:.4%}", style=None if worst <= SCALE_RTOL else "red")
        console.print(t)

    sections = [("ncnnq table on the embedded default", a["table"], b["table"])]
    sections += [(f"blob scales, {k}", a["blobs"][k], b["blobs"][k]) for k in a["blobs"]]
    for title, ra, rb in sections:
        if "skipped" in ra or "skipped" in rb:
            if ("skipped" in ra) != ("skipped" in rb):
                failures.append(f"{title}: ran on one architecture only")
            console.print(f"[yellow]{title}: skipped[/] ({ra.get('skipped') or rb.get('skipped')})")
            continue
        scales_table(f"{title}: {ma} vs {mb}", ra["scales"], rb["scales"])
        for name, runs in ra.get("outputs", {}).items():
            for i, (x, y) in enumerate(zip(runs, rb["outputs"][name], strict=True)):
                ok, how = _close(x, y)
                console.print(f"{title}: output {name}, input {i}: {how}", style=None if ok else "red")
                if not ok:
                    failures.append(f"{title}: output {name} (input {i}): {how}")
    for f in failures:
        console.print(f"[red]FAIL[/] {f}")
    if not compared:
        failures.append("nothing was compared")
    verdict = "agree" if not failures else "DISAGREE"
    console.print(f"{ma} and {mb} {verdict}: {compared} scales within {SCALE_RTOL:.1%}")
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
