"""``distortx.estimate``: the degradation parameter of images from their pixels alone, with the shipped
(or your own) estimator. Large images are processed in tiles whose halo covers the receptive field, so
the per-pixel map equals that of one pass over the whole image."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..errors import ImageError
from .block_grid import block_grid_origin
from .checkpoint import load_estimator, shipped_weights
from .dilated import receptive_field
from .jpeg_lattice import read_jpeg_history
from .noise_flat import read_flat_noise
from .noise_pca import BLEND_MIN_SIDE, read_noise_level
from .models import ParamEstimator
from .targets import get_target

ImagesLike = Union[Tensor, Sequence[Tensor]]
#: noise sigma, method "auto": the patch statistic's reading below the first sigma, the CNN's above the second,
#: linear in between (by the mean of the two readings); chosen on the val photos (docs/endo.md, "Noise sigma")
NOISE_BLEND = (15.0, 35.0)
#: the method that reads each target without a network
STATISTICS = {"jpeg_quality": ("lattice",), "noise_sigma": ("pca", "flat")}
_CACHE: Dict[Tuple[str, str], ParamEstimator] = {}


def get_estimator(what: str = "jpeg_quality", weights: Optional[str] = None,
                  device: Union[str, torch.device] = "cpu") -> ParamEstimator:
    """The estimator for ``what`` (shipped weights unless ``weights=PATH``: an estimator file, or a
    ``distortx train`` run folder or checkpoint of a param_estimator), cached per path and device."""
    path = weights or shipped_weights(what)
    key = (str(path), str(torch.device(device)))
    if key not in _CACHE:
        model = load_estimator(path, device)
        # channels last: oneDNN's 3x3 convolutions of 32-64 channels run ~1.7x faster on the CPU so (the maps move by
        # ~1e-5 of their unit: float rounding)
        _CACHE[key] = model.to(memory_format=torch.channels_last) if torch.device(device).type == "cpu" else model
    return _CACHE[key]


def _as_float(image: Tensor) -> Tensor:
    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ImageError(f"estimate needs images Tensor[N, 3, H, W] or a list of Tensor[3, H, W], got an image of {shape}")
    if not image.is_floating_point() and image.dtype != torch.uint8:
        raise ImageError(f"estimate needs float images in [0, 1] or uint8, got {image.dtype}")
    x = image.float().div(255.0) if image.dtype == torch.uint8 else image.float()
    return x.expand(3, -1, -1) if x.shape[0] == 1 else x


def pixel_map(model: ParamEstimator, image: Tensor, tile: int = 512, origin: Tuple[int, int] = (0, 0)) -> Tensor:
    """Per-pixel estimates Tensor[P, H, W] of one float image Tensor[3, H, W] (tiled past ``tile`` pixels);
    ``origin``: the image's top-left pixel on the JPEG block grid (see :func:`block_grid_origin`)."""
    _, h, w = image.shape
    dev = next(model.parameters()).device
    x = image.to(dev).unsqueeze(0)
    if dev.type == "cpu":  # the layout of the CPU models get_estimator returns (tiles are views of it)
        x = x.contiguous(memory_format=torch.channels_last)
    if h <= tile and w <= tile:
        return model.pixel_map(x, origin)[0]
    # the head's 3x3 layer and, with a residual input, its 3x3 mean widen the receptive field
    halo = receptive_field(model.config["dilations"] + [1]) // 2 + (1 if model.config.get("residual_gain") else 0)
    out = torch.empty(model.config["num_params"], h, w, device=dev)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            ya, xa = max(0, y0 - halo), max(0, x0 - halo)
            part = model.pixel_map(x[:, :, ya: min(h, y1 + halo), xa: min(w, x1 + halo)],
                                   (origin[0] + ya, origin[1] + xa))[0]
            out[:, y0:y1, x0:x1] = part[:, y0 - ya: y0 - ya + (y1 - y0), x0 - xa: x0 - xa + (x1 - x0)]
    return out


def pixel_map_over(model: ParamEstimator, image: Tensor, areas: Sequence[Tuple[int, int, int, int]], tile: int = 512,
                   origin: Tuple[int, int] = (0, 0)) -> Tensor:
    """:func:`pixel_map` on the ``areas`` (y0, x0, y1, x1) of one float image Tensor[3, H, W] only: Tensor[P, H, W]
    with those pixels as the whole map has them (each area is read with the receptive field's halo around it and
    its place on the JPEG block grid) and NaN elsewhere. For a large photo of which a few parts are needed."""
    _, h, w = image.shape
    halo = receptive_field(model.config["dilations"] + [1]) // 2 + (1 if model.config.get("residual_gain") else 0)
    out = torch.full((model.config["num_params"], h, w), float("nan"), device=next(model.parameters()).device)
    for y0, x0, y1, x1 in areas:
        y0, x0, y1, x1 = max(0, int(y0)), max(0, int(x0)), min(h, int(y1)), min(w, int(x1))
        if y1 <= y0 or x1 <= x0:
            continue
        ya, xa = max(0, y0 - halo), max(0, x0 - halo)
        part = pixel_map(model, image[:, ya: min(h, y1 + halo), xa: min(w, x1 + halo)], tile,
                         (origin[0] + ya, origin[1] + xa))
        out[:, y0:y1, x0:x1] = part[:, y0 - ya: y1 - ya, x0 - xa: x1 - xa]
    return out


def blend_noise(pca: float, cnn: float, between: Tuple[float, float] = NOISE_BLEND) -> float:
    """The noise sigma of method "auto" from the patch statistic's and the CNN's readings."""
    lo, hi = between
    w = min(1.0, max(0.0, (hi - 0.5 * (pca + cnn)) / (hi - lo)))
    return w * pca + (1.0 - w) * cnn


@dataclass(frozen=True)
class StatisticReading:
    """What the statistic of ``what`` (JPEG lattice, noise patch statistic) says of one image under ``method``:
    ``value`` (None: nothing usable) and whether the CNN's mean is still needed (``with_cnn`` combines them)."""

    what: str
    method: str
    value: Optional[float]
    needs_cnn: bool
    detail: Any = None  # the LatticeReading / NoiseReading behind it, when one was read

    def with_cnn(self, cnn: float) -> float:
        """The image's value given the CNN's mean reading."""
        if self.value is None:
            return cnn
        return blend_noise(self.value, cnn) if self.what == "noise_sigma" else self.value


def statistic_reading(image: Tensor, what: str, method: str) -> StatisticReading:
    """The network-free part of :func:`estimate` for one image Tensor[C, H, W] (uint8 or float in [0, 1])."""
    check_method(what, method)
    if method == "cnn" or what not in STATISTICS:
        return StatisticReading(what, method, None, True)
    if what == "jpeg_quality":
        r = read_jpeg_history(image)
        read = r is not None and (r.is_value or method == "lattice")
        return StatisticReading(what, method, r.quality if read else None, not read, r)
    if method == "flat":
        r = read_flat_noise(image)
        return StatisticReading(what, method, r.sigma, False, r)
    if method == "auto" and min(image.shape[-2:]) < BLEND_MIN_SIDE:  # too few patches to trust
        return StatisticReading(what, method, None, True)
    r = read_noise_level(image)
    return StatisticReading(what, method, r.sigma, method == "auto", r)


def check_method(what: str, method: str) -> None:
    """ImageError unless ``method`` is one that :func:`estimate` takes for ``what``."""
    methods = ("auto", "cnn") + STATISTICS.get(what, ())
    if method not in methods:
        raise ImageError(f"estimate's method for {what} is one of {', '.join(map(repr, methods))}, got {method!r}")


class EstimatedBy(nn.Module):
    """A :class:`ParamEstimator` whose image-level output is what ``estimate(..., method)`` returns (the CNN's
    mean combined with the statistic), for ``distortx evaluate --method``; trains and saves as the estimator."""

    def __init__(self, model: ParamEstimator, method: str):
        super().__init__()
        check_method(model.config["what"], method)
        self.model, self.method = model, method
        self.config = dict(model.config, method=method)

    def engine_output(self, images: Tensor):
        """The estimator's engine output with ``params`` Tensor[N, 1] replaced by the method's values."""
        out = self.model.engine_output(images)
        target = get_target(self.config["what"])
        cnn = out.params[:, 0].clamp(target.low, target.high)
        values = [statistic_reading(img, self.config["what"], self.method) for img in images]
        params = torch.tensor([r.with_cnn(float(c)) if r.needs_cnn else r.value for r, c in zip(values, cnn)],
                              dtype=out.params.dtype, device=out.params.device).clamp(target.low, target.high)
        return replace(out, params=params[:, None])

    def engine_loss(self, output, batch):
        return self.model.engine_loss(output, batch)


def estimate(images: ImagesLike, what: str = "jpeg_quality", return_map: bool = False,
             weights: Optional[str] = None, device: Union[str, torch.device, None] = None, tile: int = 512,
             grid_origin: Union[str, Tuple[int, int]] = "auto", method: str = "auto"):
    """Estimate a degradation parameter of each image.

    images: float Tensor[N, 3, H, W] in [0, 1] (uint8 accepted), one Tensor[3, H, W], or a list of
    Tensor[3, H, W] of different sizes. what: "jpeg_quality" (IJG quality 1..100) or "noise_sigma"
    (Gaussian sigma on the 0..255 scale). weights: an estimator checkpoint (default: the shipped one), or
    a ``distortx train`` run folder / checkpoint of ``arch = "param_estimator"`` (see docs/training.md).
    device: where to run (default: the images' device). grid_origin: for estimators that mark the JPEG block
    grid, where each image's grid lies: "auto" finds it (:func:`block_grid_origin`; (0, 0), a decoded JPEG's
    own grid, unless a shifted grid is clearly visible, e.g. in a crop of a strongly compressed JPEG), or (row, col).
    method (JPEG quality only): "auto" reads the quality from the pixels' quantisation lattice where it fits them
    better than no lattice (:func:`distortx.estimation.jpeg_lattice.read_jpeg_history`, ``is_value``: exact for
    most decoded JPEGs; ~100 for images never compressed) and takes the CNN's reading elsewhere (a history hidden
    by later noise, blur or resizing); "cnn" or "lattice" (the lattice's reading even without evidence) force one.
    For noise sigma, "auto" blends the patch statistic (:func:`distortx.estimation.noise_pca.read_noise_level`:
    better at low sigma) with the CNN (better at high sigma, where clipping cuts the noise) by ``NOISE_BLEND``,
    on images of at least ``BLEND_MIN_SIDE`` (96) px a side (smaller ones: the CNN); "cnn" or "pca" force one.
    Both assume white noise and read a camera's (spatially correlated) noise at a third to a half of its RMS;
    "flat" reads noise of any spectrum from the photo's flattest patches
    (:func:`distortx.estimation.noise_flat.read_flat_noise`; at least 64 px a side; an upper bound on photos
    without a flat part): what the verdict reports as a photo's noise.
    Returns Tensor[N] (float, on the CPU): the image's value (the spatial mean of the CNN's per-pixel map, the
    lattice's reading, the patch statistic's, or the blend), clamped to the parameter's range; with ``return_map=True`` also the CNN's maps, a list of N
    Tensor[H, W] (clamped).
    """
    from ..distortions.edges import image_list, load_listed

    target = get_target(what)
    check_method(what, method)
    items: List[Tensor] = [load_listed(src) for _, src in image_list(images, "estimate's images")]
    if not items:
        raise ImageError("estimate got no images")
    dev = torch.device(device) if device is not None else items[0].device
    values, maps = [], []
    with torch.inference_mode():
        for img in items:
            x = _as_float(img)
            reading = statistic_reading(img, what, method)
            if reading.value is not None and not reading.needs_cnn:
                values.append(torch.tensor(reading.value))
                if not return_map:
                    continue
            model = get_estimator(what, weights, dev)
            origin = (0, 0)
            if model.config.get("grid"):
                origin = (block_grid_origin(x, model.config["grid"]) if grid_origin == "auto"
                          else (int(grid_origin[0]), int(grid_origin[1])))
            m = pixel_map(model, x, tile, origin)[0].clamp(target.low, target.high)
            if reading.needs_cnn:
                values.append(torch.tensor(reading.with_cnn(float(m.mean()))))
            maps.append(m.cpu())
    out = torch.stack(values).clamp(target.low, target.high)
    return (out, maps) if return_map else out
