"""Built-in heads: ``classifier`` (global pool + FC), ``pyramid_classifier`` (texture statistics of every map +
MLP) and ``ssd`` (extra layers, multibox convolutions, default
boxes, MultiBoxLoss, fused post-processing)."""
from .classifier import classifier
from .pyramid_classifier import PyramidClassifier, pyramid_classifier
from .ssd import SSDHead, ssd
from .ssd_loss import MultiBoxLoss, hard_negative_mask

__all__ = ["MultiBoxLoss", "PyramidClassifier", "SSDHead", "classifier", "hard_negative_mask",
           "pyramid_classifier", "ssd"]
