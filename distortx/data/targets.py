"""One sample's labels, derived in one place from its recipe: the records the writers save (part files, then
COCO / JSONL), the batches :class:`~distortx.data.stream.SynthesisStream` yields, and the targets
:class:`~distortx.data.datasets.DistortionDataset` reads back from the files.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

import torch
from torch import Tensor


def targets_from_recipe(plan, recipe) -> Dict[str, Any]:
    """Labels of one sample (plain Python values, not rounded for JSON) of ``plan`` (a :class:`Plan`).

    classification: ``type``, ``class_id``, ``level`` (-1 for the reference class or a continuous draw),
    ``values`` (list, empty for the reference class), ``seed``.
    detection: ``regions``, a list in drawing order of ``type``, ``category_id``, ``level``, ``values``,
    ``box`` (x0, y0, x1, y1) pixels, ``seed`` and ``visible``: the fraction of the box not covered by later
    boxes (0 = hidden: drawn, but left out of the targets; 1 for every region of an ``overlap = "stack"`` preset).
    """
    from .synthesis import visible_fractions

    if plan.preset.task == "detection":
        S = plan.preset.crop
        vis = (visible_fractions([r.box for r in recipe.regions], S, S) if plan.preset.overlap == "occlude"
               else [1.0] * len(recipe.regions))     # "stack": every region's distortion stays in its box
        return {"regions": [
            {"type": r.name, "category_id": plan.class_id(r.name), "level": r.level, "values": list(r.values),
             "box": list(r.box), "seed": r.seed, "visible": float(v)}
            for r, v in zip(recipe.regions, vis)
        ]}
    region = recipe.regions[0] if recipe.regions else None
    return {
        "type": recipe.type, "class_id": recipe.class_id,
        "level": region.level if region else -1,
        "values": list(region.values) if region else [],
        "seed": region.seed if region else 0,
    }


def padded(values: Sequence[float], width: int) -> List[float]:
    """``values`` followed by NaNs up to ``width`` entries (parameter rows of types with fewer parameters)."""
    return list(values) + [float("nan")] * (width - len(values))


def detection_target(regions: Sequence[Mapping[str, Any]], num_params: int, device=None) -> Dict[str, Tensor]:
    """torchvision-style detection target of ``regions`` (each with ``box`` xyxy, ``category_id``, ``values``,
    ``level``): ``boxes`` float32 Tensor[K, 4], ``labels`` int64 Tensor[K], ``params`` float32
    Tensor[K, num_params] (NaN-padded), ``levels`` int64 Tensor[K]."""
    return {
        "boxes": torch.tensor([list(g["box"]) for g in regions], dtype=torch.float32, device=device).reshape(-1, 4),
        "labels": torch.tensor([g["category_id"] for g in regions], dtype=torch.int64, device=device),
        "params": torch.tensor([padded(g["values"], num_params) for g in regions], dtype=torch.float32,
                               device=device).reshape(-1, num_params),
        "levels": torch.tensor([g["level"] for g in regions], dtype=torch.int64, device=device),
    }
