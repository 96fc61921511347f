"""The catalogue contact sheet: every distortion at every level of its default level set, labelled.

One row per distortion: the clean tile, then one tile per level (a continuous level set shows 4 values
evenly spaced between its min and max). It is the first picture a user looks at.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from .errors import ParameterError
from .io import check_writable, encode_image, image_format, tensor_to_pil, to_float_image, write_output
from .registry import get_distortion, list_distortions

LABEL_W = 190
CAPTION_H = 18
MIN_TILE, MAX_TILE = 16, 1024


def tile_image(image: Tensor, tile: int) -> Tensor:
    """Centre-crop to a square and resize to ``tile`` x ``tile``: float Tensor[1, 3, tile, tile]."""
    x = to_float_image(image)
    h, w = x.shape[-2:]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    x = x[:, y0 : y0 + s, x0 : x0 + s].unsqueeze(0)
    return F.interpolate(x, size=(tile, tile), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def level_values(spec) -> List[float]:
    """The severity values shown for ``spec``: its default level set (4 points if continuous)."""
    if not spec.levels:
        p = spec.parameters[0]
        return torch.linspace(p.low, p.high, 4).tolist()
    ls = spec.level_set()
    if ls.continuous:
        return torch.linspace(min(ls.values), max(ls.values), 4).tolist()
    return list(ls.values)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def render_catalogue(
    out: Path,
    image: Optional[Tensor] = None,
    names: Optional[Sequence[str]] = None,
    tile: int = 160,
    seed: int = 0,
    progress: bool = False,
) -> int:
    """Write the contact sheet to ``out`` (format from its suffix, PNG recommended); returns the number of
    distorted tiles.

    image: uint8 or float Tensor[3, H, W]; default the embedded ``astronaut`` photo.
    names: distortions to show; default every registered one. tile: side of a tile in pixels (16..1024).
    progress: show a tqdm bar (stderr).
    """
    from .data.samples import load_sample
    from .distortions.spec import check_seed

    if isinstance(tile, bool) or not isinstance(tile, int) or not MIN_TILE <= tile <= MAX_TILE:
        raise ParameterError(f"the tile size must be an integer from {MIN_TILE} to {MAX_TILE} pixels, got {tile!r}")
    seed = check_seed(seed)
    fmt = image_format(out)
    check_writable(out)  # before the work

    base = tile_image(image if image is not None else load_sample("astronaut"), tile)
    names = list(names) if names is not None else list_distortions()
    from tqdm import tqdm

    rows = []
    for name in tqdm(names, desc="catalogue", unit="distortion", disable=not progress, leave=False):
        spec = get_distortion(name)
        values = level_values(spec)
        g = torch.Generator().manual_seed(seed)
        params = spec.sample(len(values), generator=g)  # secondary parameters drawn, severity set below
        params.values[:, 0] = torch.tensor(values, dtype=torch.float32)
        tiles = spec.apply(base.expand(len(values), -1, -1, -1).contiguous(), params)
        rows.append((spec, values, tiles))
    ncols = 1 + max(len(v) for _, v, _ in rows)
    cell_h = tile + CAPTION_H
    sheet = Image.new("RGB", (LABEL_W + ncols * (tile + 4), len(rows) * (cell_h + 6) + 6), "white")
    draw = ImageDraw.Draw(sheet)
    big, small = _font(15), _font(12)
    clean = tensor_to_pil(base[0])
    count = 0
    for r, (spec, values, tiles) in enumerate(rows):
        y = 6 + r * (cell_h + 6)
        ls = spec.level_set().name if spec.levels else "range"
        draw.text((6, y + 4), spec.name, fill="black", font=big)
        draw.text((6, y + 26), f"{spec.parameters[0].name} ({ls} levels):", fill=(60, 60, 60), font=small)
        src = (spec.source or spec.plugin).split(" - ")[0]
        draw.text((6, y + 44), src[:28], fill=(110, 110, 110), font=small)
        sheet.paste(clean, (LABEL_W, y))
        draw.text((LABEL_W + 2, y + tile + 2), "clean", fill="black", font=small)
        for c, (v, t) in enumerate(zip(values, tiles)):
            x = LABEL_W + (c + 1) * (tile + 4)
            sheet.paste(tensor_to_pil(t), (x, y))
            draw.text((x + 2, y + tile + 2), f"{v:.4g}", fill="black", font=small)
            count += 1
    write_output(out, encode_image(sheet, fmt))
    return count
