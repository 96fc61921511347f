"""Fused, regional, batched distortion: ``torch.ops.distortx.distort`` and its pure-PyTorch twin.

One call distorts a batch where every image carries up to R regions, each with its own distortion type,
parameters, seed and box. Semantics are those of :func:`distortx.ops.apply_regions`: a
region's distortion is computed on the *clean* image as a whole and copied inside its box; a later region
wins where boxes overlap; pixels outside every box are bit-identical to the input.

Tensor layout (the op's schema)::

    images  float32 Tensor[N, C, H, W], C in {1, 3}, values in [0, 1]
    codes   int32   Tensor[N, R]     op code (distortx/distortions/native_codes.py), 0 = empty slot
    values  float32 Tensor[N, R, P]  P <= 4, column j = spec.parameters[j] (unused columns ignored)
    boxes   int32   Tensor[N, R, 4]  (x0, y0, x1, y1) pixels, half-open, clipped to the image
    seeds   int64   Tensor[N, R]     counter-RNG seed of each region

Paths (``impl``, the vocabulary of every public entry point): "native" = the C++ (OpenMP) / CUDA kernel in
``csrc/distort/``; "python" = the one Python compositor of "later boxes win" (:func:`composite_python`): a loop
over distortion types calling each spec's reference (``spec.apply(impl="python")``) and writing each region's
winning pixels; "auto" = native when the extension has a kernel for the device, else python. Regions whose
type has no native kernel in the loaded build (jpeg2000 has no op code at all) always take the python path,
inside the same call, and are composited in order with the native ones. ``spec.apply``, ``apply_regions``,
``distortx.distort`` and the dataset renderer all come here. (``spec.simulate`` runs a spec's torch twin of
the kernel, e.g. JPEG's integer pipeline.)

The native kernel (``csrc/distort/``) computes only the pixels inside boxes: each output pixel belongs to
the last region whose box contains it (its "winner"), or is copied. The host plans one record per
(image, region) and the pre-passes a box needs, kept to the rows/columns/blocks it reads: contrast's mean
luminance and fnoise's 1/f field (ATen FFT on the images' device), the blur's horizontal pass, lowpass's
downscaled cells, marble's lattice gradients, JPEG's 8x8 blocks (luma, and Cb+Cr at 4:2:0), NL-means'
denoised box. The per-pixel/per-element maths lives in ``__host__ __device__`` inline functions shared by
both backends. CPU: OpenMP over pre-pass jobs, then over (image, row); a row is cut into segments with one
winner each, handled by channel-planar loops the compiler vectorises (AVX2 and baseline clones).
CUDA: one kernel per pre-pass family, one thread per element (blur sample, lowpass cell, JPEG block, lattice
corner); NL-means as 32x32 tiles in shared memory, each thread sliding the patch distance down a run of rows;
then a 2-D grid (image, pixel) of output pixels, on the current stream. ``torch.ops.distortx.distort_scalar``
runs the same bodies on the CPU (tests/test_native_scalar.py).

uint8 images (CPU): the kernel reads and writes uint8 in the images' memory format (NCHW, or channels-last as
a numpy N x H x W x C batch arrives), against the float op on images / 255 rounded back half to even: equal for
quantization (a table) and every code it converts to float inside the kernel, within 1 grey level for contrast,
gaussian_blur, motion_blur and lowpass (csrc/distort/u8_cpu.cpp). Other devices and the python path convert
around the float op.

Exactness against the python path: bit-exact for quantization, salt_pepper, jpeg (integer pipeline) and
every copied pixel; ~1e-7 for the rest (the counter RNG is shared; log/cos/sin/atan2 are <= 2 ulp
polynomials instead of torch's; float32 sums in the reference's order), ~1e-5 for the warps where a
rounding of the source position is multiplied by the image gradient. Parameter values are validated
against each spec's ranges on both paths (:class:`~distortx.errors.ParameterError`).
"""
from __future__ import annotations

import functools
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .._ext import native_available, resolve_impl
from ..distortions.native_slot import register_native_apply
from ..distortions.regions import Region, clip_box
from ..distortions.spec import DistortionSpec, Params, check_images
from ..errors import ParameterError
from ..io import to_uint8_image

MAX_PARAMS = 4
_OP = "distortx::distort"


# -- registry helpers ---------------------------------------------------------------------------------------
def _spec_by_code() -> Dict[int, DistortionSpec]:
    """Op code -> registered spec (the built-in catalogue and plugins that claim a native code). Built once per
    registry: the plugin manager replaces its registry dict when it is rebuilt, so the dict's identity is the key
    (walking the catalogue had cost ~180 us per distort call)."""
    from ..plugins import get_plugin_manager

    global _CODE_TABLE
    registry = get_plugin_manager().registry("distortx_distortions")
    if _CODE_TABLE is None or _CODE_TABLE[0] is not registry:
        table = {int(spec.native_code): spec for spec in registry.values() if spec.native_code is not None}
        _CODE_TABLE = (registry, table)
    return _CODE_TABLE[1]


#: (the registry dict the table was built from, code -> spec)
_CODE_TABLE: Optional[Tuple[Dict[str, DistortionSpec], Dict[int, DistortionSpec]]] = None


@functools.lru_cache(maxsize=None)
def native_codes() -> frozenset:
    """Codes the loaded native build implements (empty without the extension)."""
    if not native_available() or not hasattr(torch.ops.distortx, "distort_native_codes"):
        return frozenset()
    return _loaded_native_codes()


@functools.lru_cache(maxsize=1)
def _loaded_native_codes() -> frozenset:
    return frozenset(int(c) for c in torch.ops.distortx.distort_native_codes())


def resolve(impl: str, device: torch.device) -> str:
    """The path, "native" or "python", that ``impl`` takes for images on ``device``."""
    return resolve_impl(impl, "distortx.ops.distort_codes", device, op="distort")


# -- checks -------------------------------------------------------------------------------------------------
def _check(images: Tensor, codes: Tensor, values: Tensor, boxes: Tensor, seeds: Tensor) -> None:
    check_images(images, uint8=True)
    N = images.shape[0]
    if codes.dim() != 2 or codes.shape[0] != N:
        raise ParameterError(f"codes must be Tensor[N={N}, R], got {tuple(codes.shape)}")
    R = codes.shape[1]
    if values.dim() != 3 or tuple(values.shape[:2]) != (N, R) or values.shape[2] > MAX_PARAMS:
        raise ParameterError(f"values must be Tensor[N={N}, R={R}, P<={MAX_PARAMS}], got {tuple(values.shape)}")
    if tuple(boxes.shape) != (N, R, 4):
        raise ParameterError(f"boxes must be Tensor[N={N}, R={R}, 4] (x0, y0, x1, y1), got {tuple(boxes.shape)}")
    if tuple(seeds.shape) != (N, R):
        raise ParameterError(f"seeds must be Tensor[N={N}, R={R}], got {tuple(seeds.shape)}")


def _check_values(specs: Dict[int, DistortionSpec], codes: Tensor, values: Tensor) -> None:
    """Every used code is known and its parameter values lie in the spec's ranges (in numpy on the host: the
    tensors are a few values per image)."""
    c = codes.detach().cpu().numpy()
    v = values.detach().double().cpu().numpy()
    for code in np.unique(c).tolist():
        if code == 0:
            continue
        spec = specs.get(int(code))
        if spec is None:
            raise ParameterError(f"unknown distortion code {code} (known: {sorted(specs)})")
        if spec.num_params > values.shape[2]:
            raise ParameterError(f"{spec.name} needs {spec.num_params} parameter columns, values has {values.shape[2]}")
        sel = v[c == code][:, : spec.num_params]
        for j, p in enumerate(spec.parameters):
            p.check(sel[:, j], spec.name)


# -- the python path ----------------------------------------------------------------------------------------
def winner_map(codes: Tensor, boxes: Tensor, height: int, width: int) -> Tensor:
    """int64 Tensor[N, H, W]: index r of the region that owns each pixel (last box containing it), -1 for none."""
    N, R = codes.shape
    dev = codes.device
    b = boxes.to(torch.int64)
    x0 = b[..., 0].clamp(0, width)
    x1 = torch.maximum(x0, b[..., 2].clamp(0, width))
    y0 = b[..., 1].clamp(0, height)
    y1 = torch.maximum(y0, b[..., 3].clamp(0, height))
    xs = torch.arange(width, device=dev).view(1, 1, width)
    ys = torch.arange(height, device=dev).view(1, height, 1)
    win = torch.full((N, height, width), -1, dtype=torch.int64, device=dev)
    for r in range(R):
        inside = (
            (xs >= x0[:, r].view(N, 1, 1)) & (xs < x1[:, r].view(N, 1, 1))
            & (ys >= y0[:, r].view(N, 1, 1)) & (ys < y1[:, r].view(N, 1, 1))
            & (codes[:, r] != 0).view(N, 1, 1)
        )
        win = torch.where(inside, torch.full_like(win, r), win)
    return win


def composite_python(out: Tensor, images: Tensor, specs: Dict[int, DistortionSpec], codes: Tensor,
                     values: Tensor, seeds: Tensor, win: Tensor, only: Optional[Sequence[int]] = None) -> Tensor:
    """The Python compositor of "later boxes win": write into ``out`` Tensor[N, C, H, W] the pixels owned (``win``,
    :func:`winner_map`) by regions whose code is in ``only`` (default: every code), each distortion computed on
    the clean ``images`` by its reference in one batched call per type."""
    dev = images.device
    for code in torch.unique(codes).tolist():
        if code == 0 or (only is not None and code not in only):
            continue
        spec = specs[int(code)]
        n_idx, r_idx = (codes == code).nonzero(as_tuple=True)
        # drop slots that own no pixel (fully covered by later boxes or empty)
        owns = (win[n_idx] == r_idx.view(-1, 1, 1).to(win.device)).flatten(1).any(1)
        n_idx, r_idx = n_idx[owns.to(n_idx.device)], r_idx[owns.to(r_idx.device)]
        if n_idx.numel() == 0:
            continue
        params = Params(values[n_idx, r_idx, : spec.num_params].float(), seeds[n_idx, r_idx].long(),
                        torch.full((n_idx.numel(),), -1, dtype=torch.long))
        batch = images[n_idx.to(dev)]
        distorted = spec.apply_batch(batch, params, "python")
        for r in torch.unique(r_idx).tolist():  # one slot per image at a time: no repeated index in the write
            sel = (r_idx == r).nonzero().view(-1)
            n_dev = n_idx[sel].to(dev)
            mask = (win[n_dev] == r).unsqueeze(1)
            out[n_dev] = torch.where(mask, distorted[sel.to(dev)], out[n_dev])
    return out


# -- public functions ---------------------------------------------------------------------------------------
def distort_codes(images: Tensor, codes: Tensor, values: Tensor, boxes: Tensor, seeds: Tensor, impl: str = "auto") -> Tensor:
    """Distort regions of a batch: returns a new Tensor[N, C, H, W] (the images' dtype and device).

    images Tensor[N, C, H, W] float in [0, 1] or uint8; codes Tensor[N, R] (op codes, 0 = empty slot); values
    Tensor[N, R, P<=4]; boxes Tensor[N, R, 4] (x0, y0, x1, y1), half-open; seeds Tensor[N, R].
    Later regions win where boxes overlap; pixels outside every box are copied bit-exactly.
    impl: "auto" | "native" | "python" (see the module docstring).
    """
    _check(images, codes, values, boxes, seeds)
    specs = _spec_by_code()
    codes_c = codes.detach().to("cpu", torch.int32)
    values_c = values.detach().to("cpu", torch.float32)
    _check_values(specs, codes_c, values_c)
    return _run(images, codes_c, values_c, boxes.detach().to("cpu", torch.int32), seeds.detach().to("cpu", torch.int64),
                specs, impl)


def _run(images: Tensor, codes: Tensor, values: Tensor, boxes: Tensor, seeds: Tensor,
         specs: Dict[int, DistortionSpec], impl: str) -> Tensor:
    """codes/values/boxes/seeds are validated CPU tensors; ``specs`` maps every used code to its spec. The result
    has the images' dtype; pixels outside every box are the input's, bit for bit (float64/half included)."""
    N, C, H, W = images.shape
    path = resolve(impl, images.device)
    used = set(codes.view(-1).tolist()) - {0}  # a few thousand entries at most: cheaper than torch.unique
    if N == 0 or not used:
        return images.clone()
    native = native_codes() if path == "native" else set()
    u8 = images.dtype == torch.uint8
    if u8 and path == "native" and images.device.type == "cpu" and used <= native:
        # the kernel's uint8 path: no float round trip, the images' memory format kept (NHWC numpy views too)
        if not (images.is_contiguous() or images.is_contiguous(memory_format=torch.channels_last)):
            images = images.contiguous()
        return torch.ops.distortx.distort(images, codes, _four_params(values), boxes.contiguous(), seeds.contiguous())
    # float32, NCHW-contiguous (uint8 / 255, half/bf16/float64, channels_last, views)
    x = images.float().div_(255.0).contiguous() if u8 else images.float().contiguous()
    win = None
    if path == "python":
        win = winner_map(codes.to(images.device), boxes.to(images.device), H, W)
        out = composite_python(x.clone(), x, specs, codes, values, seeds, win)
    else:
        python_codes = sorted(c for c in used if c not in native)
        codes_n = codes.clone()
        for c in python_codes:
            codes_n[codes_n == c] = 0
        out = torch.ops.distortx.distort(x, codes_n, _four_params(values), boxes.contiguous(), seeds.contiguous())
        if python_codes:
            win = winner_map(codes.to(images.device), boxes.to(images.device), H, W)
            out = composite_python(out, x, specs, codes, values, seeds, win, only=python_codes)
    if images.dtype == torch.float32:
        return out
    if win is None:
        win = winner_map(codes.to(images.device), boxes.to(images.device), H, W)
    out = to_uint8_image(out) if u8 else out.to(images.dtype)  # uint8: as edges.from_batch rounds
    return torch.where((win >= 0).unsqueeze(1), out, images)


def _four_params(values: Tensor) -> Tensor:
    """values Tensor[N, R, P] -> Tensor[N, R, MAX_PARAMS] (zero-padded or cut: the kernels read MAX_PARAMS)."""
    N, R, P = values.shape
    if P == MAX_PARAMS:
        return values.contiguous()
    if P < MAX_PARAMS:
        values = torch.cat([values, values.new_zeros(N, R, MAX_PARAMS - P)], dim=2)
    return values[:, :, :MAX_PARAMS].contiguous()


def apply_native(spec: DistortionSpec, images: Tensor, params: Params) -> Tensor:
    """``spec`` over whole images through the native kernel: images float Tensor[N, C, H, W] (any float dtype,
    layout, device with a kernel), ``params`` checked against the spec (values Tensor[N, P], seed Tensor[N]).
    Returns Tensor[N, C, H, W] in the images' dtype (= ``spec.apply(images, params, impl="native")``)."""
    N, _, H, W = images.shape
    if spec.native_code is None:
        raise ParameterError(f"{spec.name} has no native kernel")
    codes = torch.full((N, 1), int(spec.native_code), dtype=torch.int32)
    values = params.values.detach().to("cpu", torch.float32).reshape(N, 1, -1)
    boxes = torch.tensor([0, 0, W, H], dtype=torch.int32).expand(N, 1, 4)
    seeds = params.seed.detach().to("cpu", torch.int64).reshape(N, 1)
    return _run(images, codes, values, boxes, seeds, {int(spec.native_code): spec}, "native")


def pack_regions(regions_per_image: Sequence[Sequence[Region]], height: int, width: int):
    """Pack per-image Region lists into padded (codes, values, boxes, seeds) CPU tensors plus the code -> spec
    map. Types without a native code get private negative codes (python path)."""
    from ..registry import get_distortion

    N = len(regions_per_image)
    R = max([len(r) for r in regions_per_image] + [0])
    P = max([MAX_PARAMS] + [get_distortion(reg.name).num_params for regs in regions_per_image for reg in regs])
    codes = torch.zeros(N, R, dtype=torch.int32)
    values = torch.zeros(N, R, P, dtype=torch.float32)  # plugins (python path) may take more than MAX_PARAMS
    boxes = torch.zeros(N, R, 4, dtype=torch.int32)
    seeds = torch.zeros(N, R, dtype=torch.int64)
    specs: Dict[int, DistortionSpec] = {}
    private: Dict[str, int] = {}
    rows_v, rows_b, at = [], [], []
    for n, regions in enumerate(regions_per_image):
        for r, reg in enumerate(regions):
            spec = get_distortion(reg.name)
            if spec.native_code is not None:
                code = int(spec.native_code)
            else:
                code = private.setdefault(spec.name, -1 - len(private))
            specs[code] = spec
            if len(reg.values) != spec.num_params:
                raise ParameterError(f"{spec.name} takes {spec.num_params} parameter values, region {r} of image {n} "
                                     f"gives {len(reg.values)}")
            codes[n, r] = code
            seeds[n, r] = int(reg.seed)
            rows_v.append([float(v) for v in reg.values] + [0.0] * (P - spec.num_params))
            rows_b.append(clip_box(reg.box, height, width))
            at.append((n, r))
    if at:  # one conversion for the batch (float32 values, as one row at a time would give)
        n_i, r_i = torch.tensor(at, dtype=torch.long).unbind(1)
        values[n_i, r_i] = torch.tensor(rows_v, dtype=torch.float32)
        boxes[n_i, r_i] = torch.tensor(rows_b, dtype=torch.int32)
    return codes, values, boxes, seeds, specs


def distort_batch(images: Tensor, regions_per_image: Sequence[Sequence[Region]], impl: str = "auto") -> Tensor:
    """Apply ``regions_per_image[n]`` (a list of :class:`~distortx.distortions.regions.Region`) to image n of
    ``images`` Tensor[N, C, H, W] (float in [0, 1] or uint8); equals ``apply_regions`` image by image. Returns
    Tensor[N, C, H, W] of the images' dtype."""
    check_images(images, uint8=True)
    if len(regions_per_image) != images.shape[0]:
        raise ParameterError(f"regions_per_image has {len(regions_per_image)} lists for {images.shape[0]} images")
    N, C, H, W = images.shape
    codes, values, boxes, seeds, specs = pack_regions(regions_per_image, H, W)
    _check_values(specs, codes, values)
    return _run(images, codes, values, boxes, seeds, specs, impl)


__all__ = ["apply_native", "composite_python", "distort_batch", "distort_codes", "native_codes", "pack_regions", "resolve",
           "winner_map"]


register_native_apply(apply_native)
