"""Op codes of the distortions the fused native kernel implements: ``{registered name: code}``.

The one table is ``csrc/distort/codes.h`` (an X-macro that also generates the kernel's enum and dispatch); the
extension exports it as ``distortx._C.NATIVE_CODES`` and :data:`NATIVE_CODES` is that dict when the extension
is built. ``FALLBACK_CODES`` serves only when it is not (the specs still carry their codes, e.g. for datasets
written elsewhere); tests/test_native_codes.py checks that the two agree.
"""
from __future__ import annotations

from typing import Dict

FALLBACK_CODES: Dict[str, int] = {
    "gaussian_noise": 1,
    "gaussian_noise_sigma": 2,
    "mono_gaussian_noise": 3,
    "salt_pepper": 4,
    "quantization": 5,
    "contrast": 6,
    "fnoise": 7,
    "gaussian_blur": 8,
    "motion_blur": 9,
    "lowpass": 10,
    "marble": 11,
    "twirl": 12,
    "jpeg": 13,
    "nlm_denoise": 14,
    "mono_salt_pepper": 15,
}


def _load() -> Dict[str, int]:
    from .._ext import native_code_table

    table = native_code_table()
    return dict(FALLBACK_CODES) if table is None else table


NATIVE_CODES: Dict[str, int] = _load()
