"""``RandomDistortion``: a kornia-style augmentation module that distorts each image of a batch with its own
randomly drawn type and parameters, and keeps the draws (the labels).

It is an ``nn.Module``, so it goes in ``nn.Sequential`` and in torchvision ``transforms.v2`` pipelines (a
single (C, H, W) image works too, ``tv_tensors.Image`` comes back as one, and extra inputs such as a
target are passed through untouched). Sampling and applying are separate steps as in kornia:
:meth:`RandomDistortion.sample` draws the parameters on the batch's device, ``forward(images, params=...)``
replays given ones exactly.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ..distortions.edges import from_batch, to_batch
from ..distortions.regions import Region
from ..errors import ParameterError
from .presets import AHN_TYPES


class RandomDistortion(nn.Module):
    """Distort each image with probability ``p`` by one of ``types`` (uniform), at a level of its level set.

    types:     registered distortion names (default: Ahn et al.'s eight).
    levels:    level-set name used for every type that has it (others use their default), or a mapping
               name -> level-set name; default "ahn".
    variable:  draw the severity uniformly between the set's min and max (Ahn's detection protocol) instead
               of one of its levels (continuous sets are always drawn that way).
    p:         probability that an image is distorted (else it passes through unchanged, label 0).
    generator: optional ``torch.Generator``; sampling happens on the batch's device with it (its device must
               match) or with torch's default generator of that device (``torch.manual_seed`` reproduces).
    impl:      "auto" | "native" | "python": the fused op's path (:func:`distortx.ops.fused.distort_batch`).

    Input: Tensor[N, C, H, W] or Tensor[C, H, W], float in [0, 1] or uint8, any device (numpy arrays too);
    output: the same type, shape, dtype and device. After each call ``last_params`` holds the draws, on the
    batch's device: ``label`` int64 [N] (0 = unchanged, k = ``types[k - 1]``), ``values`` float32 [N, P]
    (NaN-padded, P = the largest parameter count of the types), ``level`` int64 [N] (-1 for a continuous
    draw or an unchanged image) and ``seed`` int64 [N].
    """

    def __init__(self, types: Optional[Sequence[str]] = None, levels: Union[None, str, Mapping[str, str]] = "ahn",
                 variable: bool = False, p: float = 1.0, generator: Optional[torch.Generator] = None,
                 impl: str = "auto"):
        super().__init__()
        from ..registry import get_distortion

        self.types = tuple(types) if types is not None else AHN_TYPES
        if not self.types:
            raise ParameterError("RandomDistortion needs at least one distortion type")
        self.specs = [get_distortion(n) for n in self.types]
        if not (isinstance(p, (int, float)) and 0.0 <= float(p) <= 1.0):
            raise ParameterError(f"p must be a probability in [0, 1], got {p!r}")
        self.level_sets: Dict[str, Optional[str]] = {}
        for spec in self.specs:
            if isinstance(levels, Mapping):
                name = levels.get(spec.name)
            else:
                name = levels if levels in [ls.name for ls in spec.levels] else None
            if spec.levels:
                spec.level_set(name)  # unknown names fail here, once
            self.level_sets[spec.name] = name
        self.variable, self.p, self.generator, self.impl = bool(variable), float(p), generator, impl
        self.num_params = max(s.num_params for s in self.specs)
        self.last_params: Optional[Dict[str, Tensor]] = None

    def extra_repr(self) -> str:
        return f"types={list(self.types)}, p={self.p}, variable={self.variable}"

    # -- sampling -----------------------------------------------------------------------------------------
    def sample(self, n: int, device=None) -> Dict[str, Tensor]:
        """Draw the parameters of ``n`` images on ``device`` (see the class docstring for the keys)."""
        dev = torch.device(device) if device is not None else torch.device("cpu")
        g = self.generator
        if g is not None and g.device.type != dev.type:
            raise ParameterError(f"the generator is on {g.device} but the images are on {dev}; give a generator "
                                 f"of the images' device")
        applied = torch.rand(n, generator=g, device=dev) < self.p
        kind = torch.randint(len(self.specs), (n,), generator=g, device=dev)
        label = torch.where(applied, kind + 1, torch.zeros_like(kind))
        values = torch.full((n, self.num_params), float("nan"), device=dev)
        level = torch.full((n,), -1, dtype=torch.long, device=dev)
        seed = torch.zeros(n, dtype=torch.long, device=dev)
        for k, spec in enumerate(self.specs):  # every type is drawn for the whole batch: no host sync
            drawn = spec.sample(n, generator=g, levels=self.level_sets[spec.name], variable=self.variable, device=dev)
            rows = (label == k + 1).view(-1, 1)
            values[:, : spec.num_params] = torch.where(rows, drawn.values, values[:, : spec.num_params])
            level = torch.where(rows[:, 0], drawn.level, level)
            seed = torch.where(rows[:, 0], drawn.seed, seed)
        return {"label": label, "values": values, "level": level, "seed": seed}

    # -- applying -----------------------------------------------------------------------------------------
    def apply(self, batch: Tensor, params: Mapping[str, Tensor]) -> Tensor:
        """Distort float Tensor[N, C, H, W] with ``params`` (from :meth:`sample`)."""
        from ..ops.fused import distort_batch

        label = params["label"].tolist()
        if len(label) != batch.shape[0]:
            raise ParameterError(f"params hold {len(label)} images, the batch has {batch.shape[0]}")
        values, seed, level = params["values"].tolist(), params["seed"].tolist(), params["level"].tolist()
        regions = []
        for i, lab in enumerate(label):
            if lab == 0:
                regions.append([])
                continue
            if not 1 <= lab <= len(self.specs):
                raise ParameterError(f"label {lab} of image {i} names no type (1..{len(self.specs)}, 0 = unchanged)")
            spec = self.specs[lab - 1]
            regions.append([Region(spec.name, tuple(values[i][: spec.num_params]), None, int(seed[i]), int(level[i]))])
        return distort_batch(batch.float().contiguous(), regions, impl=self.impl).to(batch.dtype)

    def forward(self, images, *others, params: Optional[Mapping[str, Tensor]] = None):
        """Distort ``images``; ``params`` replays earlier draws. Extra positional inputs (a target, ...)
        are returned unchanged after the images, as torchvision ``transforms.v2`` pipelines expect."""
        batch, fmt = to_batch(images)
        if params is None:
            params = self.sample(batch.shape[0], batch.device)
        self.last_params = dict(params)
        out = from_batch(self.apply(batch, params), fmt)
        return (out, *others) if others else out


__all__ = ["RandomDistortion"]
