"""The one code table (csrc/distort/codes.h) as Python sees it, and the whole path of a native code.

``codes.h`` is an X-macro: it generates the kernel's enum, its dispatch switches and the dict the extension
exports (``distortx._C.NATIVE_CODES``). The Python fallback list serves only without the extension; these
tests check that the two agree and that every entry of the table reaches its pixels through the planner, the
shared body and both CPU paths (fast and scalar = what CUDA runs).
"""
from __future__ import annotations

import pytest
import torch

import distortx
from distortx._ext import native_available, native_code_table
from distortx.distortions.native_codes import FALLBACK_CODES, NATIVE_CODES

needs_native = pytest.mark.skipif(not native_available(), reason="distortx._C is not built")


@needs_native
def test_extension_table_is_the_python_table():
    table = native_code_table()
    assert table == NATIVE_CODES == FALLBACK_CODES
    assert sorted(table.values()) == list(torch.ops.distortx.distort_native_codes())


def test_every_native_code_belongs_to_one_registered_distortion():
    by_code = {}
    for name in distortx.list_distortions():
        spec = distortx.get_distortion(name)
        if spec.native_code is not None:
            assert spec.native_code not in by_code, (name, by_code.get(spec.native_code))
            by_code[spec.native_code] = name
    assert by_code == {code: name for name, code in NATIVE_CODES.items()}


@needs_native
@pytest.mark.parametrize("name", sorted(NATIVE_CODES, key=NATIVE_CODES.get))
def test_table_entry_runs_end_to_end(name):
    """Table -> planner -> body: distortx.distort takes the kernel (impl="native"), whose fast and scalar
    paths agree with each other and with the Python reference (tolerances of tests/native_cases.py)."""
    from native_cases import make_image, tol

    spec = distortx.get_distortion(name)
    h, w = (12, 11) if name == "nlm_denoise" else (21, 18)
    x = make_image(2, 3, h, w, seed=NATIVE_CODES[name])
    value = distortx.severity_value(name, 5)
    native = distortx.distort(x, name, value=value, seed=3, impl="native")
    python = distortx.distort(x, name, value=value, seed=3, impl="python")
    params = spec.sample(2, generator=torch.Generator().manual_seed(3))  # what distort draws, severity set below
    params.values[:, 0] = value
    if name == "jpeg":  # the kernel mirrors the torch simulation of the codec; the reference is Pillow
        python = spec.simulate(x, params)
    assert (native - python).abs().max().item() <= tol(name)
    case = (x, torch.full((2, 1), spec.native_code, dtype=torch.int32),
            torch.nn.functional.pad(params.values, (0, 4 - spec.num_params)).unsqueeze(1).contiguous(),
            torch.tensor([[0, 0, w, h]], dtype=torch.int32).repeat(2, 1).unsqueeze(1), params.seed.view(2, 1))
    fast, scalar = torch.ops.distortx.distort(*case), torch.ops.distortx.distort_scalar(*case)
    assert (fast - scalar).abs().max().item() <= {"contrast": 1e-6, "nlm_denoise": 1e-5}.get(name, 0.0)
    assert torch.equal(fast, native)
