"""Image sources, dataset synthesis, writers and torch Datasets."""
from .preset import PresetSpec

__all__ = ["PresetSpec"]
