"""The native core is built, and with its CUDA kernels wherever a CUDA torch and nvcc exist (CI included)."""
from __future__ import annotations

import os
import shutil

import pytest
import torch

from distortx import _ext


def _nvcc_available() -> bool:
    return bool(shutil.which("nvcc") or os.path.exists("/usr/local/cuda/bin/nvcc"))


def test_native_core_is_built():
    if os.environ.get("DISTORTX_NO_NATIVE") == "1":
        pytest.skip("built with DISTORTX_NO_NATIVE=1")
    assert _ext.native_available(), "distortx._C is missing: pip install --no-build-isolation -e ."


@pytest.mark.skipif(torch.version.cuda is None or not _nvcc_available(), reason="CPU-only torch or no nvcc: CPU-only build")
def test_cuda_sources_were_compiled():
    assert _ext.cuda_compiled()
    assert {"distort", "batched_nms", "ssd_postprocess"} <= set(dir(torch.ops.distortx)) | {
        n for n in ("distort", "batched_nms", "ssd_postprocess") if hasattr(torch.ops.distortx, n)
    }


def test_impl_resolution():
    from distortx.errors import ParameterError

    assert _ext.resolve_impl("python", "x", torch.device("cpu")) == "python"
    assert _ext.resolve_impl("auto", "x", torch.device("cpu")) == ("native" if _ext.native_available() else "python")
    with pytest.raises(ParameterError, match="impl must be"):
        _ext.resolve_impl("fast", "x", torch.device("cpu"))
