"""Where reference images come from: an image folder, the embedded samples, or tensors in memory.

A source is an indexed list of reference images. Index ``i`` is fixed by the listing alone (sorted relative
paths for a folder), never by which files turn out to be readable, so every worker, shard and resumed run
agrees on it. ``load(i)`` decodes one image as uint8 Tensor[3, H, W] (grey, RGBA, palette and 16-bit files
are converted to 8-bit RGB with EXIF orientation applied, by :func:`distortx.io.read_image`) and raises
:class:`ImageError` for an unreadable or truncated file; generation records that reference as skipped.

``fingerprint()`` is a SHA-256 over the content (relative paths + file bytes, asset bytes, tensor bytes):
the manifest's ``sources.hash``, identical on every machine that holds the same images. ``problems()`` names
the references that cannot be read, found in the same pass over the bytes without decoding them
(:func:`distortx.io.probe_image_bytes`): the plan leaves them out before it hands out images, so a broken
file costs no images, and every shard and resumed run finds the same ones.

:func:`prepare_reference` turns a reference into the preset's square crop: with ``resize`` the shorter side is
scaled to the crop (Pillow bicubic, antialiased when shrinking) and the centre cut out; without it (Ahn's
detection protocol) the centre is cut out directly, and an image smaller than the crop is first upscaled
(shorter side to the crop, bicubic) and counted as ``upscaled`` in the report.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import DatasetError, ImageError
from ..io import IMAGE_EXTENSIONS, probe_image_bytes, read_image, to_uint8_image
from .samples import SAMPLE_PHOTOS, dead_leaves, load_sample



class ImageSource:
    """An indexed list of reference images. Subclasses set ``kind`` and implement the four methods."""

    kind = "abstract"

    def __len__(self) -> int:
        raise NotImplementedError

    def name(self, index: int) -> str:
        """Stable identifier of reference ``index`` (relative path, sample name, ``tensor_00012``)."""
        raise NotImplementedError

    def load(self, index: int) -> Tensor:
        """Reference ``index`` as uint8 Tensor[3, H, W]; raises :class:`ImageError` when unreadable."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """SHA-256 hex digest of the source's content."""
        raise NotImplementedError

    def problems(self) -> Dict[int, str]:
        """Reference index -> why it cannot be read, for those known to be unreadable without decoding."""
        return {}

    def describe(self) -> dict:
        d = {"kind": self.kind, "count": len(self), "hash": self.fingerprint()}
        bad = self.problems()
        if bad:
            d["unreadable"] = [{"reference": self.name(i), "reason": bad[i]} for i in sorted(bad)]
        return d


class FolderSource(ImageSource):
    """Every JPEG/PNG/TIFF/BMP/WebP file under ``root`` (recursive, hidden files and folders ignored),
    ordered by relative POSIX path."""

    kind = "folder"

    def __init__(self, root: Union[str, os.PathLike]):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a folder of images (use --images DIR, or omit it for the embedded samples)")
        rel: List[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in filenames:
                if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS):
                    rel.append(Path(dirpath, f).relative_to(self.root).as_posix())
        if not rel:
            raise DatasetError(
                f"{self.root}: no images found (looked recursively for {', '.join(IMAGE_EXTENSIONS)})"
            )
        self.files: Tuple[str, ...] = tuple(sorted(rel))
        self._hash: Optional[str] = None
        self._problems: Dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.files)

    def name(self, index: int) -> str:
        return self.files[index]

    def load(self, index: int) -> Tensor:
        path = self.root / self.files[index]
        try:
            return read_image(path)
        except ImageError as exc:  # say it with the relative path: messages end up in the manifest
            raise ImageError(str(exc).replace(str(path), self.files[index])) from exc

    def _scan(self) -> None:
        """One pass over the files: the content hash and the unreadable files."""
        h = hashlib.sha256(b"distortx-folder-v1\0")
        problems: Dict[int, str] = {}
        for i, rel in enumerate(self.files):
            try:
                data = (self.root / rel).read_bytes()
            except OSError as exc:
                digest = "unreadable"
                problems[i] = f"cannot read file ({exc.strerror or exc})"
            else:
                digest = hashlib.sha256(data).hexdigest()
                reason = probe_image_bytes(data)
                if reason is not None:
                    problems[i] = reason
            h.update(f"{rel}\0{digest}\n".encode())
        self._hash, self._problems = h.hexdigest(), problems

    def fingerprint(self) -> str:
        if self._hash is None:
            self._scan()
        return self._hash

    def problems(self) -> Dict[int, str]:
        if self._hash is None:
            self._scan()
        return dict(self._problems)


@lru_cache(maxsize=None)
def _asset_digest() -> str:
    h = hashlib.sha256()
    for name in SAMPLE_PHOTOS:
        h.update((resources.files("distortx") / "assets" / f"{name}.png").read_bytes())
    return h.hexdigest()


class EmbeddedSource(ImageSource):
    """The embedded photos first, then deterministic dead-leaves images (``dead_leaves(size, seed=k)``)
    until ``count`` references exist. Nothing is downloaded."""

    kind = "embedded"

    def __init__(self, count: int = len(SAMPLE_PHOTOS), size: int = 256):
        if count < 1:
            raise DatasetError(f"the embedded source needs at least one image, got count={count}")
        self.count, self.size = int(count), int(size)

    def __len__(self) -> int:
        return self.count

    def name(self, index: int) -> str:
        if index < len(SAMPLE_PHOTOS):
            return SAMPLE_PHOTOS[index]
        return f"dead_leaves_{index - len(SAMPLE_PHOTOS):05d}"

    def load(self, index: int) -> Tensor:
        if not 0 <= index < self.count:
            raise IndexError(index)
        if index < len(SAMPLE_PHOTOS):
            return load_sample(SAMPLE_PHOTOS[index])
        return dead_leaves(self.size, seed=index - len(SAMPLE_PHOTOS))

    def fingerprint(self) -> str:
        text = f"distortx-embedded-v1\0{_asset_digest()}\0dead_leaves size={self.size} count={self.count}"
        return hashlib.sha256(text.encode()).hexdigest()


class TensorSource(ImageSource):
    """Images already in memory: Tensor[N, C, H, W] or a sequence of Tensor[C, H, W] (uint8, or float in
    [0, 1]; C in {1, 3})."""

    kind = "tensors"

    def __init__(self, images: Union[Tensor, Sequence[Tensor]], names: Optional[Sequence[str]] = None):
        items = list(images.unbind(0)) if isinstance(images, Tensor) and images.dim() == 4 else list(images)
        if not items:
            raise DatasetError("no images given (an empty tensor or list)")
        self.images: List[Tensor] = []
        for k, x in enumerate(items):
            if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[0] not in (1, 3):
                shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ImageError(f"image {k}: expected Tensor[C, H, W] with C in (1, 3), got {shape}")
            x = to_uint8_image(x.detach().cpu())
            self.images.append((x.expand(3, -1, -1) if x.shape[0] == 1 else x).contiguous())
        self.names = list(names) if names is not None else [f"tensor_{k:05d}" for k in range(len(self.images))]
        if len(self.names) != len(self.images):
            raise DatasetError(f"{len(self.names)} names for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    def name(self, index: int) -> str:
        return self.names[index]

    def load(self, index: int) -> Tensor:
        return self.images[index].clone()

    def fingerprint(self) -> str:
        h = hashlib.sha256(b"distortx-tensors-v1\0")
        for n, x in zip(self.names, self.images):
            h.update(f"{n}\0{tuple(x.shape)}\0".encode())
            h.update(x.numpy().tobytes())
        return h.hexdigest()


def open_source(images=None, count: Optional[int] = None, size: int = 256) -> ImageSource:
    """A source from a folder path, tensors, an :class:`ImageSource`, or ``None`` (embedded samples: the
    photos plus dead-leaves images of side ``size`` up to ``count`` references)."""
    if images is None:
        return EmbeddedSource(count if count is not None else len(SAMPLE_PHOTOS), size=size)
    if isinstance(images, ImageSource):
        return images
    if isinstance(images, (str, os.PathLike)):
        return FolderSource(images)
    if isinstance(images, Tensor) or isinstance(images, (list, tuple)):
        return TensorSource(images)
    raise DatasetError(f"cannot use a {type(images).__name__} as an image source (give a folder, tensors or None)")


def _resize_rgb(img: Tensor, height: int, width: int) -> Tensor:
    pil = Image.fromarray(img.permute(1, 2, 0).numpy())
    out = pil.resize((width, height), Image.BICUBIC)
    return torch.from_numpy(np.array(out, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def prepare_reference(img: Tensor, crop: int, resize: bool = True) -> Tuple[Tensor, bool]:
    """The square ``crop`` x ``crop`` centre crop of uint8 Tensor[3, H, W] -> (uint8 Tensor[3, crop, crop], upscaled).

    resize=True: shorter side scaled to ``crop`` first (bicubic). resize=False: cut directly; an image whose
    shorter side is below ``crop`` is upscaled to it first and ``upscaled`` is True.
    """
    if img.dtype != torch.uint8 or img.dim() != 3 or img.shape[0] != 3:
        raise ImageError(f"a reference must be uint8 Tensor[3, H, W], got {img.dtype} {tuple(img.shape)}")
    H, W = int(img.shape[1]), int(img.shape[2])
    short = min(H, W)
    upscaled = short < crop
    if (resize and short != crop) or upscaled:
        scale = crop / short
        h, w = max(crop, round(H * scale)), max(crop, round(W * scale))
        img = _resize_rgb(img, h, w)
        H, W = h, w
    y0, x0 = (H - crop) // 2, (W - crop) // 2
    return img[:, y0:y0 + crop, x0:x0 + crop].contiguous(), upscaled
