"""Image sources, dataset synthesis, writers and torch Datasets.

``generate_dataset`` (= :func:`distortx.data.generate.generate`), ``merge_shards``
(= :func:`distortx.data.merge.merge`), :class:`DistortionDataset` and :class:`SynthesisStream` are loaded
lazily: importing the plugin manager must not pull in the whole data pipeline.
"""
from .preset import PresetSpec

_LAZY = {
    "generate_dataset": ("generate", "generate"),
    "merge_shards": ("merge", "merge"),
    "DistortionDataset": ("datasets", "DistortionDataset"),
    "SynthesisStream": ("stream", "SynthesisStream"),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'distortx.data' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(f".{module}", __name__), attr)


__all__ = ["DistortionDataset", "PresetSpec", "SynthesisStream", "generate_dataset", "merge_shards"]
