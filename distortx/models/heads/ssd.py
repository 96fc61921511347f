"""``ssd``: the SSD detection head (Liu et al. 2016) on any multi-scale backbone.

Pieces, each small (torchvision's ``models/detection/ssd.py`` layout, our own code):

- map selection: the backbone maps with stride >= ``min_stride`` (8, SSD's conv4_3), at most ``num_maps``;
- extra layers (:class:`ExtraBlock`, 1x1 then 3x3 conv) down to a 1x1 map, until there are ``num_maps``
  maps: stride-2 3x3 while the map is 6 or more cells wide, then unpadded 3x3 (2x2 at the end) convolutions.
  On atrous VGG-16 at 300x300 this is SSD300: maps 38, 19 | 10, 5, 3, 1;
- multibox convolutions: per map a 3x3 conv giving 4 box regressions and a 3x3 conv giving K class scores
  for each of the map's default boxes per cell;
- default boxes from the actual feature-map sizes of each input size (:func:`distortx.detection.ssd_config`
  scale rule; the step of a map is its stride when the map has about image / stride cells, else image /
  cells), cached per (input size, device, dtype);
- the loss (:class:`~distortx.models.heads.ssd_loss.MultiBoxLoss`) and the post-processing
  (:func:`distortx.ops.ssd_postprocess`: decode, softmax, per-class threshold / top-k / NMS, cap).

The module returns raw outputs, ``loc`` Tensor[N, P, 4] and ``conf`` Tensor[N, P, K] (K includes the
background at column 0); the priors come from :meth:`SSDHead.priors`, so the forward pass exports cleanly.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...detection.coder import SSD_VARIANCES
from ...detection.priors import default_boxes, ssd_config
from ...errors import ImageError, ParameterError
from .edge_refiner import EdgeRefiner
from .ssd_loss import MultiBoxLoss

SSD300_EXTRAS = ((256, 512), (128, 256))  # (1x1 channels, 3x3 channels): the first extra block, then every other


class ExtraBlock(nn.Module):
    """1x1 conv (c_in -> mid) + ReLU, then a ``kernel`` conv (mid -> c_out) + ReLU, BN optional.

    Stride 2 uses padding 1 (h -> ceil(h / 2)); stride 1 uses no padding (h -> h - kernel + 1), and a map
    smaller than the kernel is zero-padded up to it first, so any input size runs.
    """

    def __init__(self, c_in: int, mid: int, c_out: int, stride: int, kernel: int, batch_norm: bool) -> None:
        super().__init__()
        self.stride, self.kernel, self.out_channels = stride, kernel, c_out
        pad = 1 if stride == 2 else 0
        layers: List[nn.Module] = [nn.Conv2d(c_in, mid, 1, bias=not batch_norm)]
        layers += [nn.BatchNorm2d(mid)] if batch_norm else []
        layers += [nn.ReLU(inplace=True), nn.Conv2d(mid, c_out, kernel, stride, pad, bias=not batch_norm)]
        layers += [nn.BatchNorm2d(c_out)] if batch_norm else []
        layers += [nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)

    def out_size(self, size: int) -> int:
        """Output side of an input side ``size``."""
        if self.stride == 2:
            return (size - 1) // 2 + 1
        return max(size, self.kernel) - self.kernel + 1

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if self.stride == 1 and (h < self.kernel or w < self.kernel):
            x = F.pad(x, (0, max(0, self.kernel - w), 0, max(0, self.kernel - h)))
        return self.body(x)


class SSDHead(nn.Module):
    """Extra layers + multibox convolutions on the selected backbone maps; see the module docstring.

    forward(features: list of Tensor[N, C_i, h_i, w_i]) -> (loc Tensor[N, P, 4], conf Tensor[N, P, K]).
    """

    def __init__(self, select: Sequence[int], strides: Sequence[int], extras: Sequence[ExtraBlock],
                 map_channels: Sequence[int], num_classes: int, min_ratio: int = 20, max_ratio: int = 90,
                 variances: Sequence[float] = SSD_VARIANCES, criterion: Optional[nn.Module] = None,
                 score_threshold: float = 0.01, iou_threshold: float = 0.45, topk_per_class: int = 200,
                 max_detections: int = 200, impl: str = "auto", refiner: Optional[EdgeRefiner] = None) -> None:
        super().__init__()
        self.select = tuple(select)
        self.extras = nn.ModuleList(extras)
        self.num_classes = int(num_classes)
        self.min_ratio, self.max_ratio = int(min_ratio), int(max_ratio)
        self.variances = tuple(float(v) for v in variances)
        # strides of every map the head predicts on: the selected backbone maps, then the extras
        strides = [int(strides[i]) for i in self.select]
        for block in self.extras:
            strides.append(strides[-1] * block.stride)
        self.map_strides = tuple(strides)
        m = len(self.map_strides)
        # ssd_config's default aspect-ratio pattern for m maps (SSD300's for 6): fixes the boxes per cell
        self.aspect_ratios = ssd_config(300, [1] * m, self.min_ratio, self.max_ratio).aspect_ratios
        self.boxes_per_cell = tuple(2 + 2 * len(a) for a in self.aspect_ratios)
        self.loc = nn.ModuleList(nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(map_channels, self.boxes_per_cell))
        self.conf = nn.ModuleList(nn.Conv2d(c, a * self.num_classes, 3, padding=1)
                                  for c, a in zip(map_channels, self.boxes_per_cell))
        for conv in [*self.loc, *self.conf]:
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.criterion = criterion if criterion is not None else MultiBoxLoss(variances=self.variances)
        self.post = dict(score_threshold=float(score_threshold), iou_threshold=float(iou_threshold),
                         topk_per_class=int(topk_per_class), max_detections=int(max_detections))
        self.impl = impl
        self.refiner = refiner   # moves the decoded boxes' sides onto the regions' borders (DistortxModel.forward)
        self._priors: Dict[tuple, Tensor] = {}

    # -- raw outputs ----------------------------------------------------------------------------------------
    def forward(self, features: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        maps = [features[i] for i in self.select]
        x = maps[-1]
        for block in self.extras:
            x = block(x)
            maps.append(x)
        n = maps[0].shape[0]
        # [N, A*4, h, w] -> [N, h, w, A*4] -> [N, h*w*A, 4]: cells row-major, then a cell's A boxes, the
        # order of distortx.detection.default_boxes
        loc = [head(f).permute(0, 2, 3, 1).reshape(n, -1, 4) for head, f in zip(self.loc, maps)]
        conf = [head(f).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes) for head, f in zip(self.conf, maps)]
        return torch.cat(loc, 1), torch.cat(conf, 1)

    # -- default boxes --------------------------------------------------------------------------------------
    def map_sizes(self, feature_hw: Sequence[Tuple[int, int]]) -> List[Tuple[int, int]]:
        """(h, w) of every map the head predicts on, from the backbone maps' sizes."""
        sizes = [tuple(int(v) for v in feature_hw[i]) for i in self.select]
        for block in self.extras:
            h, w = sizes[-1]
            sizes.append((block.out_size(h), block.out_size(w)))
        return sizes

    def prior_config(self, image_hw: Tuple[int, int], feature_hw: Sequence[Tuple[int, int]]):
        """The :class:`~distortx.detection.PriorConfig` of an input of ``image_hw`` with backbone maps ``feature_hw``."""
        h, w = int(image_hw[0]), int(image_hw[1])
        sizes = self.map_sizes(feature_hw)
        if h != w or any(a != b for a, b in sizes):
            raise ImageError(f"SSD default boxes need square inputs and maps, got a {h}x{w} image; resize or crop it to a square")
        fs = [a for a, _ in sizes]
        steps = [float(s) if s > 0 and abs(f - h / s) < 1 else h / f for f, s in zip(fs, self.map_strides)]
        return ssd_config(h, fs, self.min_ratio, self.max_ratio, self.aspect_ratios, steps)

    def priors(self, image_hw: Tuple[int, int], feature_hw: Sequence[Tuple[int, int]], device=None) -> Tensor:
        """Default boxes Tensor[P, 4] (cx, cy, w, h in [0, 1]) for this input size, cached."""
        key = (int(image_hw[0]), int(image_hw[1]), tuple(tuple(int(v) for v in s) for s in feature_hw), str(device))
        if key not in self._priors:
            self._priors[key] = default_boxes(self.prior_config(image_hw, feature_hw), device=device)
        return self._priors[key]

    # -- training and inference -----------------------------------------------------------------------------
    def loss(self, loc: Tensor, conf: Tensor, priors: Tensor, targets: Sequence[Dict[str, Tensor]],
             image_hw: Tuple[int, int]) -> Dict[str, Tensor]:
        """{"loc", "conf"} losses; targets: per image ``boxes`` xyxy pixels [G, 4], ``labels`` 1..K-1 [G]."""
        h, w = float(image_hw[0]), float(image_hw[1])
        scale = torch.tensor([w, h, w, h], device=loc.device)
        boxes = [t["boxes"].to(loc.device, torch.float32).reshape(-1, 4) / scale for t in targets]
        labels = [t["labels"].to(loc.device, torch.int64).reshape(-1) for t in targets]
        every = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.int64)
        if every.numel():
            lo, hi = torch.stack([every.min(), every.max()]).tolist()  # one host sync per batch
            if lo < 1 or hi >= self.num_classes:
                raise ParameterError(f"detection labels must be in 1..{self.num_classes - 1} (0 is background), "
                                     f"got {lo}..{hi}")
        loc_loss, conf_loss = self.criterion(loc, conf, priors, boxes, labels)
        return {"loc": loc_loss, "conf": conf_loss}

    def postprocess(self, loc: Tensor, conf: Tensor, priors: Tensor, image_hw: Tuple[int, int]) -> List[Dict[str, Tensor]]:
        """Per image: ``boxes`` float Tensor[D, 4] xyxy pixels (clipped to the image), ``scores`` [D], ``labels`` int64 [D]."""
        from ...ops.ssd_postprocess import ssd_postprocess

        det = ssd_postprocess(loc.detach().float(), conf.detach().float(), priors, self.variances, apply_softmax=True,
                              background_class=0, impl=self.impl, **self.post)
        h, w = float(image_hw[0]), float(image_hw[1])
        scale = torch.tensor([w, h, w, h], device=det.boxes.device)
        limit = scale.clone()
        boxes = torch.minimum((det.boxes * scale).clamp(min=0), limit)
        counts = det.counts.tolist()
        return [{"boxes": boxes[i, :c], "scores": det.scores[i, :c], "labels": det.labels[i, :c]}
                for i, c in enumerate(counts)]


def _round8(c: float) -> int:
    return max(16, int(round(c / 8)) * 8)


def ssd(in_channels: Sequence[int], num_classes: int, strides: Optional[Sequence[int]] = None,
        feature_sizes: Optional[Sequence[Tuple[int, int]]] = None, image_size: int = 300, min_stride: int = 8,
        num_maps: int = 6, extra_width: Optional[float] = None, batch_norm: bool = True, min_ratio: int = 20,
        max_ratio: int = 90, neg_pos_ratio: float = 3.0, match_iou: float = 0.5,
        score_threshold: float = 0.01, iou_threshold: float = 0.45, topk_per_class: int = 200,
        max_detections: int = 200, impl: str = "auto", refine: Optional[Dict] = None) -> SSDHead:
    """Build the SSD head for a backbone with maps of ``in_channels`` / ``strides`` / ``feature_sizes``
    (the maps' (h, w) at ``image_size``; estimated as ceil(image_size / stride) when not given).

    num_classes: score columns, background included. extra_width scales SSD300's extra-layer widths
    (256/512, then 128/256); default min(1, max(0.25, last channels / 1024)), i.e. SSD300's on atrous VGG.
    batch_norm: BN in the extra layers (SSD's have none: pass False for the paper's head; BN helps training
    from scratch). Thresholds are those of torchvision's SSD. refine: keyword arguments of an
    :class:`~distortx.models.heads.edge_refiner.EdgeRefiner` (e.g. ``{}``) to refine the boxes' sides; None: none.
    """
    chans = (int(in_channels),) if isinstance(in_channels, int) else tuple(int(c) for c in in_channels)
    strides = tuple(int(s) for s in strides) if strides is not None else (0,) * len(chans)
    if len(strides) != len(chans):
        raise ParameterError(f"ssd: {len(chans)} in_channels but {len(strides)} strides")
    if int(num_classes) < 2:
        raise ParameterError(f"ssd: num_classes counts background too and must be >= 2, got {num_classes}")
    if num_maps < 2:
        raise ParameterError(f"ssd: num_maps must be >= 2, got {num_maps}")
    if feature_sizes is None:
        if any(s <= 0 for s in strides):
            raise ParameterError("ssd: give feature_sizes (the maps' (h, w)) or declared strides for every map")
        feature_sizes = [(math.ceil(image_size / s),) * 2 for s in strides]
    sizes = [min(int(h), int(w)) for h, w in feature_sizes]
    select = [i for i, s in enumerate(strides) if s >= min_stride] or [len(chans) - 1]
    select = select[:num_maps]
    if extra_width is None:
        extra_width = min(1.0, max(0.25, chans[select[-1]] / 1024))
    extras, c, s = [], chans[select[-1]], sizes[select[-1]]
    while len(select) + len(extras) < num_maps and s > 1:
        mid, out = SSD300_EXTRAS[0] if not extras else SSD300_EXTRAS[1]
        mid, out = _round8(mid * extra_width), _round8(out * extra_width)
        stride, kernel = (2, 3) if s >= 6 else (1, min(3, s))
        block = ExtraBlock(c, mid, out, stride, kernel, batch_norm)
        extras.append(block)
        c, s = out, block.out_size(s)
    if len(select) + len(extras) < 2:
        raise ParameterError(f"ssd: the backbone gives a single {s}x{s} map at {image_size}x{image_size}; SSD needs "
                             f"at least two maps (use a larger image_size or another backbone)")
    map_channels = [chans[i] for i in select] + [b.out_channels for b in extras]
    criterion = MultiBoxLoss(neg_pos_ratio=neg_pos_ratio, iou_threshold=match_iou)
    return SSDHead(select, strides, extras, map_channels, num_classes, min_ratio, max_ratio, criterion=criterion,
                   score_threshold=score_threshold, iou_threshold=iou_threshold, topk_per_class=topk_per_class,
                   max_detections=max_detections, impl=impl,
                   refiner=None if refine is None else EdgeRefiner(num_classes, **refine))
