"""Reading and writing images: every mode converted to 8-bit RGB, every failure one clear error, atomic writes.

Written files get the permissions a plain ``open()`` gives (0666 minus the process umask), although they are
written through a private temporary file and renamed into place.
"""
from __future__ import annotations

import io
import re
import os
import tempfile
import threading
from pathlib import Path
from typing import Optional, Union

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


#: what Pillow raises for files it cannot decode
#: the one list of image file extensions: what folder scans (datasets, training data, predict) pick up
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
_OBJECT_REPR = re.compile(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>")


def decode_error_text(exc: BaseException) -> str:
    """Why Pillow could not decode a file, without the memory addresses of its objects (Pillow says "cannot
    identify image file <_io.BytesIO object at 0x7f...>"): the same file gives the same text in every run, so
    a dataset's sources hash, which includes it, is stable and a rerun resumes."""
    return _OBJECT_REPR.sub("", str(exc))


def read_image(path: PathLike) -> Tensor:
    """Read an image file as uint8 Tensor[3, H, W] (RGB). Raises :class:`ImageError` if unreadable/truncated."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            rgb = pil_to_rgb8(im)
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{path}: cannot read image ({decode_error_text(exc)})") from exc
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def probe_image_bytes(data: bytes) -> Optional[str]:
    """Why the bytes of an image file cannot be read, or None if they can, without decoding when possible:
    the header is parsed; a PNG's chunks are checked (CRCs up to IEND: catches truncation); a JPEG must end
    with its EOI marker (entropy-coded data never contains one, so a truncated file cannot), else it is
    decoded to be sure (trailing data after EOI); other formats are decoded."""
    if not data:
        return "cannot read image (empty file)"
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format == "PNG":
                im.verify()
            elif im.format != "JPEG" or b"\xff\xd9" not in data[-32:]:
                im.load()
    except _DECODE_ERRORS as exc:
        return f"cannot read image ({decode_error_text(exc)})"
    return None


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


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the system tells (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore (racy only against other threads changing it)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder + rename: never a partial file.
    The file gets mode 0666 & ~umask, as ``open(path, "wb")`` would give it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_writable(path: PathLike) -> None:
    """Fail early, before any work, when ``path`` cannot be written: a file where a folder should be, or a
    folder that cannot be created or written (:class:`ImageError`, one line)."""
    parent = Path(path).parent
    for p in (parent, *parent.parents):
        if p.exists():
            if not p.is_dir():
                raise ImageError(f"{path}: cannot write ({p} is a file, not a folder); choose another output path")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"{path}: cannot create its folder ({exc.strerror or exc}); choose another output path") from exc
    if not os.access(parent, os.W_OK | os.X_OK) or Path(path).is_dir():
        what = "is a folder" if Path(path).is_dir() else "its folder is not writable"
        raise ImageError(f"{path}: cannot write ({what}); choose another output path")


def write_output(path: PathLike, data: bytes) -> None:
    """:func:`atomic_write_bytes` for a file the user named: an OSError (read-only folder, full disk, a
    folder in the way) becomes one :class:`ImageError` line saying what to do."""
    check_writable(path)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ImageError(f"{path}: cannot write ({exc.strerror or exc}); choose another output path") from exc


def encode_png(x, compress_level: int = 6) -> bytes:
    """Lossless PNG bytes of Tensor[3|1, H, W] or a PIL image (deterministic: no timestamps; zlib level
    ``compress_level``). The one PNG encoder of distortx (datasets use level 3)."""
    img = x if isinstance(x, Image.Image) else tensor_to_pil(x)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


#: default quality of lossy formats written by :func:`save_image` (Pillow's own default is 75)
DEFAULT_QUALITY = 95
LOSSY_FORMATS = ("JPEG", "WEBP", "JPEG2000")  # what the CLI warns about


def image_format(path: PathLike) -> str:
    """Pillow's format name for ``path``'s suffix, or :class:`ImageError` naming the ones to use."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise ImageError(f"{path}: unknown image format {path.suffix!r} (use .png, lossless; or .jpg, .webp, .tif, .bmp)")
    return fmt


def encode_image(x, fmt: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """Bytes of Tensor[3|1, H, W] (or a PIL image) in Pillow format ``fmt``; ``quality`` for JPEG and WebP."""
    img = x if isinstance(x, Image.Image) else tensor_to_pil(x)
    if fmt == "PNG":
        return encode_png(img)
    buf = io.BytesIO()
    if fmt in ("JPEG", "WEBP"):
        img.save(buf, format=fmt, quality=int(quality))
    else:
        img.save(buf, format=fmt)
    return buf.getvalue()


def save_image(path: PathLike, x, quality: int = DEFAULT_QUALITY) -> None:
    """Save Tensor[3|1, H, W] (or a PIL image) atomically; format from the suffix (PNG recommended:
    lossless; JPEG and WebP are written at ``quality``, 1..100). Raises :class:`ImageError` for an unknown
    suffix, a bad quality or a file that cannot be written."""
    fmt = image_format(path)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ImageError(f"quality must be an integer from 1 to 100, got {quality!r}")
    write_output(path, encode_image(x, fmt, quality))
