"""Every file ncnnq writes, from the command line or the API, goes through one writer (the native
``output`` module, which ``Model.save`` uses too):

- a regular file or a new path is written to a temporary file beside it and renamed into place,
  so a failure never leaves a half-written file; a new file's mode follows the umask (0644 under
  umask 022), an existing file keeps its mode;
- a character or block device or a FIFO is written in place (``/dev/null`` stays ``/dev/null``);
- a symlink's target is replaced and the link kept;
- several files are written together or not at all (``.param``, ``.bin`` and table of one command).

Commands call :func:`check_outputs` with every output before any long work, so a bad output path
(missing or read-only folder, a folder, the same file twice) fails in a second, not after
calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Union

from . import _native

StrPath = Union[str, "PathLike[str]"]


def check_outputs(paths: Sequence[StrPath]) -> None:
    """Raises :class:`ncnnq.FileError` naming the first output that cannot be written: its folder is
    missing or takes no new files, it is a folder, or it is the same file as another output."""
    _native.check_outputs(list(paths))


def write_outputs(files: Sequence[tuple[StrPath, bytes | str]]) -> None:
    """Writes every ``(path, content)`` together or not at all (``str`` content as UTF-8 with the
    newlines as given). Raises :class:`ncnnq.FileError` naming the path that failed."""
    _native.write_outputs([(path, data.encode() if isinstance(data, str) else data) for path, data in files])
