"""Presets from TOML files, and the checks every preset (built-in, plugin or TOML) passes before generation.

A TOML preset has the fields of :class:`distortx.PresetSpec`; ``extends`` starts from a registered preset::

    name = "blur-noise-small"
    extends = "ahn-detection-basic"      # optional: every field not given below comes from it
    task = "detection"                   # "classification" | "detection"
    distortions = ["gaussian_blur", "gaussian_noise"]
    level_mode = "variable"              # "grid" | "random" | "variable"
    crop = 128
    resize = false
    regions = [1, 4]
    region_ratio = [0.3, 0.7]
    per_image = 10
    include_reference = false
    description = "two types, small crops"

    [level_sets]                         # distortion -> level-set name (default: the distortion's default)
    gaussian_blur = "ahn"

    [splits]                             # split -> fraction of the reference images (in this order)
    train = 0.8
    test = 0.2
"""
from __future__ import annotations

import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Dict, Union

from ..errors import DatasetError, DistortxError
from ..registry import get_distortion, get_preset
from .preset import LEVEL_MODES, MAX_CROP, MIN_CROP, TASKS, PresetSpec  # noqa: F401 (re-exported)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_FIELDS = {f.name for f in fields(PresetSpec)} - {"plugin"}


def check_preset(preset: PresetSpec) -> None:
    """Raise :class:`DatasetError` (or :class:`UnknownNameError`) if ``preset`` cannot generate a dataset:
    its own fields (:meth:`PresetSpec.validate`), then the distortions and level sets it names."""
    preset.validate()
    who = f"preset {preset.name!r}"
    for name in preset.distortions:
        get_distortion(name)  # UnknownNameError with close matches
    for name, set_name in preset.level_sets:
        get_distortion(name).level_set(set_name)
    for name in preset.distortions:
        spec = get_distortion(name)
        if not spec.levels and preset.level_mode == "grid":
            raise DatasetError(f"{who}: {name} declares no level sets, so level_mode 'grid' cannot enumerate it")


def _pairs(value: Any, key: str, path: Path, cast) -> tuple:
    if not isinstance(value, dict):
        raise DatasetError(f"{path}: {key} must be a table ([{key}] with name = value lines)")
    return tuple((str(k), cast(v)) for k, v in value.items())


def load_preset_toml(path: Union[str, Path]) -> PresetSpec:
    """Read and check a TOML preset (format in this module's docstring). Raises :class:`DatasetError`."""
    path = Path(path)
    try:
        data: Dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such preset file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read preset file ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DatasetError(f"{path}: invalid TOML ({exc})") from exc
    unknown = sorted(set(data) - _FIELDS - {"extends"})
    if unknown:
        raise DatasetError(f"{path}: unknown preset field(s) {', '.join(unknown)} (known: {', '.join(sorted(_FIELDS | {'extends'}))})")
    kw: Dict[str, Any] = {}
    try:
        for key, value in data.items():
            if key == "extends":
                continue
            if key == "distortions":
                if isinstance(value, str) or not isinstance(value, list):
                    raise DatasetError(f"{path}: distortions must be a list of names")
                kw[key] = tuple(str(v) for v in value)
            elif key == "level_sets":
                kw[key] = _pairs(value, key, path, str)
            elif key == "splits":
                kw[key] = _pairs(value, key, path, float)
            elif key == "regions":
                if not isinstance(value, list) or len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
                    raise DatasetError(f"{path}: regions must be a list of two integers [min, max], got {value!r}")
                kw[key] = tuple(value)
            elif key == "region_ratio":
                if not isinstance(value, list) or len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
                    raise DatasetError(f"{path}: region_ratio must be a list of two numbers [low, high], got {value!r}")
                kw[key] = tuple(float(v) for v in value)
            elif key in ("crop", "per_image"):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise DatasetError(f"{path}: {key} must be an integer, got {value!r}")
                kw[key] = value
            elif key in ("resize", "include_reference"):
                if not isinstance(value, bool):
                    raise DatasetError(f"{path}: {key} must be true or false, got {value!r}")
                kw[key] = value
            else:
                if not isinstance(value, str):
                    raise DatasetError(f"{path}: {key} must be a string, got {value!r}")
                kw[key] = value
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: malformed preset ({exc})") from exc
    kw.setdefault("name", path.stem.lower().replace(" ", "-"))
    if "extends" in data:
        base = get_preset(str(data["extends"]))
        if "distortions" in kw and "level_sets" not in kw:  # keep the base's level sets of the kept types
            kw["level_sets"] = tuple((n, s) for n, s in base.level_sets if n in kw["distortions"])
        preset = replace(base, plugin=f"toml:{path.name}", **kw)
    else:
        missing = [k for k in ("task", "distortions") if k not in kw]
        if missing:
            raise DatasetError(f"{path}: missing required field(s) {', '.join(missing)} (or use extends = \"PRESET\")")
        preset = PresetSpec(plugin=f"toml:{path.name}", **kw)
    try:
        check_preset(preset)
    except DistortxError as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    return preset


def resolve_preset(preset: Union[str, Path, PresetSpec]) -> PresetSpec:
    """A checked preset from a registered name, a ``.toml`` path, or a :class:`PresetSpec`."""
    if isinstance(preset, PresetSpec):
        check_preset(preset)
        return preset
    text = str(preset)
    if text.lower().endswith(".toml") or isinstance(preset, Path):
        return load_preset_toml(text)
    spec = get_preset(text)  # UnknownNameError lists close matches
    check_preset(spec)
    return spec
