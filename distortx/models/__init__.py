"""Models assembled from registered backbones and heads (see :mod:`distortx.models.spec`)."""
from .spec import BackboneSpec, HeadSpec

__all__ = ["BackboneSpec", "HeadSpec"]
