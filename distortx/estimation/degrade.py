"""Endo's degradations through distortx's synthesis: parameters drawn as the ``endo-jpeg`` /
``endo-noise`` presets say, pixels distorted by the fused op :func:`distortx.ops.distort_codes` (the native
C++/CUDA kernel where it is built, else the python references), on the images' device.

JPEG: the ``jpeg`` distortion's native kernel and torch simulation are a bit-exact re-implementation of
Pillow's libjpeg(-turbo) encode -> decode (4:2:0, islow DCT, IJG tables, fancy upsampling), so batches
made on a GPU equal Pillow's output byte for byte (tests/test_estimation_data.py checks it).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..distortions.spec import Params


def preset_distortion(preset_name: str):
    """(DistortionSpec, level-set name, variable?) of a one-distortion Endo preset."""
    from ..registry import get_distortion, get_preset

    preset = get_preset(preset_name)
    spec = get_distortion(preset.distortions[0])
    level_set = dict(preset.level_sets).get(spec.name)
    return spec, level_set, preset.level_mode == "variable"


def sample_params(preset_name: str, n: int, generator: torch.Generator) -> Params:
    """Parameters of ``n`` images as the preset draws them (JPEG q ~ U{1..100}; sigma ~ U[0, 50])."""
    spec, level_set, variable = preset_distortion(preset_name)
    return spec.sample(n, generator=generator, levels=level_set, variable=variable)


def quantize8(images: Tensor) -> Tensor:
    """Round to the 256 levels of an 8-bit image (what a saved PNG holds)."""
    return images.clamp(0, 1).mul(255.0).round_().div_(255.0)


def degrade(images: Tensor, distortion: str, values: Tensor, seeds: Optional[Tensor] = None,
            impl: str = "auto") -> Tensor:
    """Distort every image of ``images`` (float Tensor[N, 3, H, W] in [0, 1]) by ``distortion`` with its
    first parameter ``values`` (Tensor[N]) and noise seeds ``seeds`` (Tensor[N] int64, default 0..N-1).
    Returns 8-bit-quantised float images on the same device."""
    from ..ops import distort_codes
    from ..registry import get_distortion

    spec = get_distortion(distortion)
    n, _, h, w = images.shape
    vals = values.detach().float().cpu().reshape(n, 1)
    if spec.num_params > 1:  # secondary parameters: the middle of their range
        rest = spec.params(n=1).values[:, 1:].expand(n, -1)
        vals = torch.cat([vals, rest], dim=1)
    seeds = torch.arange(n, dtype=torch.int64) if seeds is None else seeds.detach().cpu().to(torch.int64).reshape(n)
    if spec.native_code is None:
        out = spec.simulate(images, Params(vals, seeds, torch.full((n,), -1)))
    else:
        codes = torch.full((n, 1), int(spec.native_code), dtype=torch.int32)
        boxes = torch.tensor([0, 0, w, h], dtype=torch.int32).expand(n, 1, 4).contiguous()
        out = distort_codes(images.float().contiguous(), codes, vals.unsqueeze(1), boxes, seeds.unsqueeze(1), impl=impl)
    return quantize8(out)
