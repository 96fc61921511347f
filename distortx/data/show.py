"""Contact sheet of a generated dataset: a grid of images with their boxes and labels
(torchvision.utils.draw_bounding_boxes on each tile, captions with Pillow ImageDraw).

Detection: every visible region is outlined in its category's colour with ``type value`` at its top-left
corner. Classification: the caption under each tile says ``type value (level)``. The images shown are spread
over the dataset (:func:`spread`): references evenly across all splits, one image of each in turn, each time
of the class shown least so far.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Hashable, List, Optional, Sequence, Union

from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.transforms.functional import pil_to_tensor

from ..drawing import draw_regions
from ..errors import DatasetError
from ..io import check_writable, encode_image, image_format, tensor_to_pil, write_output
from .datasets import DistortionDataset


def _fmt(values: Sequence[float]) -> str:
    return f"{values[0]:.3g}" if values else ""


def _draw_regions(tile: Tensor, annotations: Sequence[dict], scale: float) -> Tensor:
    """uint8 Tensor[3, h, w] with each COCO annotation's box (scaled by ``scale``) outlined in its type's colour
    and labelled ``type value`` (:func:`distortx.drawing.draw_regions`)."""
    boxes = [[bx, by, bx + bw - 1, by + bh - 1] for bx, by, bw, bh in
             ((v * scale for v in a["bbox"]) for a in annotations)]
    labels = [f"{a['distortion']} {_fmt(a['values'])}" for a in annotations]
    return draw_regions(tile, boxes, [a["distortion"] for a in annotations], labels, width=2)


def spread(references: Sequence[Hashable], classes: Sequence[Hashable], count: int) -> List[int]:
    """Indices of ``count`` items spread over references and classes: references taken evenly from the
    whole list (in order of first appearance), one item of each in turn, each time the item whose class
    has been picked least so far (ties: the earlier item)."""
    groups = {}
    for i, r in enumerate(references):
        groups.setdefault(r, []).append(i)
    refs = list(groups)
    if len(refs) > count:
        refs = [refs[(k * len(refs)) // count] for k in range(count)]
    shown: Counter = Counter()
    picked: List[int] = []
    while len(picked) < count and any(groups[r] for r in refs):
        for r in refs:
            rest = groups[r]
            if not rest:
                continue
            best = min(rest, key=lambda i: (shown[classes[i]], i))
            rest.remove(best)
            picked.append(best)
            shown[classes[best]] += 1
            if len(picked) == count:
                break
    return picked


def contact_sheet(root: Union[str, Path], out: Union[str, Path], count: int = 16, columns: int = 4,
                  split: Optional[str] = None, tile: Optional[int] = None) -> Path:
    """Draw ``count`` images of ``split`` (default: all splits), spread over references and classes, into
    an image at ``out`` (format from its suffix, PNG recommended)."""
    for name, v, low in (("count", count, 1), ("columns", columns, 1), ("tile", tile, 16)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
            raise DatasetError(f"{name} must be an integer >= {low}, got {v!r}")
    fmt = image_format(out)
    check_writable(out)
    ds = DistortionDataset(root, split=split)
    if len(ds) == 0:
        raise DatasetError(f"{root}: no images in split {split or 'any'}")
    if ds.task == "detection":
        kinds = [tuple(sorted({a["distortion"] for a in it["annotations"]})) for it in ds.items]
    else:
        kinds = [it["type"] for it in ds.items]
    chosen = spread([it.get("reference_id", it.get("reference")) for it in ds.items], kinds, count)
    n = len(chosen)
    columns = max(1, min(columns, n))
    rows = (n + columns - 1) // columns
    first = ds.image(chosen[0])
    side = tile or max(200, int(max(first.shape[1], first.shape[2])))
    caption = 14
    font = ImageFont.load_default()
    sheet = Image.new("RGB", (columns * (side + 4) + 4, rows * (side + caption + 4) + 4), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for i, idx in enumerate(chosen):
        item = ds.items[idx]
        img = tensor_to_pil(ds.image(idx))
        scale = side / max(img.size)
        if scale != 1.0:
            img = img.resize((round(img.size[0] * scale), round(img.size[1] * scale)), Image.BICUBIC)
        x, y = 4 + (i % columns) * (side + 4), 4 + (i // columns) * (side + caption + 4)
        if ds.task == "detection" and item["annotations"]:
            img = tensor_to_pil(_draw_regions(pil_to_tensor(img), item["annotations"], scale))
        sheet.paste(img, (x, y))
        if ds.task == "detection":
            label = Path(item["file_name"]).name
        else:
            lvl = f" (L{item['level']})" if item["level"] >= 0 else ""
            label = f"{item['type']} {_fmt(item['values'])}{lvl}"
        draw.text((x, y + side + 1), label, fill=(230, 230, 230), font=font)
    out = Path(out)
    write_output(out, encode_image(sheet, fmt))
    return out
