"""SSD's MultiBox loss (Liu et al. 2016, eq. 1-3) with hard negative mining.

Per image the priors are matched to the ground truth (:func:`distortx.detection.assign_targets`: IoU >= 0.5,
plus every ground truth's best prior). Then

    L = (L_loc + L_conf) / N_pos,
    L_loc  = sum over positives of smooth-L1(loc, encoded target)          (beta 1, the 4 coordinates summed)
    L_conf = sum over positives and mined negatives of cross-entropy(conf, label)

where the mined negatives of an image are its ``neg_pos_ratio * n_pos`` background priors (3:1) with the
highest background cross-entropy (all of them when there are fewer), and N_pos counts the positives of the
whole batch (at least 1). An image without ground truth has no positives and so contributes nothing.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...detection.coder import SSD_VARIANCES, cxcywh_to_xyxy, encode
from ...detection.matching import BACKGROUND, box_iou
from ...errors import ParameterError


def hard_negative_mask(neg_loss: Tensor, positive: Tensor, neg_pos_ratio: float = 3.0) -> Tensor:
    """bool Tensor[N, P]: per image, the ``floor(neg_pos_ratio * n_pos)`` non-positive priors with the largest
    ``neg_loss`` (all non-positive priors if there are fewer); ties go to the lower prior index.

    neg_loss float Tensor[N, P] (the background cross-entropy), positive bool Tensor[N, P].
    """
    num_neg = (positive.sum(1, keepdim=True).to(torch.float64) * float(neg_pos_ratio)).floor().to(torch.int64)
    loss = neg_loss.detach().masked_fill(positive, float("-inf"))
    order = loss.sort(dim=1, descending=True, stable=True).indices
    rank = order.argsort(1)
    return (rank < num_neg) & ~positive


def _batched_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU Tensor[N, G, P] of xyxy boxes a [N, G, 4] and b [P, 4]: :func:`distortx.detection.box_iou` batched
    over images (not another definition)."""
    N, G = a.shape[0], a.shape[1]
    return box_iou(a.reshape(N * G, 4), b).reshape(N, G, b.shape[0])


class MultiBoxLoss(nn.Module):
    """forward(loc [N, P, 4], conf [N, P, K], priors [P, 4] (cx, cy, w, h), gt_boxes: N x Tensor[G, 4] xyxy in
    the priors' units, gt_labels: N x int64 Tensor[G] in 1..K-1) -> (loc loss, conf loss), each / N_pos."""

    def __init__(self, neg_pos_ratio: float = 3.0, iou_threshold: float = 0.5,
                 variances: Sequence[float] = SSD_VARIANCES) -> None:
        super().__init__()
        if not neg_pos_ratio >= 0:
            raise ParameterError(f"MultiBoxLoss: neg_pos_ratio must be >= 0, got {neg_pos_ratio}")
        self.neg_pos_ratio, self.iou_threshold = float(neg_pos_ratio), float(iou_threshold)
        self.variances = tuple(float(v) for v in variances)

    def targets(self, priors: Tensor, gt_boxes: Sequence[Tensor], gt_labels: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Encoded regression targets Tensor[N, P, 4] and labels int64 Tensor[N, P] (0 = background).

        All images at once (ground truths padded to the largest count), with exactly the rules and tie-breaks
        of :func:`distortx.detection.match` / :func:`~distortx.detection.assign_targets` per image.
        """
        n, p, device = len(gt_boxes), priors.shape[0], priors.device
        g = max([int(b.shape[0]) for b in gt_boxes] + [1])
        boxes = torch.zeros(n, g, 4, device=device)
        labels = torch.zeros(n, g, dtype=torch.int64, device=device)
        valid = torch.zeros(n, g, dtype=torch.bool, device=device)
        for i, (b, lab) in enumerate(zip(gt_boxes, gt_labels)):
            k = int(b.shape[0])
            boxes[i, :k], labels[i, :k], valid[i, :k] = b.reshape(k, 4), lab.reshape(k), True
        if not bool(torch.isfinite(boxes).all()):
            raise ParameterError("MultiBoxLoss: ground-truth boxes must be finite")
        iou = _batched_iou(boxes, cxcywh_to_xyxy(priors))  # [N, G, P]
        iou = iou.masked_fill(~valid[..., None], -1.0)      # padding never matches
        best_iou, best_gt = iou.max(1)                       # per prior: lowest gt index on ties
        matched = torch.where(best_iou >= self.iou_threshold, best_gt, torch.full_like(best_gt, BACKGROUND))
        gt_best_iou, best_prior = iou.max(2)                 # per gt: lowest prior index on ties
        ok = valid & (gt_best_iou > 0)
        forced = torch.full((n, p + 1), BACKGROUND, dtype=torch.int64, device=device)  # column p: discarded
        gts = torch.arange(g, device=device).expand(n, g)
        forced.scatter_reduce_(1, torch.where(ok, best_prior, torch.full_like(best_prior, p)), gts, reduce="amax")
        idx = torch.where(forced[:, :p] >= 0, forced[:, :p], matched)  # [N, P]
        fg = idx >= 0
        safe = idx.clamp(min=0)
        cls = torch.where(fg, labels.gather(1, safe), torch.zeros_like(safe))
        matched_boxes = boxes.gather(1, safe[..., None].expand(n, p, 4))
        loc = encode(matched_boxes, priors, self.variances)
        return torch.where(fg[..., None], loc, torch.zeros_like(loc)), cls

    def forward(self, loc: Tensor, conf: Tensor, priors: Tensor, gt_boxes: Sequence[Tensor],
                gt_labels: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        n, p, k = conf.shape
        if loc.shape != (n, p, 4) or priors.shape != (p, 4) or len(gt_boxes) != n or len(gt_labels) != n:
            raise ParameterError(f"MultiBoxLoss: need loc [N, P, 4], conf [N, P, K], priors [P, 4] and N targets; got "
                                 f"{tuple(loc.shape)}, {tuple(conf.shape)}, {tuple(priors.shape)}, {len(gt_boxes)}")
        priors = priors.to(loc.device, torch.float32)
        loc_t, labels = self.targets(priors, gt_boxes, gt_labels)
        positive = labels > 0
        norm = positive.sum().clamp(min=1).to(torch.float32)
        loc_loss = F.smooth_l1_loss(loc.float()[positive], loc_t[positive], reduction="sum", beta=1.0)
        ce = F.cross_entropy(conf.float().reshape(-1, k), labels.reshape(-1), reduction="none").view(n, p)
        keep = positive | hard_negative_mask(ce, positive, self.neg_pos_ratio)
        conf_loss = ce[keep].sum()
        return loc_loss / norm, conf_loss / norm
