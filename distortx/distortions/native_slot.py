"""The slot through which a spec reaches the native kernels without importing ``distortx.ops``.

``ops`` (the native dispatch and the compositor) sits above ``distortions`` (specs and python references) and
imports them; a spec's ``apply`` needs the native path the other way. ``distortx.ops.distort_codes`` registers its
``apply_native`` here when it is imported, and the package ``distortx`` imports ``distortx.ops``, so the slot is
filled before any spec can be applied: imports stay one-way.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..errors import NativeUnavailableError

_APPLY_NATIVE: Optional[Callable] = None


def register_native_apply(fn: Callable) -> None:
    """Called once by ``distortx.ops.distort_codes``: ``fn(spec, images Tensor[N, C, H, W], params) -> Tensor``."""
    global _APPLY_NATIVE
    _APPLY_NATIVE = fn


def native_apply() -> Callable:
    """The registered native apply; NativeUnavailableError if ``distortx.ops`` was never imported."""
    if _APPLY_NATIVE is None:
        raise NativeUnavailableError("the native dispatch (distortx.ops) is not loaded; import distortx first")
    return _APPLY_NATIVE
