"""``EdgeRefiner``: moves each side of a detected box onto the border of the distorted region, from the pixels.

A distortion region is a rectangle with hard edges: inside it the photo is distorted, outside it is not. The SSD
head places boxes from stride-8..300 maps, so its sides are off by several pixels (IoU 0.9 needs ~2 px on a
100-px box). The refiner reads each side again at full resolution, in the manner of LocNet's border
probabilities (Gidaris & Komodakis, *LocNet: Improving Localization Accuracy for Object Detection*, CVPR 2016):

- for every side of a box, a ``length`` x ``window`` strip of the image is cut across that side, centred on its
  current position, and turned so that the box's inside lies to the right (left side as is, right side
  mirrored, top / bottom transposed); pixels outside the image are 0 with a 4th "valid" channel;
- a small CNN (3x3 convolutions, strided along the side only, so every column keeps its own statistics), the
  box's type as a per-channel bias, a mean over the strip's length, then dilated 1-D convolutions give one
  logit per column: "the region starts at this column";
- the side moves to the most likely column (the strips of ``windows`` places along a long side add their
  log-probabilities).

Training (:meth:`EdgeRefiner.loss`) uses the ground-truth boxes with each side moved by a random offset (half of
them uniform over the window, half normal with ``jitter_sd`` px), so it learns to find the border near a guess,
whatever the detector. Boxes are (x0, y0, x1, y1) pixels with x1, y1 exclusive, as the targets are.

Shapes: images float Tensor[N, 3, H, W] in [0, 1]; strips Tensor[S, 4, length, window]; logits Tensor[S, window].
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ParameterError

SIDES = 4  # left, top, right, bottom: the order of a box's coordinates


def _conv(c_in: int, c_out: int, stride: Tuple[int, int] = (1, 1)) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def _conv1d(c_in: int, c_out: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, 5, 1, 2 * dilation, dilation, bias=False), nn.BatchNorm1d(c_out),
                         nn.ReLU(inplace=True))


def cut_strips(images: Tensor, index: Tensor, side: Tensor, edge: Tensor, centre: Tensor, length: int,
               window: int) -> Tensor:
    """Strips across box sides, the inside to the right.

    images float Tensor[N, C, H, W]; index (which image), side (0 left, 1 top, 2 right, 3 bottom), edge (the side's
    coordinate, int) and centre (the middle of the strip along the side, int): int64 Tensor[S] each.
    Returns Tensor[S, C + 1, length, window]: column j of a left / top strip is coordinate edge - window/2 + j,
    of a right / bottom strip edge + window/2 - 1 - j; the last channel is 1 on pixels inside the image.
    """
    n, c, h, w = images.shape
    s = index.numel()
    dev = images.device
    j = torch.arange(window, device=dev).view(1, 1, window)
    i = torch.arange(length, device=dev).view(1, length, 1)
    half = window // 2
    e, m = edge.view(s, 1, 1), centre.view(s, 1, 1)
    first = side.view(s, 1, 1) < 2                       # left / top: inside towards + coordinates
    across = torch.where(first, e - half + j, e + half - 1 - j)    # [S, 1, window]
    along = m - length // 2 + i                            # [S, length, 1]
    vertical = (side % 2 == 0).view(s, 1, 1)              # left / right sides: across = x, along = y
    x = torch.where(vertical, across, along).expand(s, length, window)
    y = torch.where(vertical, along, across).expand(s, length, window)
    valid = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    flat = index.view(s, 1, 1) * (c * h * w) + y.clamp(0, h - 1) * w + x.clamp(0, w - 1)     # [S, length, window]
    flat = flat.unsqueeze(1) + torch.arange(c, device=dev).view(1, c, 1, 1) * (h * w)       # [S, C, length, window]
    pixels = images.contiguous().view(-1)[flat] * valid.unsqueeze(1).to(images.dtype)
    return torch.cat([pixels, valid.unsqueeze(1).to(images.dtype)], 1)


def _unmeasured(scores: Tensor) -> Tensor:
    """``border`` of boxes the refiner left alone: NaN, one per box."""
    return torch.full_like(scores, float("nan"), dtype=torch.float32)


class EdgeRefiner(nn.Module):
    """Border-probability refiner of box sides; see the module docstring.

    num_classes: the detection classes, background included (the type bias has a row per class).
    window: strip width across the side (the search range is +- window / 2 px); length: along it.
    """

    def __init__(self, num_classes: int, window: int = 48, length: int = 24, channels: int = 32,
                 windows: int = 3, jitter_sd: float = 4.0, strips_per_box: int = 1, passes: int = 1,
                 min_score: float = 0.1, nms_iou: Optional[float] = 0.45) -> None:
        super().__init__()
        if window < 8 or window % 2 or length < 4 or length % 4:
            raise ParameterError(f"edge refiner: window must be even and >= 8, length a multiple of 4 >= 4; got "
                                 f"window {window}, length {length}")
        self.window, self.length, self.windows = int(window), int(length), int(windows)
        self.jitter_sd, self.strips_per_box, self.passes = float(jitter_sd), int(strips_per_box), int(passes)
        self.min_score = float(min_score)
        self.nms_iou = None if nms_iou is None else float(nms_iou)
        c = int(channels)
        self.stem = _conv(4, c)
        self.type_bias = nn.Embedding(int(num_classes), c)
        nn.init.zeros_(self.type_bias.weight)
        self.body = nn.Sequential(_conv(c, c, (2, 1)), _conv(c, c), _conv(c, c, (2, 1)))
        self.profile = nn.Sequential(_conv1d(c, c, 1), _conv1d(c, c, 2), _conv1d(c, c, 4))
        self.border = nn.Conv1d(c, 1, 3, 1, 1)

    def forward(self, strips: Tensor, labels: Tensor) -> Tensor:
        """strips Tensor[S, 4, length, window] (image values in [0, 1]), labels int64 Tensor[S] -> logits Tensor[S, window]."""
        x = torch.cat([(strips[:, :3] - 0.5) * 4.0, strips[:, 3:]], 1)
        x = self.stem(x) + self.type_bias(labels).view(labels.numel(), -1, 1, 1)
        x = self.body(x).mean(2)                          # [S, C, window]: the mean over the side's length
        return self.border(self.profile(x)).squeeze(1)

    # -- which strips ---------------------------------------------------------------------------------------------
    @staticmethod
    def _sides(boxes: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(edge coordinate, along-side start, along-side end) Tensor[B, 4] each for boxes Tensor[B, 4]."""
        x0, y0, x1, y1 = boxes.unbind(1)
        edge = torch.stack([x0, y0, x1, y1], 1)
        start = torch.stack([y0, x0, y0, x0], 1)
        end = torch.stack([y1, x1, y1, x1], 1)
        return edge, start, end

    # -- inference ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def refine(self, images: Tensor, detections: List[Dict[str, Tensor]]) -> List[Dict[str, Tensor]]:
        """The detections with the sides of every box scored >= ``min_score`` moved to their most likely border
        (``passes`` times: each pass searches +- window / 2 around the last), then class-wise NMS at ``nms_iou``
        again (two boxes of one region may now coincide; None: no second NMS). images float Tensor[N, 3, H, W]
        in [0, 1]; detections as the SSD head's postprocess gives them (scores in descending order). Each dict
        gains ``border`` Tensor[D]: the mean over the box's sides of the chosen border's probability (how sharp a
        border the refiner saw; NaN for boxes left alone)."""
        picked = [d["scores"] >= self.min_score for d in detections]
        counts = [int(p.sum()) for p in picked]
        if sum(counts) == 0:
            return [{**d, "border": _unmeasured(d["scores"])} for d in detections]
        boxes = torch.cat([d["boxes"][p] for d, p in zip(detections, picked)]).float()
        labels = torch.cat([d["labels"][p] for d, p in zip(detections, picked)]).to(images.device)
        index = torch.repeat_interleave(torch.arange(len(detections), device=images.device),
                                        torch.tensor(counts, device=images.device))
        for _ in range(self.passes):
            boxes, sharp = self._refine_once(images, boxes, labels, index)
        out, at = [], 0
        for d, p, c in zip(detections, picked, counts):
            moved = d["boxes"].clone()
            moved[p] = boxes[at:at + c].to(moved.dtype)
            border = _unmeasured(d["scores"])
            border[p] = sharp[at:at + c]
            at += c
            result = {**d, "boxes": moved, "border": border}
            if self.nms_iou is not None and c > 1:
                from ...ops.nms import batched_nms

                keep = batched_nms(moved.float(), d["scores"].float(), d["labels"], self.nms_iou)
                result = {k: v[keep] for k, v in result.items()}
            out.append(result)
        return out

    def _refine_once(self, images: Tensor, boxes: Tensor, labels: Tensor, index: Tensor) -> Tuple[Tensor, Tensor]:
        """boxes float Tensor[B, 4] of images[index] -> (the moved boxes (a box that would invert is kept), the
        mean over its sides of the chosen border's probability Tensor[B])."""
        h, w = images.shape[-2:]
        b = boxes.shape[0]
        edge, start, end = self._sides(boxes)
        k = self.windows
        frac = (torch.arange(k, device=images.device, dtype=torch.float32) + 0.5) / k     # places along the side
        span = (end - start).clamp(min=1)
        centre = start.unsqueeze(-1) + 0.2 * span.unsqueeze(-1) + 0.6 * span.unsqueeze(-1) * frac   # [B, 4, k]
        e = edge.round().long()
        shape = (b, SIDES, k)
        side = torch.arange(SIDES, device=images.device).view(1, SIDES, 1).expand(shape)
        strips = cut_strips(images.float(), index.view(b, 1, 1).expand(shape).reshape(-1), side.reshape(-1),
                            e.unsqueeze(-1).expand(shape).reshape(-1), centre.round().long().reshape(-1),
                            self.length, self.window)
        logits = self(strips.to(images.dtype), labels.view(b, 1, 1).expand(shape).reshape(-1)).float()
        votes = logits.log_softmax(-1).view(b, SIDES, k, self.window).sum(2)             # [B, 4, window]
        j = votes.argmax(-1)                                                              # first inside column
        half = self.window // 2
        first = torch.tensor([True, True, False, False], device=images.device)
        moved = torch.where(first, e - half + j, e + half - j).float()
        limit = torch.tensor([w, h, w, h], device=images.device, dtype=torch.float32)
        moved = torch.minimum(moved.clamp(min=0), limit)
        ok = (moved[:, 2] - moved[:, 0] >= 2) & (moved[:, 3] - moved[:, 1] >= 2)
        sharp = votes.softmax(-1).amax(-1).mean(1)
        return torch.where(ok.unsqueeze(1), moved, boxes), sharp

    # -- training -------------------------------------------------------------------------------------------------
    def loss(self, images: Tensor, targets: Sequence[Dict[str, Tensor]],
             generator: Optional[torch.Generator] = None) -> Tensor:
        """Cross-entropy of the true border's column, on strips cut at randomly moved ground-truth sides."""
        dev = images.device
        boxes = [t["boxes"].to(dev, torch.float32).reshape(-1, 4) for t in targets]
        labels = [t["labels"].to(dev, torch.int64).reshape(-1) for t in targets]
        counts = torch.tensor([bx.shape[0] for bx in boxes], device=dev)
        if int(counts.sum()) == 0:
            return images.sum() * 0 + sum(p.sum() for p in self.parameters()) * 0
        r = self.strips_per_box
        gt = torch.cat(boxes).repeat_interleave(r, 0)
        lab = torch.cat(labels).repeat_interleave(r, 0)
        index = torch.repeat_interleave(torch.arange(len(targets), device=dev), counts).repeat_interleave(r, 0)
        b = gt.shape[0]
        edge, start, end = self._sides(gt)
        half = self.window // 2
        rand = lambda *shape: torch.rand(*shape, generator=generator).to(dev)  # noqa: E731
        wide = (rand(b, SIDES) * 2 - 1) * (half - 2)
        near = (torch.randn(b, SIDES, generator=generator).to(dev) * self.jitter_sd).clamp(-(half - 2), half - 2)
        offset = torch.where(rand(b, SIDES) < 0.5, wide, near).round()
        guess = edge + offset
        centre = start + (0.1 + 0.8 * rand(b, SIDES)) * (end - start)
        side = torch.arange(SIDES, device=dev).view(1, SIDES).expand(b, SIDES)
        strips = cut_strips(images.float(), index.view(b, 1).expand(b, SIDES).reshape(-1), side.reshape(-1),
                            guess.long().reshape(-1), centre.round().long().reshape(-1), self.length, self.window)
        first = (side < 2)
        target = torch.where(first, edge - guess + half, guess + half - edge).round().long()
        logits = self(strips, lab.view(b, 1).expand(b, SIDES).reshape(-1)).float()
        return F.cross_entropy(logits, target.reshape(-1).clamp(0, self.window - 1))
