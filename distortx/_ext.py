"""Finds the native core ``distortx._C`` and says why when it is missing.

The extension registers its ops in the ``torch.ops.distortx`` namespace on import. Without it the package
works on its pure-PyTorch paths (one warning); ``impl="native"`` then raises
:class:`~distortx.errors.NativeUnavailableError` with the build command.
"""
from __future__ import annotations

import warnings
from typing import Optional

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


def resolve_impl(impl: str, what: str, device: torch.device) -> str:
    """Map impl="auto"|"native"|"python" to "native" or "python" for a tensor on ``device``."""
    if impl not in ("auto", "native", "python"):
        from .errors import ParameterError

        raise ParameterError(f"impl must be 'auto', 'native' or 'python', got {impl!r}")
    if impl == "python":
        return "python"
    if impl == "native":
        require_native(what)
        if device.type == "cuda" and not cuda_compiled():
            raise NativeUnavailableError(f"{what}: distortx._C was built without CUDA kernels; {BUILD_HINT}")
        return "native"
    ok = native_available() and (device.type != "cuda" or cuda_compiled())
    return "native" if ok else "python"
