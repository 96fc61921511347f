"""The one box drawer: regions outlined in their distortion type's fixed colour (the same on every photo, in
contact sheets and in predictions alike) and labelled (torchvision.utils.draw_bounding_boxes)."""
from __future__ import annotations

import colorsys
import hashlib
from typing import Sequence, Tuple

import torch
from torch import Tensor

#: fixed colours of the built-in types (Ahn's eight first); other names get a colour from a hash of the name
TYPE_COLOURS = {
    "gaussian_noise": (230, 25, 75), "gaussian_blur": (60, 180, 75), "salt_pepper": (255, 225, 25),
    "quantization": (67, 99, 216), "jpeg": (245, 130, 49), "lowpass": (145, 30, 180), "nlm_denoise": (70, 240, 240),
    "fnoise": (240, 50, 230), "gaussian_noise_sigma": (188, 246, 12), "mono_gaussian_noise": (250, 190, 190),
    "motion_blur": (0, 128, 128), "mono_salt_pepper": (230, 190, 255), "jpeg2000": (154, 99, 36),
    "contrast": (255, 250, 200), "marble": (128, 0, 0), "twirl": (170, 255, 195),
}


def type_colour(name: str) -> Tuple[int, int, int]:
    """The colour of distortion type ``name``: fixed for the built-ins, else stable from a hash of the name."""
    if name in TYPE_COLOURS:
        return TYPE_COLOURS[name]
    hue = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") / 65536.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_regions(image: Tensor, boxes: Sequence[Sequence[float]], types: Sequence[str], labels: Sequence[str],
                 width: int = 2) -> Tensor:
    """uint8 Tensor[3, H, W] with ``boxes`` (x0, y0, x1, y1 pixels) outlined in their ``types``' colours and
    captioned with ``labels``; the image unchanged when there are no boxes."""
    from torchvision.utils import draw_bounding_boxes

    if not len(boxes):
        return image
    return draw_bounding_boxes(image, torch.tensor([list(b) for b in boxes], dtype=torch.float32),
                               labels=list(labels), colors=[type_colour(t) for t in types], width=width)
