"""The plugin manager: built-ins first, then entry points of group ``distortx``; validated registries.

Every object a hook returns is checked here (type, unique lower-case name, then the object's own
``validate()``: parameter ranges, level values inside the range, ...). A third-party plugin that fails any
check, that fails to import, whose hook raises, or whose names clash with a plugin loaded before it is
*quarantined*: a :class:`PluginWarning` naming it and its distribution, nothing of it registered, and
``distortx plugins list`` shows it as BROKEN with that one-line error. The built-ins and every other plugin
keep working. A malformed built-in is a bug of distortx itself and raises :class:`PluginError`.
"""
from __future__ import annotations

import importlib
import os
import re
import warnings
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any, Dict, Iterable, List, Optional

import pluggy

from . import hookspecs
from .data.preset import PresetSpec
from .distortions.spec import MAX_NATIVE_PARAMS, DistortionSpec  # noqa: F401 (MAX_NATIVE_PARAMS: re-exported)
from .errors import DistortxError, PluginError, UnknownNameError
from .models.spec import BackboneSpec, HeadSpec

ENTRY_POINT_GROUP = "distortx"
DISABLE_AUTOLOAD_ENV = "DISTORTX_DISABLE_PLUGIN_AUTOLOAD"

#: Built-in plugins, registered through the same hooks as third-party ones.
BUILTIN_PLUGINS = (
    "distortx.distortions.builtin",
    "distortx.models.builtin",
    "distortx.data.presets",
    "distortx.estimation.plugin",
    "distortx.corruptions.plugin",
)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")

#: hook name -> (spec type, what it is called in messages)
REGISTRIES = {
    "distortx_distortions": (DistortionSpec, "distortion"),
    "distortx_backbones": (BackboneSpec, "backbone"),
    "distortx_heads": (HeadSpec, "head"),
    "distortx_presets": (PresetSpec, "preset"),
}


class PluginWarning(UserWarning):
    """A plugin could not be loaded, or returned something malformed, and was skipped (quarantined)."""


class _PluginFault(Exception):
    """Raised while collecting: ``plugin`` (its registered name) is at fault, ``message`` says why."""

    def __init__(self, plugin: str, message: str):
        super().__init__(message)
        self.plugin, self.message = plugin, message


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
        self._check_hooks()
        self._registries: Dict[str, Dict[str, Any]] = {}
        while True:  # each fault quarantines one third-party plugin, then the registries are collected anew
            try:
                for info in self.infos.values():
                    info.registers = {}
                self._registries = {hook: self._collect(hook) for hook in REGISTRIES}
                self._check_presets()
                break
            except _PluginFault as fault:
                self._quarantine(fault.plugin, fault.message)

    # -- loading --------------------------------------------------------------------------------------
    def _load_entrypoints(self) -> None:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            if self.get_plugin(ep.name) is not None or ep.name in self.infos:
                first = self.infos.get(ep.name)
                if first is not None and first.builtin:
                    raise PluginError(f"plugin {ep.name!r} (distribution {dist_name} {version}) takes the name "
                                      f"of a built-in; rename its entry point")
                # which of the two is meant is unknown: both are quarantined
                self._quarantine(ep.name, f"plugin {ep.name!r} (distribution {dist_name} {version}) is registered "
                                          f"twice; uninstall one of the distributions providing it")
                continue
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

    def _quarantine(self, plugin_name: str, message: str) -> None:
        """Unregister a faulty third-party plugin, record ``message`` as its error and warn; a faulty
        built-in raises :class:`PluginError`."""
        info = self.infos.get(plugin_name)
        if info is None or info.builtin:
            raise PluginError(message)
        if self.get_plugin(plugin_name) is not None:
            self.unregister(name=plugin_name)
        info.error, info.registers = message, {}
        warnings.warn(f"{message} (the plugin is skipped)", PluginWarning, stacklevel=3)

    def _check_hooks(self) -> None:
        """pluggy's check of hook names (a misspelt ``distortx_distortion``), one plugin at a time."""
        while True:
            try:
                self.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.get_name(exc.plugin) or "?"
                self._quarantine(name, f"{self._describe(name)}: {exc}")

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
                raise _PluginFault(pname, f"{who}: hook {hook_name} raised {type(exc).__name__}: {exc}") from exc
            if returned is None:
                continue
            if isinstance(returned, (str, bytes)) or not isinstance(returned, Iterable):
                raise _PluginFault(pname, f"{who}: hook {hook_name} must return an iterable of {spec_type.__name__}, "
                                          f"got {type(returned).__name__}")
            for obj in returned:
                if not isinstance(obj, spec_type):
                    raise _PluginFault(pname, f"{who}: hook {hook_name} returned a {type(obj).__name__}, "
                                              f"expected {spec_type.__name__}")
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not _NAME_RE.match(name):
                    raise _PluginFault(pname, f"{who}: {kind} name {name!r} must be lower-case letters, digits, '_' "
                                              f"or '-', starting with a letter")
                if name in found:
                    raise _PluginFault(pname, f"{kind} {name!r} is registered by both "
                                              f"{self._describe(found[name].plugin)} and {who}; uninstall or disable one of them")
                try:
                    obj.validate()
                except DistortxError as exc:
                    raise _PluginFault(pname, f"{who}: {exc}") from exc
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
                    raise _PluginFault(preset.plugin, f"{who}: preset {preset.name!r} names unknown distortion {name!r}")
            for name, ls in preset.level_sets:
                if name in dist and ls not in [x.name for x in dist[name].levels]:
                    raise _PluginFault(preset.plugin, f"{who}: preset {preset.name!r} names unknown level set {ls!r} of {name!r}")

    # -- lookups --------------------------------------------------------------------------------------
    def registry(self, hook_name: str) -> Dict[str, Any]:
        return self._registries[hook_name]

    def get(self, hook_name: str, name: str) -> Any:
        reg = self._registries[hook_name]
        if name not in reg:
            raise UnknownNameError(REGISTRIES[hook_name][1], name, reg)
        return reg[name]


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
