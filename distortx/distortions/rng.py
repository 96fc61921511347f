"""Counter-based random numbers, defined once for the reference path and the native kernels.

``uniform(seed, index, stream)`` is a pure function of its integer arguments (no state, no threading
effects), so the pure-PyTorch path, the C++ kernel and the CUDA kernel draw *the same* noise for the same
seed. The C++/CUDA twin is ``csrc/common/rng.h``; keep the two in step (tests compare them).

Hash: the "lowbias32" integer finaliser (Chris Wellons' hash-prospector), chained over seed, stream and
the 64-bit element index. Values are carried in int64 tensors holding uint32 and masked after each step.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mul32(x: Tensor, c: int) -> Tensor:
    """(x * c) mod 2^32 for uint32 values held in int64, without int64 overflow."""
    lo = x & 0xFFFF
    hi = x >> 16
    return ((lo * c) + (((hi * c) & 0xFFFF) << 16)) & _M32


def hash32(x: Tensor) -> Tensor:
    """lowbias32: a bijective avalanche mix of uint32 values (held in int64)."""
    x = x & _M32
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    x = x ^ (x >> 16)
    return x


def random_bits(seed: Tensor, index: Tensor, stream: int) -> Tensor:
    """uint32 random bits (in int64) for each (seed, index) pair; ``seed`` broadcasts against ``index``."""
    seed = seed.to(torch.int64)
    index = index.to(torch.int64)
    h = hash32((seed & _M32) + ((stream * _GOLDEN) & _M32))
    h = hash32(h ^ ((seed >> 32) & _M32))
    h = hash32(h ^ (index & _M32))
    h = hash32(h + ((index >> 32) & _M32))
    return h


def uniform(seed: Tensor, index: Tensor, stream: int = 0) -> Tensor:
    """float32 uniform in the open interval (0, 1): ``((bits >> 8) + 0.5) / 2^24``."""
    bits = random_bits(seed, index, stream)
    return ((bits >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)


def box_muller(u1: Tensor, u2: Tensor) -> Tensor:
    """The standard normal of two uniforms (the cosine half of Box-Muller), the one expression every caller uses."""
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)


def normal(seed: Tensor, index: Tensor, stream: int = 0) -> Tensor:
    """float32 standard normal by Box-Muller from streams ``2*stream`` and ``2*stream + 1``."""
    return box_muller(uniform(seed, index, 2 * stream), uniform(seed, index, 2 * stream + 1))


def uniform_fields(seed: Tensor, numel: int, stream: int = 0) -> Tensor:
    """Tensor[N, numel] with row n = uniform(seed[n], 0..numel-1, stream) (seed: int64 Tensor[N]), on the seeds'
    device. On the CPU the native kernel draws them (the same bits, ~30x faster than the tensor hash above)."""
    seed = seed.to(torch.int64).reshape(-1)
    if seed.device.type == "cpu" and 0 <= stream < 2**32:
        from .._ext import native_available

        if native_available() and hasattr(torch.ops.distortx, "uniform_fill"):
            return torch.ops.distortx.uniform_fill(seed, int(numel), int(stream))
    return uniform(seed[:, None], torch.arange(int(numel), dtype=torch.int64, device=seed.device)[None], stream)


def normal_fields(seed: Tensor, numel: int, stream: int = 0) -> Tensor:
    """Tensor[N, numel] with row n = normal(seed[n], 0..numel-1, stream): :func:`uniform_fields` through
    :func:`box_muller` (the same bits as :func:`normal`)."""
    return box_muller(uniform_fields(seed, numel, 2 * stream), uniform_fields(seed, numel, 2 * stream + 1))


def element_index(shape: tuple[int, ...], device=None) -> Tensor:
    """Row-major linear index of every element of a tensor of ``shape`` (int64, same shape)."""
    n = 1
    for s in shape:
        n *= s
    return torch.arange(n, dtype=torch.int64, device=device).reshape(shape)


def per_sample(seed: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Broadcast a (N,) seed tensor against per-sample element indices of ``shape`` = (C, H, W, ...)."""
    return seed.to(torch.int64).reshape((-1,) + (1,) * len(shape))
