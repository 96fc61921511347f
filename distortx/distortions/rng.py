"""Counter-based random numbers, defined once for the reference path and the native kernels.

``uniform(seed, index, stream)`` is a pure function of its integer arguments (no state, no threading
effects), so the pure-PyTorch path, the C++ kernel and the CUDA kernel draw *the same* noise for the same
seed. The C++/CUDA twin is ``csrc/common/rng.h``; keep the two in step (tests compare them).

Hash: the "lowbias32" integer finaliser (Chris Wellons' hash-prospector), chained over seed, stream and
the 64-bit element index. Values are carried in int64 tensors holding uint32 and masked after each step.
"""
from __future__ import annotations


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


def _bits(x: Tensor) -> Tensor:
    return x.view(torch.int32)


def _float(bits: Tensor) -> Tensor:
    return bits.view(torch.float32)


def log_unit(x: Tensor) -> Tensor:
    """Natural log of float32 values in (0, 1]: Cephes' logf, one float32 rounding per operation in the order of
    ``dx_logf`` (csrc/common/rng.h), so it equals the C++ and CUDA kernels bit for bit (<= 2 ulp from exact).
    In-place steps where they save a tensor (each is still its own kernel, rounded once; never add(alpha=), which
    fuses the multiply)."""
    bits = _bits(x)
    m = _float((bits & 0x007FFFFF) | 0x3F000000)                     # mantissa m0 in [0.5, 1)
    low = m < _F["sqrt_half"]
    e = (bits >> 23).sub_(126).to(torch.float32).sub_(low.to(torch.float32))
    m = torch.where(low, m + m, m).sub_(1.0)                          # 2 m0 - 1 or m0 - 1 (m0 + m0 is exact)
    z = m * m
    y = m * _F["log_c0"]
    for i, c in enumerate(_LOG_POLY):
        (y.sub_ if i % 2 == 0 else y.add_)(c)
        if i < len(_LOG_POLY) - 1:
            y.mul_(m)
    y.mul_(m).mul_(z)
    y.add_(e * _F["log_q1"])
    y.sub_(z.mul_(0.5))
    return m.add_(y).add_(e.mul_(_F["log_q2"]))


def cos_small(x: Tensor) -> Tensor:
    """cos of float32 values in [0, 8): Cephes' cosf (octant reduction with a 3-part pi / 4), the float32 twin of
    ``dx_cosf_small`` (csrc/common/rng.h), bit for bit."""
    j = (x * _F["four_over_pi"]).to(torch.int32)                        # truncation, as (int) in C
    j.add_(j & 1)
    y = j.to(torch.float32)
    x = (x - y * _F["dp1"]).sub_(y * _F["dp2"]).sub_(y.mul_(_F["dp3"]))
    z = x * x
    c = (z * _F["c0"]).sub_(_F["c1"]).mul_(z).add_(_F["c2"]).mul_(z).mul_(z).sub_(z * 0.5).add_(1.0)
    s = z.mul_(_F["s0"]).add_(_F["s1"]).mul_(x * x).sub_(_F["s2"]).mul_(x * x).mul_(x).add_(x)
    q = j.bitwise_and_(7)                                               # 0, 2, 4, 6: cos, -sin, -cos, sin
    r = torch.where(((q >> 1) & 1).bool(), s, c)
    return _float(_bits(r) ^ (((q + 2) & 4) << 29))


def box_muller(u1: Tensor, u2: Tensor) -> Tensor:
    """The standard normal of two float32 uniforms (the cosine half of Box-Muller), the one expression every caller
    uses: sqrt(-2 log u1) cos(2 pi u2) with :func:`log_unit` and :func:`cos_small`, in torch operations, so the
    pure-PyTorch path, the C++ kernels and the CUDA kernels draw the same normals bit for bit
    (``torch.ops.distortx.box_muller`` is the kernels' expression on given uniforms, for the tests)."""
    u1, u2 = u1.to(torch.float32), u2.to(torch.float32)
    # sqrt in float64, then rounded once to float32: the correctly rounded sqrtf of C (torch's float32 sqrt on the
    # CPU is off by one ulp for some values; float64 has the 2 x 24 + 2 bits that make the double rounding exact)
    return torch.sqrt((-2.0 * log_unit(u1)).double()).float() * cos_small(_F["two_pi"] * u2)


def _native(op: str, device: torch.device = torch.device("cpu")) -> bool:
    """Whether the native core has ``op`` for ``device``."""
    from .._ext import has_kernel

    return has_kernel(op, device)


def _f32(v: float) -> float:
    """The float32 value nearest ``v`` (as a Python float, which torch then multiplies by without rounding)."""
    return float(torch.tensor(v, dtype=torch.float64).to(torch.float32))


# the float32 constants of csrc/common/rng.h (the C literals' values; tests check the bits against the kernels)
_F = {k: _f32(v) for k, v in {
    "sqrt_half": 0.707106781186547524, "log_c0": 7.0376836292e-2, "log_q1": -2.12194440e-4, "log_q2": 0.693359375,
    "four_over_pi": 1.27323954473516, "dp1": 0.78515625, "dp2": 2.4187564849853515625e-4,
    "dp3": 3.77489497744594108e-8, "c0": 2.443315711809948e-5, "c1": 1.388731625493765e-3,
    "c2": 4.166664568298827e-2, "s0": -1.9515295891e-4, "s1": 8.3321608736e-3, "s2": 1.6666654611e-1,
    "two_pi": 6.283185307179586}.items()}
# y = y * m -/+ c in turn (Horner, Cephes logf's coefficients after the first)
_LOG_POLY = tuple(_f32(c) for c in (1.1514610310e-1, 1.1676998740e-1, 1.2420140846e-1, 1.4249322787e-1,
                                   1.6668057665e-1, 2.0000714765e-1, 2.4999993993e-1, 3.3333331174e-1))


def normal(seed: Tensor, index: Tensor, stream: int = 0) -> Tensor:
    """float32 standard normal by Box-Muller from streams ``2*stream`` and ``2*stream + 1``."""
    return box_muller(uniform(seed, index, 2 * stream), uniform(seed, index, 2 * stream + 1))


def uniform_fields(seed: Tensor, numel: int, stream: int = 0) -> Tensor:
    """Tensor[N, numel] with row n = uniform(seed[n], 0..numel-1, stream) (seed: int64 Tensor[N]), on the seeds'
    device. On the CPU the native kernel draws them (the same bits, ~30x faster than the tensor hash above)."""
    seed = seed.to(torch.int64).reshape(-1)
    if seed.device.type == "cpu" and 0 <= stream < 2**32 and _native("uniform_fill"):
        return torch.ops.distortx.uniform_fill(seed, int(numel), int(stream))
    return uniform(seed[:, None], torch.arange(int(numel), dtype=torch.int64, device=seed.device)[None], stream)


def normal_fields(seed: Tensor, numel: int, stream: int = 0) -> Tensor:
    """Tensor[N, numel] with row n = normal(seed[n], 0..numel-1, stream), on the seeds' device: the native kernel
    where built for it (CPU, CUDA), else :func:`uniform_fields` through :func:`box_muller`; the same bits either
    way."""
    seed = seed.to(torch.int64).reshape(-1)
    if 0 <= stream < 2**31 and _native("normal_fill", seed.device):
        return torch.ops.distortx.normal_fill(seed, int(numel), int(stream))
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
