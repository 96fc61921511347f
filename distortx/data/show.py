"""Contact sheet of a generated dataset: a grid of images with their boxes and labels (Pillow ImageDraw).

Detection: every visible region is outlined in its category's colour with ``type value`` at its top-left
corner. Classification: the caption under each tile says ``type value (level)``.
"""
from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Optional, Sequence, Union

from PIL import Image, ImageDraw, ImageFont

from ..errors import DatasetError
from ..io import atomic_write_bytes, tensor_to_pil
from .datasets import DistortionDataset


def _colour(k: int, n: int) -> tuple:
    r, g, b = colorsys.hsv_to_rgb((k / max(n, 1)) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def _fmt(values: Sequence[float]) -> str:
    return f"{values[0]:.3g}" if values else ""


def contact_sheet(root: Union[str, Path], out: Union[str, Path], count: int = 16, columns: int = 4,
                  split: Optional[str] = None, tile: Optional[int] = None) -> Path:
    """Draw the first ``count`` images of ``split`` (default: all splits) into a PNG at ``out``."""
    ds = DistortionDataset(root, split=split)
    if len(ds) == 0:
        raise DatasetError(f"{root}: no images in split {split or 'any'}")
    n = min(count, len(ds))
    columns = max(1, min(columns, n))
    rows = (n + columns - 1) // columns
    first = ds.image(0)
    side = tile or max(200, int(max(first.shape[1], first.shape[2])))
    caption = 14
    font = ImageFont.load_default()
    sheet = Image.new("RGB", (columns * (side + 4) + 4, rows * (side + caption + 4) + 4), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    ncls = len(ds.classes)
    for i in range(n):
        item = ds.items[i]
        img = tensor_to_pil(ds.image(i))
        scale = side / max(img.size)
        if scale != 1.0:
            img = img.resize((round(img.size[0] * scale), round(img.size[1] * scale)), Image.BICUBIC)
        x, y = 4 + (i % columns) * (side + 4), 4 + (i // columns) * (side + caption + 4)
        sheet.paste(img, (x, y))
        if ds.task == "detection":
            for a in item["annotations"]:
                bx, by, bw, bh = (v * scale for v in a["bbox"])
                col = _colour(ds.class_ids.index(a["category_id"]), ncls)
                draw.rectangle([x + bx, y + by, x + bx + bw - 1, y + by + bh - 1], outline=col, width=2)
                text = f"{a['distortion']} {_fmt(a['values'])}"
                tw = draw.textlength(text, font=font)
                draw.rectangle([x + bx, y + by, x + bx + tw + 3, y + by + 11], fill=(0, 0, 0))
                draw.text((x + bx + 2, y + by), text, fill=col, font=font)
            label = Path(item["file_name"]).name
        else:
            lvl = f" (L{item['level']})" if item["level"] >= 0 else ""
            label = f"{item['type']} {_fmt(item['values'])}{lvl}"
        draw.text((x, y + side + 1), label, fill=(230, 230, 230), font=font)
    out = Path(out)
    import io

    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    return out
