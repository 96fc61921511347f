"""Images as users hand them over, converted once at the public edges and given back the same way.

Accepted (what albumentations, imagecorruptions, kornia and torchvision users have in hand):

* torch tensors ``(N, C, H, W)`` or ``(C, H, W)``, float in [0, 1] (any float dtype) or uint8 in 0..255,
  on any device; Tensor subclasses (torchvision ``tv_tensors.Image``) come back as the same subclass;
* numpy arrays ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)`` (channels last), uint8 or float in [0, 1].

C is 1 or 3. :func:`to_batch` returns a float Tensor[N, C, H, W] (float32, or the tensor's own float dtype)
and the :class:`ImageFormat` that :func:`from_batch` uses to give a result back in the input's type, layout
and dtype (uint8 results are rounded to the nearest level).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple

import numpy as np
import torch
from torch import Tensor

from ..errors import ImageError

_NUMPY_FLOATS = (np.float16, np.float32, np.float64)


@dataclass(frozen=True)
class ImageFormat:
    """How images were given: ``layout`` is one of NCHW, CHW (tensors) or NHWC, HWC, HW (numpy)."""

    layout: str
    dtype: Any        # torch.dtype for tensors, numpy dtype for arrays
    numpy: bool
    tensor_type: type = Tensor

    @property
    def single(self) -> bool:
        """True when one image (not a batch) was given."""
        return self.layout in ("CHW", "HWC", "HW")


def _channels_error(who: str, shape: tuple, hint: str = "") -> ImageError:
    return ImageError(f"{who} must have 1 or 3 channels, got shape {shape}{hint}")


def to_batch(images, who: str = "images") -> Tuple[Tensor, ImageFormat]:
    """``images`` (see the module docstring) -> (float Tensor[N, C, H, W], its :class:`ImageFormat`).

    Raises :class:`ImageError` with what to do for anything else (other dtypes, layouts, channel counts).
    """
    if isinstance(images, np.ndarray):
        return _numpy_to_batch(images, who)
    if not isinstance(images, Tensor):
        raise ImageError(f"{who} must be a torch.Tensor (N, C, H, W) / (C, H, W) or a numpy array (H, W[, C]), "
                         f"got {type(images).__name__}")
    shape = tuple(images.shape)
    if images.dim() not in (3, 4):
        raise ImageError(f"{who} must have shape (N, C, H, W) or (C, H, W), got {shape}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ImageError(f"{who} must be float in [0, 1] or uint8, got dtype {images.dtype} (convert with x.float() / 255)")
    if images.shape[-3] not in (1, 3):
        hint = ""
        if images.shape[-1] in (1, 3):
            hint = " (channels last? tensors are (C, H, W): use x.permute(2, 0, 1), or pass the numpy array)"
        raise _channels_error(who, shape, hint)
    layout = "NCHW" if images.dim() == 4 else "CHW"
    fmt = ImageFormat(layout, images.dtype, False, type(images))
    x = images.as_subclass(Tensor) if type(images) is not Tensor else images
    x = x.unsqueeze(0) if layout == "CHW" else x
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x
    return x, fmt


def _numpy_to_batch(a: np.ndarray, who: str) -> Tuple[Tensor, ImageFormat]:
    shape = tuple(a.shape)
    if a.dtype != np.uint8 and a.dtype.type not in _NUMPY_FLOATS:
        raise ImageError(f"{who} must be uint8 or float in [0, 1], got numpy dtype {a.dtype}")
    if a.ndim == 2:
        layout, x = "HW", a[None, :, :, None]
    elif a.ndim == 3:
        if a.shape[-1] not in (1, 3):
            hint = " (numpy images are channels last, (H, W, C): use a.transpose(1, 2, 0))" if a.shape[0] in (1, 3) else ""
            raise _channels_error(who, shape, hint)
        layout, x = "HWC", a[None]
    elif a.ndim == 4:
        if a.shape[-1] not in (1, 3):
            raise _channels_error(who, shape, " (numpy batches are (N, H, W, C))")
        layout, x = "NHWC", a
    else:
        raise ImageError(f"{who} must be a numpy array (H, W), (H, W, C) or (N, H, W, C), got shape {shape}")
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
    t = t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
    return t.contiguous(), ImageFormat(layout, a.dtype, True)


def from_batch(out: Tensor, fmt: ImageFormat):
    """Give float Tensor[N, C, H, W] in [0, 1] back in the type, layout and dtype ``fmt`` describes."""
    if fmt.numpy:
        x = out.detach().cpu()
        if fmt.dtype == np.uint8:
            x = x.clamp(0, 1).mul(255.0).round_().to(torch.uint8)
        a = x.permute(0, 2, 3, 1).numpy()
        if fmt.dtype != np.uint8:
            a = a.astype(fmt.dtype, copy=False)
        if fmt.layout == "HW":
            return np.ascontiguousarray(a[0, :, :, 0])
        return np.ascontiguousarray(a[0] if fmt.layout == "HWC" else a)
    x = out[0] if fmt.layout == "CHW" else out
    if fmt.dtype == torch.uint8:
        x = x.clamp(0, 1).mul(255.0).round_().to(torch.uint8)
    else:
        x = x.to(fmt.dtype)
    if fmt.tensor_type is not Tensor:
        x = x.as_subclass(fmt.tensor_type)
    return x


__all__ = ["ImageFormat", "from_batch", "to_batch"]
