"""Fused SSD post-processing: ``torch.ops.distortx.ssd_postprocess`` and its pure-PyTorch twin.

One call turns the raw SSD head outputs of a batch into detections (the procedure of Liu et al. 2016 and
torchvision's ``SSD.postprocess_detections``):

1. decode every prior's regression into an xyxy box (:func:`distortx.detection.coder.decode`, variances and
   the log(1000/16) clamp of the log-scale);
2. optionally softmax the class logits of every prior (in float64, rounded once to float32);
3. for every class except ``background_class`` (-1: none): the candidates are the priors with
   score > ``score_threshold``; keep the ``topk_per_class`` best by (score desc, prior asc);
4. greedy NMS inside the class (IoU > ``iou_threshold`` suppresses, as :mod:`distortx.ops.nms`);
5. merge the classes, order by (score desc, class asc, prior asc) and keep ``max_detections`` per image.

Outputs have static shapes (EfficientNMS style), so the op can run inside a captured CUDA graph:
``boxes`` float32 [B, M, 4] xyxy, ``scores`` float32 [B, M], ``labels`` int64 [B, M] (class index in the
K score columns), ``counts`` int64 [B]; slots ``>= counts[b]`` hold boxes 0, scores 0 and labels -1.

Non-finite inputs never crash: a prior whose decoded box has a non-finite coordinate, or (with softmax) a
non-finite logit, gets NaN scores, and NaN is never above the threshold, so it is dropped; without softmax a
NaN score is dropped the same way (+inf is an ordinary, highest score). Thresholds are rounded to float32.
Boxes are not clipped to the image. Inputs are computed in float32.

Paths (``impl``): "native" = C++/OpenMP (``csrc/boxes/ssd_postprocess_cpu.cpp``) or CUDA (three kernels, no
host synchronisation); "python" = :func:`ssd_postprocess_reference` (vectorised over images and classes);
"auto" = native when the loaded extension has a kernel for the device. All paths return identical results.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch import Tensor

from ..detection.coder import SSD_VARIANCES, decode
from ..errors import ParameterError
from .nms import pairwise_iou, resolve_box_impl


_GREEDY_ELEMS = 1 << 24  # IoU matrix elements per chunk of (image, class) groups in the reference


class Detections(NamedTuple):
    """Padded detections of a batch: boxes [B, M, 4], scores [B, M], labels [B, M] (-1 = empty), counts [B]."""

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    counts: Tensor


def _check(loc, scores, priors, variances, score_threshold, iou_threshold, topk_per_class, max_detections,
           background_class) -> None:
    if loc.dim() != 3 or loc.shape[2] != 4:
        raise ParameterError(f"ssd_postprocess: loc must be [B, P, 4], got {tuple(loc.shape)}")
    if scores.dim() != 3 or scores.shape[:2] != loc.shape[:2]:
        raise ParameterError(f"ssd_postprocess: scores must be [B, P, K] with B, P of loc {tuple(loc.shape)}, got {tuple(scores.shape)}")
    if priors.shape != (loc.shape[1], 4):
        raise ParameterError(f"ssd_postprocess: priors must be [P, 4] = [{loc.shape[1]}, 4] (cx, cy, w, h), got {tuple(priors.shape)}")
    if len(variances) != 2 or not all(math.isfinite(v) and v > 0 for v in variances):
        raise ParameterError(f"ssd_postprocess: variances must be two positive numbers, got {tuple(variances)}")
    if math.isnan(score_threshold) or math.isnan(iou_threshold):
        raise ParameterError("ssd_postprocess: thresholds must not be NaN")
    if topk_per_class < 1 or max_detections < 0:
        raise ParameterError(f"ssd_postprocess: need topk_per_class >= 1 and max_detections >= 0, got {topk_per_class}, {max_detections}")
    if not -1 <= background_class < max(scores.shape[2], 1):
        raise ParameterError(f"ssd_postprocess: background_class must be -1 (none) or < K = {scores.shape[2]}, got {background_class}")


def _empty(B: int, M: int, device) -> Detections:
    return Detections(
        torch.zeros(B, M, 4, device=device),
        torch.zeros(B, M, device=device),
        torch.full((B, M), -1, dtype=torch.int64, device=device),
        torch.zeros(B, dtype=torch.int64, device=device),
    )


def class_scores(scores: Tensor, apply_softmax: bool) -> Tensor:
    """Per-class scores [B, P, K] as the native kernels compute them (softmax in float64, NaN rows if not finite)."""
    if not apply_softmax:
        return scores
    x = scores.double()
    e = torch.exp(x - x.amax(-1, keepdim=True))
    p = (e / e.sum(-1, keepdim=True)).float()
    return torch.where(torch.isfinite(x).all(-1, keepdim=True), p, torch.full_like(p, float("nan")))


def ssd_postprocess_reference(
    loc: Tensor,
    scores: Tensor,
    priors: Tensor,
    variances: Sequence[float] = SSD_VARIANCES,
    score_threshold: float = 0.01,
    iou_threshold: float = 0.45,
    topk_per_class: int = 200,
    max_detections: int = 200,
    apply_softmax: bool = True,
    background_class: int = 0,
) -> Detections:
    """Pure-PyTorch SSD post-processing with the semantics in the module docstring (any device)."""
    _check(loc, scores, priors, variances, score_threshold, iou_threshold, topk_per_class, max_detections,
           background_class)
    B, P, K = scores.shape
    M = int(max_detections)
    device = loc.device
    out = _empty(B, M, device)
    classes = [c for c in range(K) if c != background_class]
    if B == 0 or P == 0 or not classes or M == 0:
        return out
    loc, scores, priors = loc.float(), scores.float(), priors.float().to(device)
    boxes = decode(loc, priors, variances)  # [B, P, 4]
    prob = class_scores(scores, apply_softmax)
    prob = torch.where(torch.isfinite(boxes).all(-1, keepdim=True), prob, torch.full_like(prob, float("nan")))
    cls = torch.tensor(classes, dtype=torch.int64, device=device)
    C = len(classes)
    s = prob.index_select(2, cls).transpose(1, 2)  # [B, C, P]
    cand = s > score_threshold  # NaN is never a candidate
    # per class: candidates by (score desc, prior asc); no more columns than the largest candidate count
    T = min(int(topk_per_class), P, int(cand.sum(-1).max()))
    if T == 0:
        return out
    sorted_s, order = torch.sort(torch.where(cand, s, torch.full_like(s, -math.inf)), dim=-1, descending=True,
                                 stable=True)
    sel_s, sel_p = sorted_s[..., :T], order[..., :T]  # [B, C, T]
    sel_ok = cand.gather(-1, sel_p)
    bx = torch.gather(boxes[:, None].expand(B, C, P, 4), 2, sel_p[..., None].expand(B, C, T, 4))

    # greedy NMS of many (image, class) groups at once: row i suppresses j > i if i is still alive
    upper = torch.ones(T, T, dtype=torch.bool, device=device).triu(1)
    bx, supp = bx.reshape(B * C, T, 4), ~sel_ok.reshape(B * C, T)
    # (chunks of <= 32k flags keep each step of the loop below single-threaded: no thread wake-ups per step)
    chunk = max(1, min(_GREEDY_ELEMS // (T * T), 32768 // T))
    for g in range(0, B * C, chunk):
        over = (pairwise_iou(bx[g:g + chunk], bx[g:g + chunk]) > iou_threshold) & upper
        sp = supp[g:g + chunk]
        for i in range(T):
            sp |= ~sp[:, i:i + 1] & over[:, i, :]
    kept = ~supp.reshape(B, C, T)

    # merge classes: stable sort keeps (class asc, prior asc) among equal scores; kept scores are > -inf
    flat = torch.where(kept, sel_s, torch.full_like(sel_s, -math.inf)).reshape(B, C * T)
    fs, fo = torch.sort(flat, dim=1, descending=True, stable=True)
    take = min(M, C * T)
    fs, fo = fs[:, :take], fo[:, :take]
    valid = kept.reshape(B, C * T).gather(1, fo)
    prior_idx = sel_p.reshape(B, C * T).gather(1, fo)
    det_boxes = torch.gather(boxes, 1, prior_idx[..., None].expand(B, take, 4))
    out.boxes[:, :take] = torch.where(valid[..., None], det_boxes, torch.zeros_like(det_boxes))
    out.scores[:, :take] = torch.where(valid, fs, torch.zeros_like(fs))
    out.labels[:, :take] = torch.where(valid, cls[fo // T], torch.full_like(fo, -1))
    out.counts.copy_(valid.sum(1))
    return out


def ssd_postprocess(
    loc: Tensor,
    scores: Tensor,
    priors: Tensor,
    variances: Sequence[float] = SSD_VARIANCES,
    score_threshold: float = 0.01,
    iou_threshold: float = 0.45,
    topk_per_class: int = 200,
    max_detections: int = 200,
    apply_softmax: bool = True,
    background_class: int = 0,
    *,
    impl: str = "auto",
) -> Detections:
    """Decode + (softmax) + per-class threshold, top-k and NMS + per-image cap; see the module docstring.

    loc float Tensor[B, P, 4] (regressions), scores float Tensor[B, P, K] (logits if ``apply_softmax``,
    else probabilities), priors float Tensor[P, 4] (cx, cy, w, h). Returns :class:`Detections`.
    """
    variances = tuple(float(v) for v in variances)
    _check(loc, scores, priors, variances, score_threshold, iou_threshold, topk_per_class, max_detections,
           background_class)
    mode = resolve_box_impl(impl, "ssd_postprocess", "ssd_postprocess", loc.device)
    args = (variances, float(score_threshold), float(iou_threshold), int(topk_per_class), int(max_detections),
            bool(apply_softmax), int(background_class))
    if mode == "python":
        return ssd_postprocess_reference(loc, scores, priors, *args)
    out = torch.ops.distortx.ssd_postprocess(
        loc.float().contiguous(), scores.float().contiguous(), priors.to(loc.device).float().contiguous(), *args
    )
    return Detections(*out)
