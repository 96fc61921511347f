"""The plugin manager: built-ins first, then entry points of group ``distortx``; validated registries.

Every object a hook returns is checked here (type, unique lower-case name, parameter ranges, level values
inside the range) so a broken plugin fails with one line naming it and its distribution instead of a
traceback from deep inside a kernel.
"""
from __future__ import annotations

import importlib
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any, Dict, Iterable, List, Optional

import pluggy

from . import hookspecs
from .data.preset import PresetSpec
from .distortions.native_codes import NATIVE_CODES
from .distortions.spec import DistortionSpec
from .errors import PluginError, UnknownNameError
from .models.spec import BackboneSpec, HeadSpec

ENTRY_POINT_GROUP = "distortx"
DISABLE_AUTOLOAD_ENV = "DISTORTX_DISABLE_PLUGIN_AUTOLOAD"

#: Built-in plugins, registered through the same hooks as third-party ones.
BUILTIN_PLUGINS = (
    "distortx.distortions.builtin",
    "distortx.models.builtin",
    "distortx.data.presets",
    "distortx.estimation.plugin",
)

MAX_NATIVE_PARAMS = 4  # columns of the fused op's values tensor
_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")

#: hook name -> (spec type, what it is called in messages)
REGISTRIES = {
    "distortx_distortions": (DistortionSpec, "distortion"),
    "distortx_backbones": (BackboneSpec, "backbone"),
    "distortx_heads": (HeadSpec, "head"),
    "distortx_presets": (PresetSpec, "preset"),
}


class PluginWarning(UserWarning):
    """A plugin could not be loaded and was skipped."""


@dataclass
class PluginInfo:
    """What ``distortx plugins list`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    builtin: bool
    registers: Dict[str, List[str]] = field(default_factory=dict)
    error: Optional[str] = None


class DistortxPluginManager(pluggy.PluginManager):
    """pluggy manager for the ``distortx`` project with validated registries."""

    def __init__(self, load_entrypoints: Optional[bool] = None) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: Dict[str, PluginInfo] = {}
        for modname in BUILTIN_PLUGINS:
            module = importlib.import_module(modname)
            self.register(module, name=modname)
            from ._version import __version__

            self.infos[modname] = PluginInfo(modname, "distortx", __version__, builtin=True)
        if load_entrypoints is None:
            load_entrypoints = os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("1", "true", "yes")
        if load_entrypoints:
            self._load_entrypoints()
        self.check_pending()
        self._registries: Dict[str, Dict[str, Any]] = {}
        for hook in REGISTRIES:
            self._registries[hook] = self._collect(hook)
        self._check_presets()

    # -- loading --------------------------------------------------------------------------------------
    def _load_entrypoints(self) -> None:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            if self.get_plugin(ep.name) is not None or ep.name in self.infos:
                raise PluginError(
                    f"plugin {ep.name!r} (distribution {dist_name} {version}) is registered twice; "
                    f"uninstall one of the distributions providing it"
                )
            try:
                module = ep.load()
                self.register(module, name=ep.name)
            except Exception as exc:  # a broken plugin is reported and skipped, never a crash of the host
                msg = f"plugin {ep.name!r} (distribution {dist_name} {version}) failed to load: {type(exc).__name__}: {exc}"
                warnings.warn(msg, PluginWarning, stacklevel=2)
                self.infos[ep.name] = PluginInfo(ep.name, dist_name, version, builtin=False, error=msg)
                continue
            self.infos[ep.name] = PluginInfo(ep.name, dist_name, version, builtin=False)

    def _describe(self, plugin_name: str) -> str:
        info = self.infos.get(plugin_name)
        if info is None:
            return f"plugin {plugin_name!r}"
        return f"plugin {plugin_name!r} (distribution {info.distribution} {info.version})"

    # -- collecting and validating -------------------------------------------------------------------
    def _collect(self, hook_name: str) -> Dict[str, Any]:
        spec_type, kind = REGISTRIES[hook_name]
        found: Dict[str, Any] = {}
        hook = getattr(self.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order: built-ins first
            pname = self.get_name(impl.plugin) or "?"
            who = self._describe(pname)
            try:
                returned = impl.function()
            except Exception as exc:
                raise PluginError(f"{who}: hook {hook_name} raised {type(exc).__name__}: {exc}") from exc
            if returned is None:
                continue
            if isinstance(returned, (str, bytes)) or not isinstance(returned, Iterable):
                raise PluginError(f"{who}: hook {hook_name} must return an iterable of {spec_type.__name__}, got {type(returned).__name__}")
            for obj in returned:
                if not isinstance(obj, spec_type):
                    raise PluginError(f"{who}: hook {hook_name} returned a {type(obj).__name__}, expected {spec_type.__name__}")
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not _NAME_RE.match(name):
                    raise PluginError(f"{who}: {kind} name {name!r} must be lower-case letters, digits, '_' or '-', starting with a letter")
                if name in found:
                    raise PluginError(
                        f"{kind} {name!r} is registered by both {self._describe(found[name].plugin)} and {who}; "
                        f"uninstall or disable one of them"
                    )
                problem = _validate(obj)
                if problem:
                    raise PluginError(f"{who}: {kind} {name!r}: {problem}")
                obj = replace(obj, plugin=pname)
                found[name] = obj
                if pname in self.infos:
                    self.infos[pname].registers.setdefault(kind, []).append(name)
        return found

    def _check_presets(self) -> None:
        """Every distortion and level set a preset names must be registered."""
        dist = self._registries["distortx_distortions"]
        for preset in self._registries["distortx_presets"].values():
            who = self._describe(preset.plugin)
            for name in preset.distortions:
                if name not in dist:
                    raise PluginError(f"{who}: preset {preset.name!r} names unknown distortion {name!r}")
            for name, ls in preset.level_sets:
                if name in dist and ls not in [x.name for x in dist[name].levels]:
                    raise PluginError(f"{who}: preset {preset.name!r} names unknown level set {ls!r} of {name!r}")

    # -- lookups --------------------------------------------------------------------------------------
    def registry(self, hook_name: str) -> Dict[str, Any]:
        return self._registries[hook_name]

    def get(self, hook_name: str, name: str) -> Any:
        reg = self._registries[hook_name]
        if name not in reg:
            raise UnknownNameError(REGISTRIES[hook_name][1], name, reg)
        return reg[name]


def _validate(obj: Any) -> Optional[str]:
    """Why ``obj`` is malformed, or None."""
    if isinstance(obj, DistortionSpec):
        if not obj.parameters:
            return "declares no parameters"
        for p in obj.parameters:
            if not (math.isfinite(p.low) and math.isfinite(p.high)) or p.low >= p.high:
                return f"parameter {p.name!r} has an invalid range [{p.low}, {p.high}]"
        if not callable(obj.reference):
            return "reference is not callable"
        if obj.severity not in ("increasing", "decreasing"):
            return f"severity must be 'increasing' or 'decreasing', got {obj.severity!r}"
        p0 = obj.parameters[0]
        names = [ls.name for ls in obj.levels]
        if len(set(names)) != len(names):
            return f"duplicate level set names {names}"
        for ls in obj.levels:
            if not ls.values:
                return f"level set {ls.name!r} is empty"
            for v in ls.values:
                if not math.isfinite(v) or v < p0.low or v > p0.high:
                    return f"level {v:g} of level set {ls.name!r} is outside [{p0.low:g}, {p0.high:g}] of {p0.name!r}"
            sign = 1 if obj.severity == "increasing" else -1
            if any(sign * (b - a) < 0 for a, b in zip(ls.values, ls.values[1:])):
                return f"level set {ls.name!r} must be ordered mild -> severe ({obj.severity} severity), got {ls.values}"
        if obj.default_levels is not None and obj.default_levels not in names:
            return f"default_levels {obj.default_levels!r} is not one of its level sets {names}"
        if obj.native_code is not None and NATIVE_CODES.get(obj.name) != obj.native_code:
            return (f"native_code {obj.native_code} does not belong to it: native codes name the built-in kernels "
                    f"{NATIVE_CODES} (leave native_code=None; the fused op then runs the reference path)")
        if len(obj.parameters) > MAX_NATIVE_PARAMS and obj.native_code is not None:
            return f"a native kernel takes at most {MAX_NATIVE_PARAMS} parameters"
        if obj.identity is not None and not (p0.low <= obj.identity <= p0.high):
            return f"identity value {obj.identity} is outside the range of {p0.name!r}"
    elif isinstance(obj, (BackboneSpec, HeadSpec)):
        if not callable(obj.build):
            return "build is not callable"
    elif isinstance(obj, PresetSpec):
        if obj.task not in ("classification", "detection"):
            return f"task must be 'classification' or 'detection', got {obj.task!r}"
        if not obj.distortions:
            return "names no distortions"
    return None


_MANAGER: Optional[DistortxPluginManager] = None


def get_plugin_manager() -> DistortxPluginManager:
    """The process-wide plugin manager, built on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = DistortxPluginManager()
    return _MANAGER


def reset_plugin_manager() -> None:
    """Forget the cached manager (tests; after installing a plugin at run time)."""
    global _MANAGER
    _MANAGER = None
