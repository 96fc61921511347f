"""One exception family for everything a user can get wrong.

Every message says what was wrong and what to do; the CLI prints it on one line and exits non-zero.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class DistortxError(Exception):
    """Base class of every error distortx raises on purpose."""


class UnknownNameError(DistortxError, KeyError):
    """A distortion, backbone, head or preset name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        folded = {k.lower(): k for k in known}  # "JPEG" suggests jpeg
        close = [folded[c] for c in difflib.get_close_matches(str(name).lower(), list(folded), n=3, cutoff=0.5)]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        msg = f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})"
        super().__init__(msg)
        self.name = name
        self.close_matches = close

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ParameterError(DistortxError, ValueError):
    """A parameter outside its declared range, NaN, or otherwise unusable."""


class ImageError(DistortxError, ValueError):
    """A tensor of the wrong shape/dtype, or an image file that cannot be read."""


class PluginError(DistortxError):
    """A plugin that fails to import, returns malformed objects, or clashes with another plugin."""


class NativeUnavailableError(DistortxError, RuntimeError):
    """impl='native' was asked for but the compiled extension distortx._C is not available."""


class DatasetError(DistortxError):
    """Bad sources, presets or output folders for dataset generation."""
