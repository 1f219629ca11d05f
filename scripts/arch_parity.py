"""The same work on two architectures must give the same numbers: run the pipeline on the test
fixture tinynet (tests/tinynet) with the installed ncnnq and dump its results, or compare two dumps.

    python scripts/arch_parity.py dump OUT.json       # run with the installed ncnnq
    python scripts/arch_parity.py compare A.json B.json

scripts/test-aarch64.sh dumps with the x86_64 wheel and with the aarch64 wheel under qemu, then
compares. Dumped, each from tinynet's images with its documented preprocessing:

- ``table``: ``ncnnq table`` (ncnn2table's arguments, method=kl) on tinynet, as it prints
  it, read back from the table file: every scale (weights and activations) must agree within 0.5%.
- ``fp32``: tinynet's output per image, and each blob's 127 / max|x| over the images;
  outputs within the project's parity bar, scales within 0.5%.
- ``int8``: ``ncnnq int8`` with each architecture's own table, then the int8 model's output per
  image, within the same parity bar, and which int8 kernels ran.
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
from ncnnq import _native

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import tinynet  # the fixture lives beside the tests

SCALE_RTOL = 0.005
console = Console(width=120)


def _tinynet_input(path: Path) -> np.ndarray:
    """What ncnn2table feeds tinynet for this image (tests/tinynet/README.md)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    bgr = rgb[..., ::-1] if tinynet.PIXEL == "BGR" else rgb
    x = (bgr - np.array(tinynet.MEAN, np.float32)) * np.array(tinynet.NORM, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _run(model: ncnnq.Model, inputs: list[np.ndarray], scales: bool) -> dict:
    """The outputs per input and, if asked, every blob's scale 127 / max|x| over the inputs."""
    net = ncnnq.Net(model)
    blobs = [b for b in model.blobs if b not in model.inputs] if scales else list(model.outputs)
    absmax = dict.fromkeys(blobs, 0.0)
    outputs: dict[str, list[list[float]]] = {name: [] for name in model.outputs}
    for x in inputs:
        for name, value in net.run({model.inputs[0]: x}, blobs).items():
            absmax[name] = max(absmax[name], float(np.max(np.abs(value))) if value.size else 0.0)
            if name in outputs:
                outputs[name].append(value.ravel().tolist())
    result: dict = {"outputs": outputs}
    if scales:
        result["scales"] = {k: (127.0 / v if v else 0.0) for k, v in absmax.items()}
    return result


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


def dump(out: Path) -> None:
    param, bin_path = tinynet.model_files()
    images = tinynet.image_files()
    inputs = [_tinynet_input(f) for f in images]
    info = ncnnq.kernel_info()
    paths = {family: d["chosen"] for family, d in info["families"].items()}
    console.print(f"[bold]{platform.machine()}[/]: CPU features {info['features']}, kernel paths {paths}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "list.txt").write_text("".join(f"{f}\n" for f in images))
        fmt = ",".join
        options = [f"mean=[{fmt(map(str, tinynet.MEAN))}]", f"norm=[{fmt(map(str, tinynet.NORM))}]",
                   f"shape=[{fmt(map(str, tinynet.SHAPE))}]", f"pixel={tinynet.PIXEL}", "method=kl"]
        table_path = tmp / "tinynet.table"
        _cli("table", str(param), str(bin_path), str(tmp / "list.txt"), str(table_path), *options)
        _cli("int8", str(param), str(bin_path), str(tmp / "int8.param"), str(tmp / "int8.bin"), str(table_path))
        fp32 = _run(ncnnq.Model.load(param, bin_path), inputs, scales=True)
        before = _native.kernel_calls()
        int8 = _run(ncnnq.Model.load(tmp / "int8.param", tmp / "int8.bin"), inputs, scales=False)
        start = {(k, p): n for k, p, n in before}
        int8["kernels"] = sorted({f"{k}:{p}" for k, p, n in _native.kernel_calls() if n > start.get((k, p), 0)})
        table = {"scales": _read_table(table_path)}
    result = {"machine": platform.machine(), "features": info["features"], "paths": paths,
              "sections": {"table": table, "fp32": fp32, "int8": int8}}
    out.write_text(json.dumps(result))
    console.print(f"{len(table['scales'])} table entries, {len(fp32['scales'])} blob scales, "
                  f"{len(images)} images; int8 kernels that ran: {', '.join(int8['kernels'])}")


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b)) if a or b else 0.0


def _cosine(x: np.ndarray, y: np.ndarray) -> float:
    denom = np.linalg.norm(x) * np.linalg.norm(y)
    return float(x @ y / denom) if denom else float(np.array_equal(x, y))


def _close(a: list[float], b: list[float]) -> tuple[bool, str]:
    """The project's parity bar (tests/reference.py's assert_close)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        return False, f"shapes {x.shape} vs {y.shape}"
    cos = _cosine(x, y)
    err = float(np.max(np.abs(x - y))) if x.size else 0.0
    mag = float(np.max(np.abs(y))) if y.size else 0.0
    return cos >= 0.99999 and err <= 1e-3 * mag, f"cosine {cos:.7f}, max abs {err:.3g} of {mag:.3g}"


def _compare_scales(title: str, sa: dict, sb: dict, ma: str, mb: str, failures: list[str]) -> int:
    console.print(f"{title}: scales, {ma} vs {mb}")
    t = Table()
    for col in ("name", ma, mb, "rel. diff"):
        t.add_column(col, justify="left" if col == "name" else "right")
    if list(sa) != list(sb):
        failures.append(f"{title}: different entries {sorted(set(sa) ^ set(sb))}")
    count = 0
    for name in [n for n in sa if n in sb]:
        va, vb = (v if isinstance(v, list) else [v] for v in (sa[name], sb[name]))
        worst = max((_rel(x, y) for x, y in zip(va, vb)), default=0.0) if len(va) == len(vb) else 1.0
        count += len(va)
        if worst > SCALE_RTOL:
            failures.append(f"{title}: {name} differs by {worst:.3%}")
        more = " ..." if len(va) > 3 else ""
        t.add_row(name, " ".join(f"{x:.6g}" for x in va[:3]) + more, " ".join(f"{y:.6g}" for y in vb[:3]) + more,
                  f"{worst:.4%}", style=None if worst <= SCALE_RTOL else "red")
    console.print(t)
    return count


def compare(a_path: Path, b_path: Path) -> int:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    ma, mb = a["machine"], b["machine"]
    console.print(f"{ma}: paths {a['paths']}; {mb}: paths {b['paths']}")
    failures: list[str] = []
    scales = outputs = 0
    for title, ra in a["sections"].items():
        rb = b["sections"][title]
        if "scales" in ra:
            scales += _compare_scales(title, ra["scales"], rb["scales"], ma, mb, failures)
        for name, runs in ra.get("outputs", {}).items():
            bad, how = 0, ""
            for i, (x, y) in enumerate(zip(runs, rb["outputs"][name], strict=True)):
                ok, how = _close(x, y)
                outputs += 1
                if not ok:
                    bad += 1
                    failures.append(f"{title}: output {name} of image {i}: {how}")
            console.print(f"{title}: output {name}: {len(runs) - bad} of {len(runs)} images within the parity bar"
                          f" (last: {how})", style="red" if bad else None)
    if not scales or not outputs:
        failures.append("nothing was compared")
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
