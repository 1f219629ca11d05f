"""The ``ncnnq`` command line: a thin layer over the library.

``ncnn_args`` parses ncnn's ``key=value`` syntax, ``render`` prints every result (with rich),
``app`` declares the subcommands, whose bodies live in ``model``, ``quantization``, ``inference``
and ``demo``.
"""

from __future__ import annotations

from .app import main

__all__ = ["main"]
