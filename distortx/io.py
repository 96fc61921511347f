"""Reading and writing images: every mode converted to 8-bit RGB, every failure one clear error, atomic writes."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from .errors import ImageError

PathLike = Union[str, os.PathLike]


def pil_to_rgb8(img: Image.Image) -> Image.Image:
    """Convert any PIL image (grey, RGBA, palette, 16-bit, CMYK...) to 8-bit RGB, EXIF orientation applied.

    Alpha is composited over white; 16-bit and 32-bit integer images are scaled from their full range.
    """
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(np.round(a / top * 255.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(a, mode="L")
    elif img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        scale = 255.0 if a.max() <= 1.0 else 1.0
        img = Image.fromarray(np.clip(np.round(a * scale), 0, 255).astype(np.uint8), mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def read_image(path: PathLike) -> Tensor:
    """Read an image file as uint8 Tensor[3, H, W] (RGB). Raises :class:`ImageError` if unreadable/truncated."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            rgb = pil_to_rgb8(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot read image ({exc})") from exc
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def to_float_image(x: Tensor) -> Tensor:
    """uint8 [0,255] -> float32 [0,1]; float tensors are returned as float32 unchanged."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    if x.is_floating_point():
        return x.float()
    raise ImageError(f"images must be uint8 or float, got dtype {x.dtype}")


def to_uint8_image(x: Tensor) -> Tensor:
    """float [0,1] -> uint8 with rounding (and clamping)."""
    if x.dtype == torch.uint8:
        return x
    return (x.detach().float().clamp(0, 1) * 255.0).round_().to(torch.uint8)


def tensor_to_pil(x: Tensor) -> Image.Image:
    """Tensor[3|1, H, W] (uint8 or float in [0,1]) -> PIL image."""
    a = to_uint8_image(x).cpu()
    if a.dim() != 3 or a.shape[0] not in (1, 3):
        raise ImageError(f"an image must have shape (1|3, H, W), got {tuple(a.shape)}")
    arr = a.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder + rename: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def encode_png(x: Tensor) -> bytes:
    """Lossless PNG bytes of Tensor[3|1, H, W] (deterministic: no timestamps, fixed compression)."""
    buf = io.BytesIO()
    tensor_to_pil(x).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def save_image(path: PathLike, x: Tensor) -> None:
    """Save Tensor[3|1, H, W] atomically; format from the suffix (PNG recommended: lossless)."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        atomic_write_bytes(path, encode_png(x))
        return
    buf = io.BytesIO()
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image format {path.suffix!r} (use .png)")
    tensor_to_pil(x).save(buf, format=fmt)
    atomic_write_bytes(path, buf.getvalue())
