"""Loading user weight files into backbones and models, with one-line errors on any mismatch.

No weights are ever downloaded: a user passes a file holding a state dict (``torch.save(module.state_dict())``,
a checkpoint dict with a ``state_dict`` / ``model`` entry, or a distortx checkpoint). Files are read by
:mod:`distortx.models.checkpoint` with ``weights_only=True``, so loading never runs pickled code.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, Mapping, Optional, Union

from torch import Tensor, nn

from ..errors import DistortxError


def _shown(keys, n: int = 3) -> str:
    keys = list(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def read_state_dict(path: Union[str, os.PathLike], what: str = "weights") -> Dict[str, Tensor]:
    """The state dict in the file ``path``, read by the one checkpoint reader (weights-only; a distortx
    checkpoint's ``model``, a bare state dict or a ``state_dict`` entry; ``module.`` prefixes stripped)."""
    from .checkpoint import read_state_dict as read

    return read(path, what)


def load_state(module: nn.Module, state: Mapping[str, Tensor], what: str,
               ignore_prefixes: Iterable[str] = ()) -> nn.Module:
    """Copy ``state`` into ``module``; raise one :class:`DistortxError` line listing every kind of mismatch.

    Keys under ``ignore_prefixes`` are skipped on both sides: those of ``state`` are not loaded (e.g. the
    ImageNet classifier ``fc.`` of a torchvision state dict loaded into its backbone), those of ``module`` keep
    their values. Any other missing key, unexpected key or shape mismatch is an error.
    """
    ignore = tuple(ignore_prefixes)
    state = {k: v for k, v in state.items() if not (ignore and k.startswith(ignore))}
    own = {k: v for k, v in module.state_dict().items() if not (ignore and k.startswith(ignore))}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and state[k].shape != own[k].shape]
    problems = []
    if shapes:
        problems.append(f"wrong shapes: {_shown(shapes)}")
    if missing:
        problems.append(f"missing: {_shown(missing)}")
    if unexpected:
        problems.append(f"unexpected: {_shown(unexpected)}")
    if problems:
        raise DistortxError(f"{what} do not fit the model ({'; '.join(problems)}); "
                            f"were they saved from the same architecture and build arguments?")
    module.load_state_dict(state, strict=not ignore)
    return module


def load_weights(module: nn.Module, weights: Optional[Union[str, os.PathLike, Mapping[str, Tensor]]],
                 what: str = "weights", ignore_prefixes: Iterable[str] = (), keep: Iterable[str] = ()) -> nn.Module:
    """Load ``weights`` (a path or a state dict; None = leave the module as initialised) into ``module``.
    Submodules named in ``keep`` (e.g. ``"heads.classification"``) keep their own initial weights."""
    if weights is None or weights == "":
        return module
    state = weights if isinstance(weights, Mapping) else read_state_dict(weights, what)
    label = what if isinstance(weights, Mapping) else f"{what} {os.fspath(weights)!r}"
    return load_state(module, state, label, (*ignore_prefixes, *(f"{name}." for name in keep)))
