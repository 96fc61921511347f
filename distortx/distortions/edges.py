"""Images as users hand them over, converted once at the public edges and given back the same way.

Accepted (what albumentations, imagecorruptions, kornia and torchvision users have in hand):

* torch tensors ``(N, C, H, W)`` or ``(C, H, W)``, float in [0, 1] (any float dtype) or uint8 in 0..255,
  on any device; Tensor subclasses (torchvision ``tv_tensors.Image``) come back as the same subclass;
* numpy arrays ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)`` (channels last), uint8 or float in [0, 1];
* PIL images (any mode, converted to 8-bit RGB as :func:`distortx.io.read_image` converts files; given back as
  an RGB PIL image).

:func:`image_list` is the normaliser of entry points that take *many* images of different sizes (estimate,
predict): tensors, arrays, PIL images, files, folders and glob patterns, each entry in turn, in input order.

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
    """How images were given: ``layout`` is one of NCHW, CHW (tensors), NHWC, HWC, HW (numpy) or PIL."""

    layout: str
    dtype: Any        # torch.dtype for tensors, numpy dtype for arrays
    numpy: bool
    tensor_type: type = Tensor

    @property
    def single(self) -> bool:
        """True when one image (not a batch) was given."""
        return self.layout in ("CHW", "HWC", "HW", "PIL")


def _channels_error(who: str, shape: tuple, hint: str = "") -> ImageError:
    return ImageError(f"{who} must have 1 or 3 channels, got shape {shape}{hint}")


def to_batch(images, who: str = "images", keep_uint8: bool = False) -> Tuple[Tensor, ImageFormat]:
    """``images`` (see the module docstring) -> (float Tensor[N, C, H, W], its :class:`ImageFormat`).

    keep_uint8: uint8 input stays uint8 (a view where possible: a numpy (N, H, W, C) batch becomes a
    channels-last Tensor[N, C, H, W] without a copy), for the kernels' uint8 path.
    Raises :class:`ImageError` with what to do for anything else (other dtypes, layouts, channel counts).
    """
    if isinstance(images, np.ndarray):
        return _numpy_to_batch(images, who, keep_uint8)
    if _is_pil(images):
        x, _ = _numpy_to_batch(_pil_array(images), who, keep_uint8)
        return x, ImageFormat("PIL", np.uint8, True)
    if not isinstance(images, Tensor):
        raise ImageError(f"{who} must be a torch.Tensor (N, C, H, W) / (C, H, W), a numpy array (H, W[, C]) or a "
                         f"PIL image, got {type(images).__name__}")
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
    x = x.float().div_(255.0) if x.dtype == torch.uint8 and not keep_uint8 else x
    return x, fmt


def _numpy_to_batch(a: np.ndarray, who: str, keep_uint8: bool = False) -> Tuple[Tensor, ImageFormat]:
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
    if t.dtype == torch.uint8 and keep_uint8:
        return t, ImageFormat(layout, a.dtype, True)  # channels-last view of the array's memory
    t = t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
    return t.contiguous(), ImageFormat(layout, a.dtype, True)


def _is_pil(x) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return False
    return isinstance(x, Image.Image)


def _pil_array(img) -> np.ndarray:
    """uint8 H x W x 3 of a PIL image of any mode, converted as distortx.io converts files it reads."""
    from ..io import pil_to_rgb8

    return np.array(pil_to_rgb8(img), dtype=np.uint8)  # a writable copy


def image_list(inputs, who: str = "images") -> list:
    """``[(name, Tensor[C, H, W] float in [0, 1] or uint8), ...]``: every image of ``inputs`` in input order.

    inputs: one item or a list/tuple of items; an item is a Tensor (C, H, W) or (N, C, H, W), a numpy array
    (H, W[, C]) or (N, H, W, C), a PIL image, or a path: an image file, a folder (its images, sorted) or a glob
    pattern. Names: the file's path, else ``image_<k>`` (``image_<k>_<i>`` for batch members).
    """
    import glob
    import os
    from pathlib import Path

    from ..io import IMAGE_EXTENSIONS

    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    out = []
    for k, x in enumerate(items):
        if isinstance(x, (str, os.PathLike)):
            p = Path(x)
            if p.is_dir():
                files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
                if not files:
                    raise ImageError(f"{p}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
            elif p.exists():
                files = [p]
            elif any(c in str(x) for c in "*?["):
                files = sorted(Path(f) for f in glob.glob(str(x), recursive=True)
                               if Path(f).is_file() and Path(f).suffix.lower() in IMAGE_EXTENSIONS)
                if not files:
                    raise ImageError(f"{x}: the pattern matches no image file")
            else:
                raise ImageError(f"no such image or folder: {p}")
            out += [(str(f), f) for f in files]   # decoded when used (a folder may be large)
            continue
        batch, fmt = to_batch(x, who)
        if fmt.single:
            out.append((f"image_{k}", batch[0]))
        else:
            out += [(f"image_{k}_{i}", b) for i, b in enumerate(batch)]
    return out


def load_listed(src):
    """The image of an :func:`image_list` entry: a Tensor as is, a path decoded (uint8 Tensor[3, H, W])."""
    from pathlib import Path

    from ..io import read_image

    return read_image(src) if isinstance(src, Path) else src


def from_batch(out: Tensor, fmt: ImageFormat):
    """Give Tensor[N, C, H, W] (float in [0, 1], or uint8 from the uint8 path) back in the type, layout and dtype
    ``fmt`` describes."""
    from ..io import to_uint8_image

    if fmt.layout == "PIL":
        from PIL import Image

        a = to_uint8_image(out[0].detach().cpu()).permute(1, 2, 0).numpy()
        return Image.fromarray(np.ascontiguousarray(a[..., 0] if a.shape[-1] == 1 else a))
    if fmt.numpy:
        x = out.detach().cpu()
        if fmt.dtype == np.uint8:
            x = to_uint8_image(x)
        a = x.permute(0, 2, 3, 1).numpy()
        if fmt.dtype != np.uint8:
            a = a.astype(fmt.dtype, copy=False)
        if fmt.layout == "HW":
            return np.ascontiguousarray(a[0, :, :, 0])
        return np.ascontiguousarray(a[0] if fmt.layout == "HWC" else a)
    x = out[0] if fmt.layout == "CHW" else out
    if fmt.dtype == torch.uint8:
        x = to_uint8_image(x)
    else:
        x = x.to(fmt.dtype)
    if fmt.tensor_type is not Tensor:
        x = x.as_subclass(fmt.tensor_type)
    return x


__all__ = ["ImageFormat", "from_batch", "image_list", "load_listed", "to_batch"]
