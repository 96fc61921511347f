"""A photo folder as a list of uint8 Tensor[3, H, W] (the estimator experiments' held-out photos). Training
patches come from the trainer's presets (experiments/endo/configs), not from here."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Union

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
