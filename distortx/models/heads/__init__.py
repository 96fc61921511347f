"""Built-in heads: ``classifier`` (global pool + FC) and ``ssd`` (extra layers, multibox convolutions, default
boxes, MultiBoxLoss, fused post-processing)."""
from .classifier import classifier
from .ssd import SSDHead, ssd
from .ssd_loss import MultiBoxLoss, hard_negative_mask

__all__ = ["MultiBoxLoss", "SSDHead", "classifier", "hard_negative_mask", "ssd"]
