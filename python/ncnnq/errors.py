"""Exceptions raised by ncnnq.

Every error ncnnq raises derives from :class:`Error`; each also derives from the builtin a caller
would naturally catch (``ValueError`` for bad content, ``OSError`` for files, ``MemoryError`` for
an input too large for the memory).
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every ncnnq error."""


class FileError(Error, OSError):
    """A file could not be read or written."""


class ParamError(Error, ValueError):
    """A ``.param`` file is malformed; the message names the file, line and layer."""


class WeightsError(Error, ValueError):
    """A ``.bin`` file does not match its ``.param``; the message names the layer and byte offset."""


class LayerError(Error, ValueError):
    """A layer's parameters or weights are inconsistent."""


class UnsupportedLayerError(LayerError):
    """The engine has no implementation for a layer type (or this form of it)."""


class ShapeError(Error, ValueError):
    """A tensor reaching a layer has a shape the layer cannot take."""


class InputError(Error, ValueError):
    """Bad arguments: unknown blob or layer name, wrong array, bad option."""


class TableError(Error, ValueError):
    """A calibration table is malformed or does not fit the model."""


class OutOfMemoryError(Error, MemoryError):
    """An allocation sized by the input (a tensor, an image, declared weights) does not fit in
    memory; raised instead of aborting the process. The message says how many bytes and where."""


class ImageError(Error, ValueError):
    """A calibration input could not be read; the message names the file and its list line."""
