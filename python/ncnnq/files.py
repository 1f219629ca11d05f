"""How the analysis and the mixed-precision search write their files (JSON, PNG, table, int8
model): every one through :func:`write_files`, all of a command's files together."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Union

from .errors import FileError

StrPath = Union[str, "os.PathLike[str]"]


def write_files(files: Sequence[tuple[StrPath, bytes | str]]) -> None:
    """Writes every ``(path, content)`` (``str`` as UTF-8) together or not at all: each goes to a
    temporary file beside its destination, and only when all are complete are they renamed into
    place. Raises :class:`ncnnq.FileError` naming the path that failed."""
    umask = os.umask(0)
    os.umask(umask)
    written: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            target = Path(path)
            if not target.resolve().parent.is_dir():
                raise FileError(f"{path}: folder {target.parent} does not exist")
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.resolve().parent)
                written.append((tmp, target))
                with os.fdopen(fd, "wb") as f:
                    f.write(data.encode() if isinstance(data, str) else data)
                os.chmod(tmp, 0o666 & ~umask)
            except OSError as e:
                raise FileError(f"{path}: {e.strerror or e}") from None
        for tmp, target in written:
            os.replace(tmp, target)
    finally:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
