"""Random square patches of a photo collection, drawn on the photos' device in one gather per batch, with
Endo's augmentation (transpose, horizontal and vertical flips: the 8 symmetries of the square)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

import torch
from torch import Tensor

from ..errors import DatasetError


def load_photos(folder: Union[str, Path], min_side: int = 64, limit: int = 0,
                names: Optional[Iterable[str]] = None) -> List[Tensor]:
    """Every readable image of ``folder`` (sorted names) whose shorter side is >= ``min_side``, as uint8
    Tensor[3, H, W]; ``names`` keeps only those files (relative paths, e.g. a fixed training split);
    ``limit`` > 0 keeps the first ``limit``."""
    from ..data.sources import FolderSource

    src = FolderSource(folder)
    wanted = None if names is None else set(names)
    if wanted is not None:
        missing = sorted(wanted - set(src.files))
        if missing:
            raise DatasetError(f"{folder}: {len(missing)} listed photos are missing, e.g. {missing[0]}")
    out = []
    for i in range(len(src)):
        if wanted is not None and src.name(i) not in wanted:
            continue
        img = src.load(i)
        if min(img.shape[1:]) >= min_side:
            out.append(img)
        if limit and len(out) >= limit:
            break
    if not out:
        raise DatasetError(f"no image of at least {min_side}x{min_side} pixels in {folder}")
    return out


class PatchBank:
    """Photos padded into one uint8 Tensor[P, 3, Hmax, Wmax] on ``device``; :meth:`sample` draws patches."""

    def __init__(self, photos: Sequence[Tensor], patch: int = 64, device: Union[str, torch.device] = "cpu"):
        small = [tuple(p.shape[1:]) for p in photos if min(p.shape[1:]) < patch]
        if not photos or small:
            raise DatasetError(f"every photo must be at least {patch}x{patch} pixels (got {small or 'no photos'})")
        hmax = max(p.shape[1] for p in photos)
        wmax = max(p.shape[2] for p in photos)
        self.bank = torch.zeros(len(photos), 3, hmax, wmax, dtype=torch.uint8, device=device)
        for i, p in enumerate(photos):
            self.bank[i, :, : p.shape[1], : p.shape[2]] = p.to(device)
        self.sizes = torch.tensor([list(p.shape[1:]) for p in photos], dtype=torch.int64, device=device)
        self.patch = int(patch)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return self.bank.shape[0]

    def sample(self, n: int, generator: torch.Generator, augment: bool = True) -> Tensor:
        """float Tensor[n, 3, patch, patch] in [0, 1]: a uniform photo, a uniform position, a random symmetry.
        ``generator`` lives on the CPU; draws are moved to the bank's device."""
        s = self.patch
        idx = torch.randint(len(self), (n,), generator=generator)
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        sizes = self.sizes.cpu()[idx]
        y0 = (u[:, 0] * (sizes[:, 0] - s + 1)).long()
        x0 = (u[:, 1] * (sizes[:, 1] - s + 1)).long()
        flips = torch.randint(2, (n, 3), generator=generator).bool()
        dev = self.device
        ar = torch.arange(s, device=dev)
        ys = (y0.to(dev)[:, None] + ar)[:, :, None]          # n, s, 1
        xs = (x0.to(dev)[:, None] + ar)[:, None, :]          # n, 1, s
        out = self.bank[idx.to(dev)[:, None, None], :, ys, xs]  # n, s, s, 3
        out = out.permute(0, 3, 1, 2).float().div_(255.0)
        if augment:
            f = flips.to(dev)
            out = torch.where(f[:, 0, None, None, None], out.transpose(-1, -2), out)
            out = torch.where(f[:, 1, None, None, None], out.flip(-1), out)
            out = torch.where(f[:, 2, None, None, None], out.flip(-2), out)
        return out.contiguous()
