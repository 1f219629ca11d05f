"""What tests/test_golden.py pins: for each shared model, the table of every method on a fixed
slice of the lossless calibration set, the int8 files quantized from it, and the outputs of the fp32
and int8 models on a few images, as ncnnq produced them when tests/golden/ was written."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

import ncnnq
from ncnnq.calibrate import calibrate
from ncnnq.images import InputSpec, image_tensor
from ncnnq.int8 import quantize, save_int8
from reference import SHARED

HERE = Path(__file__).resolve().parent / "golden"
METHODS = ("kl", "aciq", "mse", "eq", "best")
CALIBRATION_IMAGES = 40
OUTPUT_IMAGES = 4


def _digest(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


@dataclass(frozen=True)
class Case:
    name: str
    param: Path
    bin: Path
    spec: InputSpec
    input: str
    outputs: tuple[str, ...]

    @cache
    def model(self) -> ncnnq.Model:
        return ncnnq.Model.load(self.param, self.bin)

    def images(self) -> list[Path]:
        return sorted((SHARED / "calib-png").glob("*.png"))[:CALIBRATION_IMAGES]

    @cache
    def table(self, method: str) -> ncnnq.Table:
        return calibrate(self.model(), self.images(), method, specs=[self.spec], threads=2)

    def table_text(self, method: str) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "t.table"
            self.table(method).save(path)
            return path.read_text()

    def recorded_table_text(self, method: str) -> str:
        return (HERE / f"{self.name}-{method}.table").read_text()

    def int8_files(self, method: str) -> tuple[bytes, bytes]:
        return self.int8_files_for(self.table_text(method))

    @cache
    def int8_files_for(self, table_text: str) -> tuple[bytes, bytes]:
        int8, _ = quantize(self.model(), ncnnq.Table.parse(table_text))
        with tempfile.TemporaryDirectory() as tmp:
            param, bin_path = Path(tmp) / "m.param", Path(tmp) / "m.bin"
            save_int8(int8, param, bin_path)
            return param.read_bytes(), bin_path.read_bytes()

    def quantize(self, method: str) -> tuple[str, str]:
        return self.table_text(method), _digest(*self.int8_files(method))

    def recorded_int8_digest(self, method: str) -> str:
        return _digest(*self.int8_files_for(self.recorded_table_text(method)))

    def _outputs_digest(self, net: ncnnq.Net) -> str:
        inputs = sorted((SHARED / "calib-png").glob("*.png"))[-OUTPUT_IMAGES:]
        chunks = []
        for path in inputs:
            out = net.run({self.input: image_tensor(path, self.spec)}, list(self.outputs))
            chunks += [np.ascontiguousarray(out[name], dtype=np.float32).tobytes() for name in self.outputs]
        return _digest(*chunks)

    def fp32_output_digest(self) -> str:
        return self._outputs_digest(ncnnq.Net(self.model(), threads=1))

    def int8_output_digest(self, method: str) -> str:
        param, bin_bytes = self.int8_files_for(self.recorded_table_text(method))
        return self._outputs_digest(ncnnq.Net(ncnnq.Model.from_bytes(param, bin_bytes), threads=1))

    @staticmethod
    def kernel_paths() -> dict[str, str]:
        families = ncnnq.kernel_info()["families"]
        return {name: str(family["chosen"]) for name, family in families.items()}  # type: ignore[index,union-attr]

    @staticmethod
    def machine() -> dict[str, str]:
        """What else float results depend on besides ncnnq's kernel paths: the CPU (x86 `rcpps`,
        which ncnn's depthwise int8 de-scale uses and ncnnq copies, differs between vendors and
        models) and the core numpy's BLAS chose (eq's and best's searches score with it)."""
        cpu = {}
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                key, _, value = line.partition(":")
                if key.strip() in ("vendor_id", "model name", "cpu family", "model"):
                    cpu.setdefault(key.strip(), value.strip())
        blas = [str(lib.get("architecture")) for lib in threadpool_info() if lib.get("internal_api") == "openblas"]
        return {**cpu, "blas": ",".join(blas)}


@cache
def cases() -> list[Case]:
    ref = SHARED / "reference"
    models = SHARED / "models"
    return [
        Case(
            "squeezenet_v1.1",
            ref / "squeezenet_v1.1" / "squeezenet_v1.1-opt.param",
            ref / "squeezenet_v1.1" / "squeezenet_v1.1-opt.bin",
            InputSpec((227, 227, 3), "BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0)),
            "data",
            ("prob",),
        ),
        Case(
            "nanodet_m",
            models / "nanodet_m.param",
            models / "nanodet_m.bin",
            InputSpec((320, 320, 3), "BGR", (103.53, 116.28, 123.675), (0.017429, 0.017507, 0.017125)),
            "input.1",
            ("792", "795", "814", "817", "836", "839"),
        ),
    ]
