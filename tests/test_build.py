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


@pytest.mark.skipif(torch.version.cuda is None or not _nvcc_available() or os.environ.get("DISTORTX_FORCE_CUDA") == "0",
                    reason="CPU-only torch, no nvcc, or DISTORTX_FORCE_CUDA=0: a CPU-only build")
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


def test_without_the_extension_the_python_paths_run_and_native_says_how_to_build(monkeypatch):
    from distortx.errors import NativeUnavailableError
    from distortx.ops import distort_batch
    import distortx

    monkeypatch.setattr(_ext, "_loaded", False)
    monkeypatch.setattr(_ext, "_error", "No module named 'distortx._C'")
    assert _ext.resolve_impl("auto", "distort", torch.device("cpu")) == "python"
    with pytest.raises(NativeUnavailableError, match=r"distort needs the native core distortx._C.*pip install --no-build-isolation"):
        _ext.resolve_impl("native", "distort", torch.device("cpu"))
    x = torch.rand(1, 3, 16, 16)
    regions = [[distortx.Region("gaussian_blur", (2.0,), (0, 0, 8, 8))]]
    assert torch.allclose(distort_batch(x, regions, impl="auto"), distortx.apply_regions(x[0], regions[0]).unsqueeze(0))
