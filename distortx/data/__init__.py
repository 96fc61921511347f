"""Image sources, dataset synthesis, writers and torch Datasets."""
from .preset import PresetSpec


def __getattr__(name):  # lazy: importing the plugin manager must not pull in the whole data pipeline
    if name == "generate":
        from .generate import generate

        return generate
    if name == "merge":
        from .merge import merge

        return merge
    if name == "DistortionDataset":
        from .datasets import DistortionDataset

        return DistortionDataset
    if name == "SynthesisStream":
        from .stream import SynthesisStream

        return SynthesisStream
    raise AttributeError(name)


__all__ = ["DistortionDataset", "PresetSpec", "SynthesisStream", "generate", "merge"]
