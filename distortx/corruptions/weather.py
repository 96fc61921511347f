"""ImageNet-C's weather: snow (zoomed, thresholded, motion-blurred flakes), frost (a frost texture blended in),
fog (a plasma fractal), spatter (water drops or mud).
images float Tensor[N, C, H, W] in [0, 1]; values[:, 0] = severity 1..5; seed int64 Tensor[N].

Frost: ImageNet-C blends seeded crops of five photographs of frost. distortx draws five frost pictures of its own
(:func:`frost_texture`, once per size) and crops them the same way, unless ``DISTORTX_FROST_DIR`` names a folder of
frost photographs (e.g. imagecorruptions' ``frost/``), in which case the crops are of those."""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .common import (ANGLE, FIELD_X, FLAKES, NOISE, PLASMA, by_severity, clipped_zoom, conv_same, float_form_u8,
                     gaussian_filter, motion_kernel, native_op, per_sample, shift_taps, to_gray)
from .constants import IMAGENET_C


def _c(name: str, s: int) -> tuple:
    return IMAGENET_C[name][s - 1]


# -- snow ---------------------------------------------------------------------------------------------------------
def _snow_streaks(seed: Tensor, s: int, n: int, h: int, w: int, device, native: bool) -> Tensor:
    """Snow's flakes for one severity group: float32 Tensor[N, 1, H, W], motion-blurred, before their 8-bit rounding."""
    mean, sd, zoom, threshold, radius, sigma, keep = _c("snow", s)
    layer = mean + sd * per_sample(seed, (1, h, w), FLAKES, "normal")
    layer = clipped_zoom(layer, zoom, native=native)
    layer = layer.masked_fill_(layer < threshold, 0.0).clamp_(0, 1)
    angle = per_sample(seed, (1,), ANGLE)[:, 0] * 90.0 - 135.0
    return shift_taps(layer, motion_kernel(radius, sigma).to(device), angle, native=native)


def snow(images: Tensor, values: Tensor, seed: Tensor, native: bool = True) -> Tensor:
    """Flakes N(mean, SD) zoomed, thresholded, motion-blurred at U[-135, -45] degrees, rounded to 8 bits and added
    twice (once rotated by 180 degrees) to the image brightened towards 1.5 grey + 0.5. ``native``: the zoom and
    that last step in C++ on float32 CPU images (``zoom_sample``, ``snow_blend``: the same bits)."""
    def one(x, s, idx):
        keep = _c("snow", s)[-1]
        n, c, h, w = x.shape
        layer = _snow_streaks(seed[idx], s, n, h, w, x.device, native)
        if (native and x.dtype == layer.dtype == torch.float32 and x.device.type == "cpu" and c in (1, 3)
                and native_op("snow_blend")):
            return torch.ops.distortx.snow_blend(x, layer, float(keep))
        layer = torch.round(layer * 255.0) / 255.0
        y = keep * x + (1 - keep) * torch.maximum(x, to_gray(x) * 1.5 + 0.5)
        return (y + layer + layer.flip(-1, -2)).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def snow_u8(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """:func:`snow` on uint8 Tensor[N, C, H, W] -> uint8 truncated as corrupt() truncates the float form (the same
    bytes): the flakes as there, the image read and written by one C++ pass (``snow_blend_u8``) with no float image."""
    n, c, h, w = images.shape
    if not (images.device.type == "cpu" and c in (1, 3) and native_op("snow_blend_u8")):
        return float_form_u8(snow, images, values, seed)
    return by_severity(values[:, 0], images, lambda x, s, idx: torch.ops.distortx.snow_blend_u8(
        x, _snow_streaks(seed[idx], s, x.shape[0], h, w, x.device, True), float(_c("snow", s)[-1])))


# -- fog ----------------------------------------------------------------------------------------------------------
def plasma_fractal(seed: Tensor, size: int, decay: float, native: bool = True) -> Tensor:
    """Diamond-square height maps Tensor[N, size, size] in [0, 1] (size a power of two), ImageNet-C's algorithm:
    each level's new points = mean of their 4 neighbours + wibble * U(-wibble, wibble), wibble /= decay.
    ``native``: the same arithmetic in C++ where the extension is built (csrc/corruptions/plasma_cpu.cpp: the same
    maps, no torch call per level)."""
    if native and seed.device.type == "cpu" and native_op("plasma_fractal"):
        return torch.ops.distortx.plasma_fractal(seed.to(torch.int64), int(size), float(decay))
    n = seed.shape[0]
    m = torch.zeros(n, size, size, dtype=torch.float64, device=seed.device)
    step, wibble, level = size, 100.0, 0

    def wibbled(a: Tensor, phase: int) -> Tensor:
        u = per_sample(seed, tuple(a.shape[1:]), PLASMA + 3 * level + phase).double()
        return a / 4 + wibble * (u * 2 * wibble - wibble)

    while step >= 2:
        half = step // 2
        corner = m[:, 0:size:step, 0:size:step]
        sq = corner + torch.roll(corner, -1, dims=1)
        sq = sq + torch.roll(sq, -1, dims=2)
        m[:, half:size:step, half:size:step] = wibbled(sq, 0)
        dr = m[:, half:size:step, half:size:step]
        ul = m[:, 0:size:step, 0:size:step]
        lt = dr + torch.roll(dr, 1, dims=1) + ul + torch.roll(ul, -1, dims=2)
        m[:, 0:size:step, half:size:step] = wibbled(lt, 1)
        tt = dr + torch.roll(dr, 1, dims=2) + ul + torch.roll(ul, -1, dims=1)
        m[:, half:size:step, 0:size:step] = wibbled(tt, 2)
        step, wibble, level = half, wibble / decay, level + 1
    m = m - m.amin(dim=(1, 2), keepdim=True)
    return (m / m.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)).float()


def fog(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """x + strength * plasma, rescaled by max / (max + strength) (max of the image)."""
    def one(x, s, idx):
        strength, decay = _c("fog", s)
        n, c, h, w = x.shape
        size = 1 << (max(h, w, c) - 1).bit_length()
        plasma = plasma_fractal(seed[idx], size, decay)[:, None, :h, :w].to(x.dtype)
        top = x.amax(dim=(1, 2, 3), keepdim=True)
        return ((x + strength * plasma) * top / (top + strength)).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


# -- frost --------------------------------------------------------------------------------------------------------
#: mean colour of the drawn frost (R, G, B) and its relative contrast, set so that frost at each severity gives
#: the mean and PSNR of ImageNet-C's photographs of frost (tests/test_corruptions.py measures both)
FROST_TINT = (0.52, 0.60, 0.64)
FROST_CONTRAST = 1.4


def frost_texture(seed: Tensor, h: int, w: int) -> Tensor:
    """Seeded frost Tensor[N, 3, H, W] in [0, 1]: a plasma haze plus ice needles (sparse seeds smeared along three
    random directions) and grain, scaled to the mean colour FROST_TINT."""
    n = seed.shape[0]
    size = 1 << (max(h, w) - 1).bit_length()
    haze = plasma_fractal(seed + 17, size, 1.6)[:, None, :h, :w]
    sparks = (per_sample(seed, (1, h, w), FIELD_X) > 0.985).float()
    needles = torch.zeros(n, 1, h, w, device=seed.device)
    length = max(3, int(round(0.03 * max(h, w))))
    for k in range(3):
        angle = per_sample(seed + 101 * k, (1,), ANGLE)[:, 0] * 360.0
        kernel = torch.ones(length, device=seed.device) / length
        needles = torch.maximum(needles, shift_taps(sparks, kernel, angle) * length / 2)
    grain = gaussian_filter(per_sample(seed, (1, h, w), NOISE, "normal"), 0.7)
    level = (0.6 + 0.4 * haze + 0.5 * needles.clamp(0, 1) + 0.08 * grain).clamp_min(0)
    level = 1 + FROST_CONTRAST * (level / level.mean(dim=(1, 2, 3), keepdim=True) - 1)
    tint = torch.tensor(FROST_TINT, device=seed.device).view(1, 3, 1, 1)
    return (level * tint).clamp(0, 1)


def _frost_photos() -> Optional[List[Path]]:
    folder = os.environ.get("DISTORTX_FROST_DIR")
    if not folder:
        return None
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:5]
    return files or None


def frost_from_photos(files: List[Path], seed: Tensor, h: int, w: int) -> Tensor:
    """ImageNet-C's frost: one of the photographs (chosen by the seed), scaled up only if smaller than the image,
    cropped at a seeded place. Tensor[N, 3, H, W]."""
    import numpy as np
    from PIL import Image

    out = []
    u = per_sample(seed, (3,), FLAKES).cpu()
    for i in range(seed.shape[0]):
        with Image.open(files[int(u[i, 0] * len(files)) % len(files)]) as im:
            photo = im.convert("RGB")
        fw, fh = photo.size
        scale = max(1.0, h / fh, w / fw)
        if scale > 1:
            photo = photo.resize((int(math.ceil(fw * scale)), int(math.ceil(fh * scale))), Image.BICUBIC)
        fw, fh = photo.size
        top, left = _crop_origin(u[i], fh, fw, h, w)
        crop = np.asarray(photo)[top: top + h, left: left + w]
        out.append(torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0)
    return torch.stack(out).to(seed.device)


def _crop_origin(u: Tensor, fh: int, fw: int, h: int, w: int) -> tuple:
    """(top, left) of the seeded h x w crop of an fh x fw frost picture (u = the sample's three FLAKES uniforms)."""
    top = int(u[1] * max(fh - h, 1)) if fh > h else 0
    left = int(u[2] * max(fw - w, 1)) if fw > w else 0
    return top, left


#: the drawn frost comes, like ImageNet-C's, from a few fixed pictures: FROST_BANK textures drawn once per size
#: (seeds FROST_BANK_SEED + k), each sample a seeded crop of one of them (no drawing per image)
FROST_BANK = 5
FROST_BANK_SEED = 0xF2057
#: bank sizes up to this side are kept in memory (5 x 3 x 1024^2 floats = 60 MB); larger ones are drawn per call
_BANK_CACHED_SIDE = 1024


def frost_bank_texture(k: int, side: int, device="cpu") -> Tensor:
    """Drawn frost picture k of the bank at side x side: Tensor[3, side, side] (the same for every caller)."""
    if side <= _BANK_CACHED_SIDE:
        return _cached_bank_texture(int(k), int(side), str(device))
    return frost_texture(torch.tensor([FROST_BANK_SEED + int(k)], device=device), side, side)[0]


@functools.lru_cache(maxsize=2 * FROST_BANK)
def _cached_bank_texture(k: int, side: int, device: str) -> Tensor:
    return frost_texture(torch.tensor([FROST_BANK_SEED + k], device=device), side, side)[0]


def _bank_crops(seed: Tensor, h: int, w: int, device) -> List[Tensor]:
    """Each sample's h x w crop (a view) of its bank picture, drawn at the image's size rounded up to a power of two
    (the scale frost_texture gives an image of this size): Tensor[3, H, W] views, one per seed."""
    side = 1 << (max(h, w) - 1).bit_length()
    u = per_sample(seed, (3,), FLAKES).cpu()
    crops = []
    for i in range(seed.shape[0]):
        top, left = _crop_origin(u[i], side, side, h, w)
        picture = frost_bank_texture(int(u[i, 0] * FROST_BANK) % FROST_BANK, side, device)
        crops.append(picture[:, top: top + h, left: left + w])
    return crops


def frost_drawn(seed: Tensor, h: int, w: int) -> Tensor:
    """The drawn frost of each sample: a seeded crop of one of the bank's pictures. Tensor[N, 3, H, W]."""
    return torch.stack(_bank_crops(seed, h, w, seed.device)) if seed.shape[0] else \
        torch.empty(0, 3, h, w, device=seed.device)


def frost_source() -> str:
    """Which frost this process uses: "drawn" or the folder of photographs."""
    files = _frost_photos()
    return "drawn" if files is None else f"photographs in {files[0].parent}"


def frost(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """image weight * x + frost weight * frost."""
    def one(x, s, idx):
        keep, amount = _c("frost", s)
        n, c, h, w = x.shape
        files = _frost_photos()
        if files is None and c == 3 and x.dtype == torch.float32:
            return _frost_drawn_blend(x, seed[idx], keep, amount)
        layer = frost_drawn(seed[idx], h, w) if files is None else frost_from_photos(files, seed[idx], h, w)
        if c == 1:
            layer = to_gray(layer)
        return (keep * x + amount * layer.to(x.dtype)).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


def _frost_drawn_blend(x: Tensor, seed: Tensor, keep: float, amount: float) -> Tensor:
    """keep * x + amount * (each sample's crop of its bank picture), clamped: frost's operations in its order, read
    from the bank picture in place (no copy of the crop, two temporaries instead of five). x float32 [N, 3, H, W]."""
    out = torch.mul(x, keep)
    for o, crop in zip(out, _bank_crops(seed, x.shape[2], x.shape[3], x.device)):
        o.add_(crop.mul(amount))
    return out.clamp_(0, 1)


def frost_u8(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """:func:`frost` on uint8 Tensor[N, C, H, W] -> uint8 truncated as corrupt() truncates the float form (the same
    bytes): with the drawn frost, one C++ pass (``frost_blend_u8``) blends each colour image with its crop of the bank
    picture, read in place, with no float image; photographs of frost and grey images go through the float form."""
    n, c, h, w = images.shape
    if not (images.device.type == "cpu" and c == 3 and _frost_photos() is None and native_op("frost_blend_u8")):
        return float_form_u8(frost, images, values, seed)

    def one(x, s, idx):
        keep, amount = _c("frost", s)
        return torch.ops.distortx.frost_blend_u8(x, _bank_crops(seed[idx], h, w, x.device), float(keep), float(amount))
    return by_severity(values[:, 0], images, one)


# -- spatter ------------------------------------------------------------------------------------------------------
#: OpenCV's tan(22.5 degrees) in its Canny's 15-bit fixed point
_CANNY_SHIFT = 15
_TG22 = int(0.4142135623730950488016887242097 * (1 << _CANNY_SHIFT) + 0.5)


def canny(v: Tensor, low: float = 50.0, high: float = 150.0, hysteresis_steps: Optional[int] = None,
          native: bool = True) -> Tensor:
    """OpenCV's Canny (aperture 3, L1 gradient) on 8-bit images Tensor[N, H, W] (values 0..255), as cv2.Canny
    computes it: 3x3 Sobel with replicated borders, magnitude |gx| + |gy|, the direction by OpenCV's fixed-point
    tan(22.5) / tan(67.5) tests, non-maximum suppression (> the neighbour behind, >= the one ahead; > both on the
    diagonals; 0 outside the image), then hysteresis: magnitudes above ``high`` seed edges that grow through
    8-connected survivors above ``low`` (``hysteresis_steps`` steps at most; None: until nothing changes, as
    OpenCV). bool Tensor[N, H, W]. ``native``: the same in C++ (csrc/corruptions/spatter_cpu.cpp: the candidates in
    integers, the hysteresis as a breadth-first search), the same edges."""
    h, w = v.shape[1:]
    steps = int(hysteresis_steps) if hysteresis_steps is not None else h * w
    if native and v.device.type == "cpu" and native_op("canny_candidates"):   # the same integers in C++
        strong, weak = torch.ops.distortx.canny_candidates(v, float(low), float(high))
        return torch.ops.distortx.hysteresis(strong, weak, steps)
    x = v[:, None].float()
    sobel_x = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=v.device)
    gx = conv_same(x, sobel_x, mode="nearest")[:, 0].to(torch.int64)      # integers, exact in float32
    gy = conv_same(x, sobel_x.t(), mode="nearest")[:, 0].to(torch.int64)
    ax, ay = gx.abs(), gy.abs()
    mag = ax + ay
    y_scaled, tg22x = ay << _CANNY_SHIFT, ax * _TG22
    horizontal = y_scaled < tg22x
    vertical = ~horizontal & (y_scaled > tg22x + (ax << (_CANNY_SHIFT + 1)))
    diagonal = ~horizontal & ~vertical
    s = torch.where((gx < 0) != (gy < 0), -1, 1)                          # OpenCV's (xs ^ ys) < 0 ? -1 : 1
    pad = torch.nn.functional.pad(mag, (1, 1, 1, 1))

    def at(dy: int, dx: int) -> Tensor:
        return pad[:, 1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]

    keep = horizontal & (mag > at(0, -1)) & (mag >= at(0, 1))
    keep |= vertical & (mag > at(-1, 0)) & (mag >= at(1, 0))
    keep |= diagonal & (s > 0) & (mag > at(-1, -1)) & (mag > at(1, 1))
    keep |= diagonal & (s < 0) & (mag > at(-1, 1)) & (mag > at(1, -1))
    weak = keep & (mag > low)
    strong = weak & (mag > high)
    edges = strong
    for _ in range(steps):
        grown = torch.nn.functional.max_pool2d(edges[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0
        grown &= weak
        if torch.equal(grown | edges, edges):
            break
        edges = edges | grown
    return edges


def distance_to(edges: Tensor, limit: int, native: bool = True) -> Tensor:
    """Exact Euclidean distance of every pixel to the nearest True of ``edges`` Tensor[N, H, W], capped at
    ``limit`` (two separable passes of squared distances over shifted slices of a padded copy; the padding is
    "far", so a shift never brings in a nearer edge than exists). ``native``: the same passes in C++."""
    if native and edges.device.type == "cpu" and native_op("edge_distance"):
        return torch.ops.distortx.edge_distance(edges.to(torch.bool), int(limit))
    n, h, w = edges.shape
    big = float(limit * limit * 4 + 1)
    g = torch.where(edges, torch.zeros_like(edges, dtype=torch.float32), torch.full_like(edges, big, dtype=torch.float32))
    g = F.pad(g, (limit, limit), value=big)
    best = g[:, :, limit:limit + w].clone()
    for d in range(1, limit + 1):
        for start in (limit - d, limit + d):
            torch.minimum(best, g[:, :, start:start + w] + d * d, out=best)
    best = F.pad(best, (0, 0, limit, limit), value=big)
    out = best[:, limit:limit + h, :].clone()
    for d in range(1, limit + 1):
        for start in (limit - d, limit + d):
            torch.minimum(out, best[:, start:start + h, :] + d * d, out=out)
    return out.sqrt().clamp(max=float(limit))


def equalize(v: Tensor) -> Tensor:
    """OpenCV's equalizeHist of integer images Tensor[N, H, W] in 0..255 (per image)."""
    out = torch.empty_like(v)
    for i in range(v.shape[0]):
        hist = torch.bincount(v[i].flatten().long(), minlength=256).double()
        cdf = hist.cumsum(0)
        first = cdf[hist > 0][0]
        total = cdf[-1]
        if total == first:
            out[i] = v[i]
            continue
        lut = torch.round((cdf - first) * 255.0 / (total - first)).clamp(0, 255)
        out[i] = lut[v[i].long()].to(v.dtype)
    return out


def spatter(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Liquid N(mean, SD) blurred and thresholded; water (severity 1-3): turquoise drops shaded by an embossed
    distance-to-edge map; mud (4-5): brown blobs covering the image."""
    def one(x, s, idx):
        mean, sd, blur, threshold, strength, mud = _c("spatter", s)
        n, c, h, w = x.shape
        liquid = gaussian_filter(mean + sd * per_sample(seed[idx], (1, h, w), NOISE, "normal"), blur)
        liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
        if mud:
            m = gaussian_filter((liquid > threshold).float(), strength)
            m = torch.where(m < 0.8, torch.zeros_like(m), m)
            color = torch.tensor([63, 42, 20], device=x.device, dtype=x.dtype).view(1, 3, 1, 1) / 255.0
            color = to_gray(color) if c == 1 else color
            return (x * (1 - m) + color * m).clamp(0, 1)
        level = torch.floor(liquid * 255.0).clamp(0, 255)                     # the uint8 liquid layer
        edges = canny(level[:, 0])
        dist = distance_to(edges, 20)
        box = torch.full((3, 3), 1 / 9.0, device=x.device)
        dist = torch.floor(conv_same(dist[:, None], box)[:, 0]).clamp(0, 255)
        dist = equalize(dist.to(torch.int64)).float()
        emboss = torch.tensor([[-2.0, -1, 0], [-1, 1, 1], [0, 1, 2]], device=x.device)
        dist = torch.round(conv_same(dist[:, None], emboss)).clamp(0, 255)
        dist = conv_same(dist, box)
        m = liquid * dist
        m = m / m.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) * strength
        color = torch.tensor([175, 238, 238], device=x.device, dtype=x.dtype).view(1, 3, 1, 1) / 255.0
        color = to_gray(color) if c == 1 else color
        return (x + m * color).clamp(0, 1)
    return by_severity(values[:, 0], images, one)


__all__ = ["fog", "frost", "frost_source", "frost_texture", "plasma_fractal", "snow", "spatter"]
