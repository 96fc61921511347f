"""Fake (meta) kernels of the native ops, in one place: the shapes and dtypes each op returns, so that
``torch.compile`` and ``torch.library.opcheck`` can trace them without running them. Registered on import
(``distortx.ops`` imports this module) when the extension is built.
"""
from __future__ import annotations

import torch

from .._ext import native_available


def _has(op: str) -> bool:
    return native_available() and hasattr(torch.ops.distortx, op)


if _has("distort"):
    @torch.library.register_fake("distortx::distort")
    def _distort_fake(images, codes, values, boxes, seeds):
        """images float Tensor[N, C, H, W] -> a tensor like it."""
        torch._check(images.dim() == 4, lambda: "images must be Tensor[N, C, H, W]")
        return torch.empty_like(images)


if _has("batched_nms"):
    @torch.library.register_fake("distortx::batched_nms")
    def _batched_nms_fake(boxes, scores, idxs, iou_threshold):
        """boxes Tensor[K, 4] -> kept indices int64 Tensor[k] (k data-dependent)."""
        torch._check(boxes.dim() == 2 and boxes.shape[1] == 4)
        n = torch.library.get_ctx().new_dynamic_size()
        return boxes.new_empty((n,), dtype=torch.int64)


if _has("ssd_postprocess"):
    @torch.library.register_fake("distortx::ssd_postprocess")
    def _ssd_postprocess_fake(loc, scores, priors, variances, score_threshold, iou_threshold, topk_per_class,
                              max_detections, apply_softmax, background_class=0):
        """loc Tensor[B, P, 4] -> boxes [B, D, 4], scores [B, D], labels int64 [B, D], counts int64 [B]."""
        B = loc.shape[0]
        return (
            loc.new_empty((B, max_detections, 4)),
            loc.new_empty((B, max_detections)),
            loc.new_empty((B, max_detections), dtype=torch.int64),
            loc.new_empty((B,), dtype=torch.int64),
        )
