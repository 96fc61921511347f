"""Box utilities of the SSD detection head: default boxes, box coding and ground-truth matching.

The post-processing ops (batched NMS, fused decode + NMS) live in :mod:`distortx.ops.nms` and
:mod:`distortx.ops.ssd_postprocess`.
"""
from .coder import LOG_SCALE_CLAMP, SSD_VARIANCES, cxcywh_to_xyxy, decode, encode, xyxy_to_cxcywh
from .matching import BACKGROUND, assign_targets, box_area, box_iou, match
from .priors import SSD300, SSD512, PriorConfig, default_boxes, ssd_config

__all__ = [
    "BACKGROUND", "LOG_SCALE_CLAMP", "SSD300", "SSD512", "SSD_VARIANCES", "PriorConfig", "assign_targets",
    "box_area", "box_iou", "cxcywh_to_xyxy", "decode", "default_boxes", "encode", "match", "ssd_config",
    "xyxy_to_cxcywh",
]
