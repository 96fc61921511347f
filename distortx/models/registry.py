"""The model registry (timm's ``register_model`` / ``create_model`` / ``list_models`` pattern).

An architecture is a function ``fn(backbone=..., classes=..., num_classes=..., image_size=..., **kwargs) ->
DistortxModel`` registered under a name with :func:`register_model`. The built-in architectures live in
:mod:`distortx.models.assemble`; modules listed in :data:`ARCH_MODULES` are imported on first use.
"""
from __future__ import annotations

import fnmatch
import importlib
from typing import Callable, Dict, List, Optional

from ..errors import ParameterError, UnknownNameError

ARCH_MODULES = ["distortx.models.assemble", "distortx.estimation.archs"]
"""Modules whose import registers architectures (append yours, or import it before create_model)."""

_MODELS: Dict[str, Callable] = {}
_DESCRIPTIONS: Dict[str, str] = {}
_loaded = False


def register_model(name: Optional[str] = None, description: str = "") -> Callable[[Callable], Callable]:
    """Decorator: register ``fn`` as architecture ``name`` (default: the function's name).

    Example::

        @register_model("my_arch", description="backbone + my head")
        def my_arch(backbone="dx_small", classes=None, num_classes=None, image_size=300, **kwargs):
            return assemble_model("my_arch", backbone, classes, num_classes, image_size, {...}, **kwargs)
    """

    def wrap(fn: Callable) -> Callable:
        key = name or fn.__name__
        if key in _MODELS and _MODELS[key] is not fn:
            raise ParameterError(f"model architecture {key!r} is already registered (by {_MODELS[key].__module__})")
        _MODELS[key] = fn
        doc = (fn.__doc__ or "").strip()
        _DESCRIPTIONS[key] = description or (doc.splitlines()[0] if doc else "")
        return fn

    return wrap


def _load_builtins() -> None:
    """Import the built-in architecture modules and the plugins (whose modules may register architectures)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in ARCH_MODULES:
            importlib.import_module(module)
        from ..plugins import get_plugin_manager

        get_plugin_manager()


def _match(names, pattern: str) -> List[str]:
    return sorted(n for n in names if fnmatch.fnmatch(n, pattern))


def list_models(pattern: str = "*") -> List[str]:
    """Registered architecture names matching the shell-style ``pattern``, sorted."""
    _load_builtins()
    return _match(_MODELS, pattern)


def model_description(name: str) -> str:
    _load_builtins()
    model_entrypoint(name)
    return _DESCRIPTIONS.get(name, "")


def model_entrypoint(name: str) -> Callable:
    """The function registered as architecture ``name``."""
    _load_builtins()
    if name not in _MODELS:
        raise UnknownNameError("model", name, _MODELS)
    return _MODELS[name]


def list_backbones(pattern: str = "*") -> List[str]:
    """Registered backbone names (built-in and plugins') matching ``pattern``, sorted."""
    from ..plugins import get_plugin_manager

    return _match(get_plugin_manager().registry("distortx_backbones"), pattern)


def list_heads(pattern: str = "*", task: Optional[str] = None) -> List[str]:
    """Registered head names matching ``pattern`` (and ``task`` if given), sorted."""
    from ..plugins import get_plugin_manager

    reg = get_plugin_manager().registry("distortx_heads")
    return _match([n for n, h in reg.items() if task is None or h.task == task], pattern)


def create_model(arch: str, backbone: str = "dx_small", classes=None, num_classes: Optional[int] = None,
                 image_size: int = 300, **kwargs):
    """Build architecture ``arch`` ("classifier", "detector", "ynet", ... see :func:`list_models`).

    backbone: a registered backbone name (:func:`list_backbones`). classes: the distortion types (a
    sequence, a preset name, or None for Ahn's eight). num_classes: output columns incl. clean/background.
    image_size: the square input side the model is built for (detection priors, extra layers).
    Other keywords go to the architecture (``backbone_kwargs``, ``head_kwargs``, ...).
    ``create_model(**model.config)`` rebuilds a model's architecture.
    """
    return model_entrypoint(arch)(backbone=backbone, classes=classes, num_classes=num_classes,
                                  image_size=image_size, **kwargs)
