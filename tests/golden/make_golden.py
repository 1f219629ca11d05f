"""Writes tests/golden/: tables, int8 file digests and output digests of today's ncnnq on the shared
models, which tests/test_golden.py then requires byte for byte. Run it only on purpose, when an
output is meant to change (say why in the commit): `python tests/golden/make_golden.py`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from golden_cases import HERE, METHODS, cases


def main() -> None:
    digests: dict[str, object] = {}
    for case in cases():
        for method in METHODS:
            table_text, int8_digest = case.quantize(method)
            (HERE / f"{case.name}-{method}.table").write_text(table_text)
            digests[f"{case.name}/{method}/int8"] = int8_digest
            digests[f"{case.name}/{method}/int8-outputs"] = case.int8_output_digest(method)
        digests[f"{case.name}/fp32-outputs"] = case.fp32_output_digest()
    digests["kernels"] = cases()[0].kernel_paths()
    digests["machine"] = cases()[0].machine()
    (HERE / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(digests)} digests and the tables to {HERE}")


if __name__ == "__main__":
    main()
