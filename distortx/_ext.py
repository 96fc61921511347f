"""Finds the native core ``distortx._C`` and says why when it is missing.

The extension registers its ops in the ``torch.ops.distortx`` namespace on import. Without it the package
works on its pure-PyTorch paths (one warning); ``impl="native"`` then raises
:class:`~distortx.errors.NativeUnavailableError` with the build command.
"""
from __future__ import annotations

import functools
import warnings
from typing import Dict, Optional

import torch

from .errors import NativeUnavailableError

BUILD_HINT = (
    "build it with `pip install --no-build-isolation -e .` from the source tree "
    "(needs a C++ compiler; CUDA kernels also need nvcc and a CUDA build of torch)"
)

_loaded: Optional[bool] = None
_error: Optional[str] = None


def native_available() -> bool:
    """True if ``distortx._C`` imported and registered its ops."""
    global _loaded, _error
    if _loaded is None:
        try:
            from . import _C  # noqa: F401  (registers torch.ops.distortx.*)

            _loaded = True
        except ImportError as exc:
            _loaded, _error = False, str(exc)
            warnings.warn(f"distortx native core not available ({exc}); using the pure-PyTorch paths. {BUILD_HINT}", stacklevel=2)
    return _loaded


def cuda_compiled() -> bool:
    """True if the native core was compiled with its CUDA kernels."""
    return native_available() and bool(torch.ops.distortx.cuda_compiled())


def require_native(what: str) -> None:
    if not native_available():
        raise NativeUnavailableError(f"{what} needs the native core distortx._C, which is not built ({_error}); {BUILD_HINT}")


#: the one vocabulary of every ``impl`` argument
IMPLS = ("auto", "native", "python")


def normalize_impl(impl: str, what: str = "impl") -> str:
    """``impl`` checked to be one of :data:`IMPLS` (one-line ParameterError otherwise)."""
    if impl in IMPLS:
        return impl
    from .errors import ParameterError

    raise ParameterError(f"{what}: impl must be 'auto', 'native' or 'python', got {impl!r}")


def native_code_table() -> Optional[Dict[str, int]]:
    """The fused distortion kernel's code table ``{name: code}`` exported by the extension (csrc/distort/codes.h),
    or None without the extension (no warning: the caller falls back to its own list)."""
    try:
        from . import _C
    except ImportError:
        return None
    table = getattr(_C, "NATIVE_CODES", None)
    return None if table is None else {str(k): int(v) for k, v in table.items()}


@functools.lru_cache(maxsize=None)
def _dispatch_has_kernel(op: str, key: str) -> bool:
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"distortx::{op}", key)


def has_kernel(op: str, device: torch.device) -> bool:
    """True if the loaded ``distortx._C`` defines ``torch.ops.distortx.<op>`` with a kernel for ``device``."""
    if not native_available() or not hasattr(torch.ops.distortx, op):
        return False
    key = {"cpu": "CPU", "cuda": "CUDA"}.get(torch.device(device).type)
    return key is not None and _dispatch_has_kernel(op, key)


def resolve_impl(impl: str, what: str, device: torch.device, op: Optional[str] = None) -> str:
    """Map impl="auto"|"native"|"python" to "native" or "python" for a tensor on ``device``; with ``op``, "native"
    also needs a kernel of ``torch.ops.distortx.<op>`` for the device ("auto" falls back to "python", "native"
    raises :class:`~distortx.errors.NativeUnavailableError`). Former values warn and map (:func:`normalize_impl`)."""
    impl = normalize_impl(impl, what)
    device = torch.device(device)
    if impl == "python":
        return "python"
    if impl == "native":
        require_native(what)
        if device.type == "cuda" and not cuda_compiled():
            raise NativeUnavailableError(f"{what}: distortx._C was built without CUDA kernels; {BUILD_HINT}")
        if op is not None and not has_kernel(op, device):
            raise NativeUnavailableError(f"{what}: the loaded distortx._C has no {device.type} kernel for distortx::{op}; {BUILD_HINT}")
        return "native"
    ok = native_available() and (device.type != "cuda" or cuda_compiled())
    if op is not None:
        ok = ok and has_kernel(op, device)
    return "native" if ok else "python"
