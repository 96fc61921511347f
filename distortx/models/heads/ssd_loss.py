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

from ...detection.coder import SSD_VARIANCES
from ...detection.matching import assign_targets
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
        """Encoded regression targets Tensor[N, P, 4] and labels int64 Tensor[N, P] (0 = background)."""
        pairs = [assign_targets(b.to(priors), l, priors, self.iou_threshold, self.variances)
                 for b, l in zip(gt_boxes, gt_labels)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

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
