"""SSD ground-truth matching (Liu et al. 2016, sec. 2.2 "Matching strategy").

Every prior is matched to the ground-truth box it overlaps most if that IoU is >= ``iou_threshold`` (0.5);
otherwise it is background. Then every ground truth is forced onto its best prior (highest IoU, lowest prior
index on ties), so each object gets at least one positive even when no prior reaches the threshold. When two
ground truths force the same prior, the later one (higher index) wins, as in the reference implementation's
loop. A ground truth that overlaps no prior at all (best IoU 0) is not forced (it would grab prior 0).
Ties in the per-prior maximum go to the lowest ground-truth index.

Pure functions of tensors; boxes are xyxy in the same units as the priors (normalised for SSD).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import Tensor

from ..errors import ParameterError
from .coder import SSD_VARIANCES, cxcywh_to_xyxy, encode

BACKGROUND = -1
"""Matched index of a prior that no ground truth claims."""


def box_area(boxes: Tensor) -> Tensor:
    """Areas Tensor[N] of xyxy boxes [N, 4]."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU matrix Tensor[N, M] of xyxy boxes a [N, 4] and b [M, 4] (0/0 -> NaN for two empty boxes):
    ``torchvision.ops.box_iou``, intersection / ((area a + area b) - intersection). Why this one: the IoU of
    training (SSD matching, MultiBoxLoss), torchvision's definition."""
    import torchvision  # imported on first use: it pulls in torch._dynamo (~1 s), which `import distortx` avoids

    return torchvision.ops.box_iou(a, b)


def match(gt_boxes: Tensor, priors_xyxy: Tensor, iou_threshold: float = 0.5) -> Tensor:
    """Matched ground-truth index per prior, Tensor[P] int64, :data:`BACKGROUND` (-1) for background.

    gt_boxes: Tensor[G, 4] xyxy (finite); priors_xyxy: Tensor[P, 4] xyxy.
    """
    if gt_boxes.dim() != 2 or gt_boxes.shape[-1] != 4 or priors_xyxy.dim() != 2 or priors_xyxy.shape[-1] != 4:
        raise ParameterError(f"match needs gt_boxes [G, 4] and priors [P, 4], got {tuple(gt_boxes.shape)} and {tuple(priors_xyxy.shape)}")
    if not bool(torch.isfinite(gt_boxes).all()):
        raise ParameterError("match: ground-truth boxes must be finite")
    P, G = priors_xyxy.shape[0], gt_boxes.shape[0]
    device = priors_xyxy.device
    if G == 0 or P == 0:
        return torch.full((P,), BACKGROUND, dtype=torch.int64, device=device)
    iou = box_iou(gt_boxes.to(priors_xyxy.dtype), priors_xyxy)  # [G, P]
    best_iou, best_gt = iou.max(0)  # first maximum: lowest gt index on ties
    matched = torch.where(best_iou >= iou_threshold, best_gt, torch.full_like(best_gt, BACKGROUND))
    gt_best_iou, best_prior = iou.max(1)  # lowest prior index on ties
    forced = torch.full((P,), BACKGROUND, dtype=torch.int64, device=device)
    ok = gt_best_iou > 0
    gts = torch.arange(G, device=device)
    forced.scatter_reduce_(0, best_prior[ok], gts[ok], reduce="amax")  # later gt wins a shared prior
    return torch.where(forced >= 0, forced, matched)


def assign_targets(
    gt_boxes: Tensor,
    gt_labels: Tensor,
    priors: Tensor,
    iou_threshold: float = 0.5,
    variances: Sequence[float] = SSD_VARIANCES,
) -> Tuple[Tensor, Tensor]:
    """Training targets for one image: (loc Tensor[P, 4], labels Tensor[P] int64).

    gt_boxes [G, 4] xyxy, gt_labels [G] int (>= 1; 0 is background), priors [P, 4] (cx, cy, w, h).
    Background priors get label 0 and zero regression targets.
    """
    idx = match(gt_boxes, cxcywh_to_xyxy(priors), iou_threshold)
    fg = idx >= 0
    safe = idx.clamp(min=0)
    if gt_boxes.shape[0] == 0:
        return torch.zeros_like(priors), torch.zeros(priors.shape[0], dtype=torch.int64, device=priors.device)
    labels = torch.where(fg, gt_labels.to(torch.int64)[safe], torch.zeros_like(safe))
    loc = encode(gt_boxes.to(priors.dtype)[safe], priors, variances)
    loc = torch.where(fg[:, None], loc, torch.zeros_like(loc))
    return loc, labels
