"""Typed objects returned by the ``distortx_backbones`` and ``distortx_heads`` hooks.

A backbone turns images into an ordered list of feature maps, shallow -> deep, and declares each map's
channels and stride (timm's ``features_only``, torchvision's ``IntermediateLayerGetter``); a head says which
task it serves and whether it reads the last map or all of them. The model assembler
(:func:`distortx.models.create_model`) wires any backbone to any head whose needs it meets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Tuple, Union

from torch import nn

from ..errors import ParameterError

TASKS = ("classification", "detection", "regression")
CONSUMES = ("last", "all")


def _int_tuple(values, what: str, name: str, minimum: int) -> Tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ParameterError(f"backbone {name!r}: {what} must be a sequence of integers, got {values!r}") from None
    if any(v < minimum for v in out) or any(float(v) != float(int(v)) for v in values):
        raise ParameterError(f"backbone {name!r}: {what} must be integers >= {minimum}, got {tuple(values)}")
    return out


@dataclass(frozen=True, eq=False, init=False)
class BackboneSpec:
    """A feature extractor: ``build(**kwargs) -> nn.Module`` mapping float Tensor[N, 3, H, W] to a list of maps.

    channels: channels of each returned map, shallow -> deep (``channels[-1]`` is what a classifier reads).
    strides:  stride of each map in input pixels (map i is about H / strides[i] high); 0 = not declared
              (measured when a model is assembled).
    Inputs are images normalised by the assembled model (ImageNet mean/std), not raw [0, 1] pixels.
    A module may return a single Tensor (one map), and may carry ``channels`` / ``strides`` attributes
    when build kwargs (a width, say) change them. ``build`` should accept ``weights=PATH`` (a state dict
    loaded with ``torch.load(..., weights_only=True)``; see :func:`distortx.models.weights.load_weights`).
    """

    name: str
    build: Callable[..., nn.Module]
    channels: Tuple[int, ...]
    strides: Tuple[int, ...]
    description: str = ""
    plugin: str = field(default="", compare=False)

    def __init__(
        self,
        name: str,
        build: Callable[..., nn.Module],
        channels: Union[Sequence[int], int, None] = None,
        strides: Optional[Sequence[int]] = None,
        description: str = "",
        plugin: str = "",
    ) -> None:
        if channels is None:
            raise ParameterError(f"backbone {name!r}: declare channels=(C1, ..., Ck), one per returned feature map")
        chans = _int_tuple(channels, "channels", name, 1)
        strs = _int_tuple(strides if strides is not None else (0,) * len(chans), "strides", name, 0)
        if not chans or len(strs) != len(chans):
            raise ParameterError(f"backbone {name!r}: channels {chans} and strides {strs} need one entry per map each")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "build", build)
        object.__setattr__(self, "channels", chans)
        object.__setattr__(self, "strides", strs)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "plugin", plugin)

    @property
    def out_channels(self) -> int:
        """Channels of the last (deepest) map: what a classification head consumes."""
        return self.channels[-1]

    @property
    def num_maps(self) -> int:
        return len(self.channels)

    def validate(self) -> None:
        """Raise :class:`ParameterError` if this spec is malformed (the constructor checks the rest)."""
        if not callable(self.build):
            raise ParameterError(f"backbone {self.name!r}: build is not callable")


@dataclass(frozen=True, eq=False)
class HeadSpec:
    """A task head: ``build(in_channels, strides=..., **kwargs) -> nn.Module``.

    task:     "classification" (module -> logits Tensor[N, K]), "detection" (module -> (loc Tensor[N, P, 4],
              conf Tensor[N, P, K]) and a ``priors(image_hw, feature_hw)`` method giving Tensor[P, 4]) or
              "regression" (module -> Tensor[N, P]).
    consumes: "last": the module gets the deepest map Tensor[N, C, h, w]; "all": the list of every map.
    ``in_channels`` is a tuple (one entry per backbone map); ``strides``, ``feature_sizes`` ([(h, w)] of
    the maps at the model's image size) and ``image_size`` are passed when ``build`` names them.
    ``num_classes`` (classification / detection) counts every output column: clean or background included.
    """

    name: str
    build: Callable[..., nn.Module]
    task: str
    consumes: str = "last"
    description: str = ""
    plugin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ParameterError(f"head {self.name!r}: task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.consumes not in CONSUMES:
            raise ParameterError(f"head {self.name!r}: consumes must be 'last' or 'all', got {self.consumes!r}")

    def validate(self) -> None:
        """Raise :class:`ParameterError` if this spec is malformed (unknown task or consumes, build not callable)."""
        self.__post_init__()
        if not callable(self.build):
            raise ParameterError(f"head {self.name!r}: build is not callable")
