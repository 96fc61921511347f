"""ImageNet-C's benchmark protocol: the presets that sweep the family, and AlexNet's published errors, the
baseline of the corruption error (Hendrycks & Dietterich 2019, Sec. 4): CE_c = sum_s E_{s,c} / sum_s E^AlexNet_{s,c},
mCE = mean over the 15 common corruptions; relative CE uses the clean errors too."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from ..data.preset import PresetSpec
from .constants import SUBSETS

#: AlexNet's top-1 error on ImageNet-C per common corruption, averaged over the 5 severities (the values the
#: authors' evaluation code and later papers normalise by; CE only needs the sum over severities = 5 x these)
ALEXNET_ERRORS: Dict[str, float] = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640, "defocus_blur": 0.819880,
    "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360, "snow": 0.866816, "frost": 0.826572,
    "fog": 0.819324, "brightness": 0.564592, "contrast": 0.853204, "elastic_transform": 0.646056,
    "pixelate": 0.717840, "jpeg_compression": 0.606500,
}
#: AlexNet's clean top-1 error on ImageNet validation (Table 1 of the paper: 43.5 %)
ALEXNET_CLEAN_ERROR = 0.435
ALEXNET = "alexnet"
SOURCE = "Hendrycks & Dietterich 2019 (ImageNet-C)"


def presets() -> List[PresetSpec]:
    """``imagenet-c``: the 15 common corruptions x severities 1..5 (grid), 224 px; ``imagenet-c-validation``: the
    4 validation corruptions; ``imagenet-c-all``: all 19."""
    out = []
    for name, subset, what in (("imagenet-c", "common", "the 15 benchmark corruptions"),
                               ("imagenet-c-validation", "validation", "the 4 validation corruptions"),
                               ("imagenet-c-all", "all", "all 19 corruptions")):
        types = tuple("imagenet_c_" + n for n in SUBSETS[subset])
        out.append(PresetSpec(name=name, task="classification", distortions=types,
                              level_sets=tuple((t, "imagenet_c") for t in types), level_mode="grid", crop=224,
                              splits=(("test", 1.0),), source=SOURCE,
                              description=f"ImageNet-C: {what} x severities 1..5 (robustness sweeps, mCE)"))
    return out


def alexnet_rows(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """AlexNet's rows for the conditions of a sweep (``rows`` as in results.json): its clean accuracy, and for every
    level of a common corruption its mean accuracy over the severities (the sums CE needs are then exact).
    Raises KeyError naming a swept distortion AlexNet has no published error for."""
    out = []
    for r in rows:
        d = r["distortion"]
        if d == "clean":
            out.append(dict(r, top1=1.0 - ALEXNET_CLEAN_ERROR, top5=None))
            continue
        name = d[len("imagenet_c_"):] if d.startswith("imagenet_c_") else d
        if name not in ALEXNET_ERRORS:
            raise KeyError(d)
        out.append(dict(r, top1=1.0 - ALEXNET_ERRORS[name], top5=None))
    return out
