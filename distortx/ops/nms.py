"""Per-class (batched) non-maximum suppression: ``torch.ops.distortx.batched_nms`` and its pure-PyTorch twin.

Semantics (the native CPU/CUDA kernels in ``csrc/boxes/`` and :func:`batched_nms_reference` agree exactly):

* A box takes part if its four coordinates are finite and its score is not NaN; other boxes are dropped
  (never kept, never suppress). +-inf scores are ordinary (they sort first / last).
* Within each class (``idxs`` value), boxes are visited by (score desc, index asc); a box is kept unless an
  already kept box of its class overlaps it with IoU > ``iou_threshold`` (strictly greater).
* IoU = inter / ((area_a + area_b) - inter) in float32, area = (x2 - x1)(y2 - y1); the threshold is rounded
  to float32 and compared in float32 (as a float32 tensor compares with a Python float). Two empty boxes
  have IoU 0/0 = NaN and never suppress each other. Boxes are xyxy; inputs are computed in float32.
* Returns int64 indices of the kept boxes sorted by (score desc, index asc).

This equals ``torchvision.ops.batched_nms`` up to the order of exactly tied scores (torchvision's order of
ties is unspecified) and up to float rounding for IoUs within ~1e-7 of the threshold (torchvision offsets the
boxes of each class by a per-class coordinate shift).

The CUDA kernel is bitmask style: boxes sorted by (class, score) are cut into 64-box tiles; a kernel writes,
for every box, 64-bit words "later boxes of my class that I overlap"; one thread block then walks the words
in order on the device (no host round trip per box). Memory: N * ceil(N / 64) * 8 bytes of mask.
"""
from __future__ import annotations


import torch
from torch import Tensor

from .._ext import resolve_impl
from ..errors import ParameterError

_BLOCK = 256  # boxes resolved at a time by the reference


# -- native availability --------------------------------------------------------------------------------------
def resolve_box_impl(impl: str, what: str, name: str, device: torch.device) -> str:
    """impl="auto"|"native"|"python" -> "native" or "python" for op ``distortx::name`` on ``device``."""
    return resolve_impl(impl, what, device, op=name)


# -- reference ----------------------------------------------------------------------------------------------
def pairwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU Tensor[..., N, M] of xyxy boxes a [..., N, 4] and b [..., M, 4], in the native kernels' op order.
    Why its own: NMS's reference must round exactly as box_math.h does, so native == python bit for bit."""
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    lt_x = torch.maximum(a[..., :, None, 0], b[..., None, :, 0])
    lt_y = torch.maximum(a[..., :, None, 1], b[..., None, :, 1])
    rb_x = torch.minimum(a[..., :, None, 2], b[..., None, :, 2])
    rb_y = torch.minimum(a[..., :, None, 3], b[..., None, :, 3])
    inter = (rb_x - lt_x).clamp(min=0) * (rb_y - lt_y).clamp(min=0)
    return inter / ((area_a[..., :, None] + area_b[..., None, :]) - inter)


def greedy_keep(boxes: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS of one class: bool Tensor[n] of kept boxes, ``boxes`` [n, 4] already sorted by priority.

    Blocks of boxes are checked against all kept boxes of earlier blocks, then resolved inside the block
    by fixed-point iteration of keep[i] = alive[i] and no kept j < i overlaps i (the unique solution of
    that recursion is the greedy result; Jacobi iteration reaches it in at most block-size steps).
    """
    n = boxes.shape[0]
    keep = torch.zeros(n, dtype=torch.bool, device=boxes.device)
    kept = boxes[:0]
    for s in range(0, n, _BLOCK):
        blk = boxes[s:s + _BLOCK]
        alive = torch.ones(blk.shape[0], dtype=torch.bool, device=boxes.device)
        if kept.shape[0]:
            alive = ~(pairwise_iou(kept, blk) > iou_threshold).any(0)
        over = (pairwise_iou(blk, blk) > iou_threshold).triu(1)  # over[j, i]: j (earlier) overlaps i
        k = alive
        while True:
            new = alive & ~(over & k[:, None]).any(0)
            if torch.equal(new, k):
                break
            k = new
        keep[s:s + blk.shape[0]] = k
        kept = torch.cat([kept, blk[k]])
    return keep


def _check(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ParameterError(f"batched_nms: boxes must be [N, 4] (x1, y1, x2, y2), got {tuple(boxes.shape)}")
    n = boxes.shape[0]
    if scores.shape != (n,) or idxs.shape != (n,):
        raise ParameterError(f"batched_nms: scores and idxs must be [N] = [{n}], got {tuple(scores.shape)} and {tuple(idxs.shape)}")
    if not (boxes.is_floating_point() and scores.is_floating_point()) or idxs.is_floating_point() or idxs.is_complex():
        raise ParameterError("batched_nms: boxes and scores must be floating point and idxs integer")
    if iou_threshold != iou_threshold:
        raise ParameterError("batched_nms: iou_threshold is NaN")


def batched_nms_reference(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """Pure-PyTorch batched NMS with the semantics in the module docstring (any device)."""
    _check(boxes, scores, idxs, iou_threshold)
    boxes, scores, idxs = boxes.float(), scores.float(), idxs.long()
    valid = torch.isfinite(boxes).all(1) & ~torch.isnan(scores)
    order = valid.nonzero().squeeze(1)
    order = order[torch.sort(scores[order], descending=True, stable=True).indices]
    order = order[torch.sort(idxs[order], stable=True).indices]
    if order.numel() == 0:
        return order
    _, counts = torch.unique_consecutive(idxs[order], return_counts=True)
    kept, start = [], 0
    for c in counts.tolist():
        seg = order[start:start + c]
        start += c
        kept.append(seg[greedy_keep(boxes[seg], iou_threshold)])
    keep = torch.sort(torch.cat(kept)).values
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]


# -- public face --------------------------------------------------------------------------------------------
def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float, *, impl: str = "auto") -> Tensor:
    """Per-class NMS: int64 indices of the kept boxes, sorted by (score desc, index asc).

    boxes Tensor[N, 4] xyxy, scores Tensor[N], idxs Tensor[N] integer class (or image*classes+class) ids.
    ``impl``: "native" (C++/OpenMP on CPU, CUDA kernels on GPU), "python" (reference) or "auto".
    """
    _check(boxes, scores, idxs, iou_threshold)
    mode = resolve_box_impl(impl, "batched_nms", "batched_nms", boxes.device)
    if mode == "python":
        return batched_nms_reference(boxes, scores, idxs, iou_threshold)
    return torch.ops.distortx.batched_nms(
        boxes.float().contiguous(), scores.float().contiguous(), idxs.long().contiguous(), float(iou_threshold)
    )


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, *, impl: str = "auto") -> Tensor:
    """Single-class NMS (:func:`batched_nms` with one class)."""
    idxs = torch.zeros(boxes.shape[0], dtype=torch.int64, device=boxes.device)
    return batched_nms(boxes, scores, idxs, iou_threshold, impl=impl)
