"""Lookups of registered distortions and presets: a leaf module that submodules import instead of the
package root (which re-exports these functions as ``distortx.get_distortion`` etc.).

The plugin manager is imported on first call, so importing this module pulls in nothing else.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List

if TYPE_CHECKING:  # pragma: no cover
    from .data.preset import PresetSpec
    from .distortions.spec import DistortionSpec


def get_distortion(name: str) -> "DistortionSpec":
    """The registered distortion called ``name`` (built-in or from a plugin)."""
    from .plugins import get_plugin_manager

    return get_plugin_manager().get("distortx_distortions", name)


def list_distortions() -> List[str]:
    """Names of every registered distortion, sorted."""
    from .plugins import get_plugin_manager

    return sorted(get_plugin_manager().registry("distortx_distortions"))


def get_preset(name: str) -> "PresetSpec":
    """The registered dataset preset called ``name``."""
    from .plugins import get_plugin_manager

    return get_plugin_manager().get("distortx_presets", name)


def list_presets() -> List[str]:
    """Names of every registered dataset preset, sorted."""
    from .plugins import get_plugin_manager

    return sorted(get_plugin_manager().registry("distortx_presets"))
