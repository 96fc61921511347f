"""Training configuration: a TOML file (or a dict) with flag-style overrides, checked once, up front.

Example (every key optional except what the model needs; see docs/training.md)::

    [model]                       # create_model(arch, backbone=..., classes=..., **kwargs)
    arch = "ynet"
    backbone = "dx_small"

    [data]
    images = "photos/"            # reference photos (default: the embedded samples)
    seed = 0                      # dataset seed: splits by reference + distortion draws
    [data.detection]              # batches that train the SSD head
    preset = "ahn-detection-difficult"
    batch_size = 16
    [data.classification]         # batches that train the classifier head
    preset = "ahn-classification"
    batch_size = 32

    [optim]
    name = "sgd"                  # sgd | adamw | adamax
    lr = 0.01
    [schedule]
    name = "cosine"               # cosine | step | constant, after `warmup_steps` of linear warm-up
    [train]
    steps = 2000
    device = "cpu"

Overrides use dotted keys: ``train.steps=100``, ``data.detection.batch_size=8``, ``optim.lr=1e-3``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ...errors import DistortxError

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

TASKS = ("classification", "detection", "regression")


#: keys of [data.<task>] that only a labelled source takes
LABELLED_KEYS = ("val_labelled", "val_count", "size", "distort_preset", "distort_types")


class ConfigError(DistortxError):
    """A training configuration that cannot be used."""


@dataclass
class ModelConfig:
    """What :func:`distortx.models.create_model` gets. ``classes`` None: the types of the data presets."""

    arch: str = "ynet"
    backbone: str = "dx_small"
    classes: Optional[List[str]] = None
    kwargs: Dict[str, Any] = field(default_factory=dict)
    weights: Optional[str] = None          # initial weights (a checkpoint or a state dict file)
    weights_except: List[str] = field(default_factory=list)  # module prefixes left as initialised, not loaded from
                                           # weights (e.g. "heads.classification": a new head on trained weights)


@dataclass
class SourceConfig:
    """One stream of batches for one task: a preset rendered on the fly, or a folder of `distortx generate`."""

    preset: Any = None                     # a preset name / .toml path, or a list of them (taken in turn)
    folder: Optional[str] = None
    batch_size: int = 16
    split: str = "train"
    val_split: Optional[str] = "auto"      # "auto": "val" if the preset has it, else "test"; None: no eval
    weight: float = 1.0                    # share of the training steps that draw from this source
    count: Optional[int] = None            # as `distortx generate --count`
    per_image: Optional[int] = None
    crop_jitter: Optional[List[float]] = None  # [low, high]: training crops at a random place and photo scale
    history: Any = None                    # true or a table (distortx.data.history.HistorySpec): clean crops get camera noise / JPEG history
    # object classes (classification only; see distortx.engine.training.labelled_batches): labelled images instead of a preset
    stream: bool = False                   # a folder written in shards: read each shard front to back (distinct
    shuffle_buffer: int = 1000             # shards per DDP rank) through a shuffle buffer of this many samples
    labelled: Optional[str] = None         # an .npz (x, y), an image folder or a .csv/.json list of file,label
    val_labelled: Optional[str] = None     # validation images (else the last val_count images of `labelled`)
    val_count: int = 0
    size: Optional[int] = None             # resize the shorter side + centre crop (None: the images' own size)
    pad: int = 4                           # random crop of the image zero-padded by pad pixels (0: none)
    flip: bool = True                      # horizontal flip with p = 0.5
    distort_preset: Optional[str] = None   # distortion augmentation: a random distortion + level of this preset
    distort_prob: float = 0.5
    distort_types: Optional[List[str]] = None  # a subset of the preset's distortions


@dataclass
class DataConfig:
    images: Optional[str] = None           # reference photos for presets (None: embedded samples)
    val_images: Optional[str] = None       # photos for validation (default: `images`, split val_split)
    seed: int = 0
    classification: Optional[SourceConfig] = None
    detection: Optional[SourceConfig] = None
    regression: Optional[SourceConfig] = None
    augment: bool = True                   # Ahn: h-flip for detection; flips/transposes for classification
    mix_units: int = 4

    def sources(self) -> Dict[str, SourceConfig]:
        return {t: s for t in TASKS if (s := getattr(self, t)) is not None}


@dataclass
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    clip_grad: Optional[float] = 10.0      # max global gradient norm (None: no clipping)


@dataclass
class ScheduleConfig:
    name: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01             # cosine floor, as a fraction of lr
    milestones: List[float] = field(default_factory=lambda: [0.67, 0.89])  # step: fractions of the run
    gamma: float = 0.1


@dataclass
class StageConfig:
    """A part of the run (Ahn's staged recipe): which tasks it trains and which modules it freezes."""

    steps: int
    tasks: List[str] = field(default_factory=list)       # empty: every configured task
    freeze: List[str] = field(default_factory=list)      # module prefixes, e.g. "backbone", "heads.classification"


@dataclass
class TrainSettings:
    steps: int = 1000
    device: str = "cpu"
    out: str = "runs/train"
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0                    # 0: at the end only
    eval_batches: int = 20                 # validation batches per evaluation (per task)
    checkpoint_every: int = 200
    amp: bool = True                       # bf16 autocast on CUDA (ignored on CPU)
    cpu_amp: bool = False                  # bf16 autocast + channels_last on CPUs with native bf16 (AVX512-BF16/AMX)
    channels_last: bool = True             # on CUDA
    compile: bool = False
    best_metric: Optional[str] = None      # e.g. "detection/map50" (default: detection mAP@0.5, else accuracy, else regression MAE)
    stages: List[StageConfig] = field(default_factory=list)
    threads: Optional[int] = None          # torch intra-op threads on CPU
    max_minutes: Optional[float] = None    # time budget: after 20 timed steps, train.steps shrinks to fit it


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainSettings = field(default_factory=TrainSettings)

    def to_dict(self) -> Dict[str, Any]:
        return _drop_none(asdict(self))

    def stages(self) -> List[StageConfig]:
        """The run's stages (one stage of every task when none are configured)."""
        return list(self.train.stages) or [StageConfig(steps=self.train.steps, tasks=list(self.data.sources()))]


def _drop_none(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_drop_none(v) for v in d]
    return d


# -- building from dicts --------------------------------------------------------------------------------------
def _build(cls, data: Mapping[str, Any], where: str):
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{where}] must be a table, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in [{where}] (known: {', '.join(known)})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(known[name].type, value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"[{where}]: {exc}") from exc


_SECTIONS = {"ModelConfig": ModelConfig, "SourceConfig": SourceConfig, "DataConfig": DataConfig,
             "OptimConfig": OptimConfig, "ScheduleConfig": ScheduleConfig, "TrainSettings": TrainSettings,
             "StageConfig": StageConfig}


def _convert(annotation: Any, value: Any, where: str) -> Any:
    text = str(annotation)
    for name, cls in _SECTIONS.items():
        if text.startswith("Optional[" + name) or text == name:
            return None if value is None else _build(cls, value, where)
    if text.startswith("List[StageConfig"):
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list of tables ([[train.stages]])")
        return [_build(StageConfig, v, f"{where}[{i}]") for i, v in enumerate(value)]
    base = text.replace("Optional[", "").rstrip("]")
    if value is None:
        return None
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if base == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if base == "str" and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return copy.deepcopy(value)


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    cfg = _build(TrainConfig, data, "config")
    check_config(cfg)
    return cfg


def load_config(path: Union[str, Path, None] = None, overrides: Sequence[str] = (),
                base: Optional[Mapping[str, Any]] = None) -> TrainConfig:
    """A TrainConfig from a TOML file (or ``base`` dict), with ``key=value`` overrides (TOML values)."""
    data: Dict[str, Any] = copy.deepcopy(dict(base or {}))
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {p}: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    for item in overrides:
        apply_override(data, item)
    return config_from_dict(data)


def apply_override(data: Dict[str, Any], item: str) -> None:
    """``a.b.c=value`` into the nested dict (value parsed as TOML, else taken as a string)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like section.key=value")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    node[parts[-1]] = value


def check_config(cfg: TrainConfig) -> None:
    """Every value usable; raises :class:`ConfigError` naming the first that is not."""
    sources = cfg.data.sources()
    if not sources:
        raise ConfigError("no training data: add [data.detection], [data.classification] and/or [data.regression] "
                          "(a preset or a folder of `distortx generate`)")
    for task, s in sources.items():
        check_labelled_source(task, s)
        if s.labelled is None and (s.preset is None) == (s.folder is None):
            raise ConfigError(f"[data.{task}] needs exactly one of preset, folder or labelled")
        presets = s.preset if isinstance(s.preset, list) else [s.preset]
        if s.preset is not None and (not presets or not all(isinstance(p, str) for p in presets)):
            raise ConfigError(f"data.{task}.preset must be a preset name or .toml path, or a list of them")
        if s.shuffle_buffer < 0:
            raise ConfigError(f"data.{task}.shuffle_buffer must be >= 0, got {s.shuffle_buffer}")
        if s.stream and not s.folder:
            raise ConfigError(f"data.{task}.stream reads a folder written in shards: set data.{task}.folder")
        if s.batch_size < 1:
            raise ConfigError(f"data.{task}.batch_size must be >= 1, got {s.batch_size}")
        if not s.weight > 0:
            raise ConfigError(f"data.{task}.weight must be > 0, got {s.weight}")
        if s.crop_jitter is not None:
            j = s.crop_jitter
            if (not isinstance(j, list) or len(j) != 2 or not all(isinstance(v, (int, float)) for v in j)
                    or not 0 < j[0] <= j[1] <= 4):
                raise ConfigError(f"data.{task}.crop_jitter must be [low, high] with 0 < low <= high <= 4, got {j!r}")
            if s.preset is None:
                raise ConfigError(f"data.{task}.crop_jitter needs a preset source (a folder's images are fixed)")
        if s.history not in (None, False):
            from ...data.history import HistorySpec

            if s.preset is None:
                raise ConfigError(f"data.{task}.history needs a preset source (a folder's images are fixed)")
            try:
                HistorySpec.from_config(s.history)
            except DistortxError as exc:
                raise ConfigError(f"data.{task}.{exc}") from None
    if cfg.optim.name not in ("sgd", "adamw", "adamax", "adam"):
        raise ConfigError(f"optim.name must be sgd, adamw, adam or adamax, got {cfg.optim.name!r}")
    if not cfg.optim.lr > 0:
        raise ConfigError(f"optim.lr must be > 0, got {cfg.optim.lr}")
    if cfg.optim.clip_grad is not None and not cfg.optim.clip_grad > 0:
        raise ConfigError(f"optim.clip_grad must be > 0 (or absent), got {cfg.optim.clip_grad}")
    if cfg.schedule.name not in ("cosine", "step", "constant"):
        raise ConfigError(f"schedule.name must be cosine, step or constant, got {cfg.schedule.name!r}")
    if cfg.train.steps < 1:
        raise ConfigError(f"train.steps must be >= 1, got {cfg.train.steps}")
    for k in ("log_every", "checkpoint_every", "eval_batches"):
        if getattr(cfg.train, k) < 1:
            raise ConfigError(f"train.{k} must be >= 1, got {getattr(cfg.train, k)}")
    if cfg.train.eval_every < 0:
        raise ConfigError(f"train.eval_every must be >= 0, got {cfg.train.eval_every}")
    if cfg.train.stages:
        total = sum(s.steps for s in cfg.train.stages)
        if total != cfg.train.steps:
            raise ConfigError(f"train.stages add up to {total} steps but train.steps is {cfg.train.steps}")
        for i, st in enumerate(cfg.train.stages):
            if st.steps < 1:
                raise ConfigError(f"train.stages[{i}].steps must be >= 1")
            missing = [t for t in st.tasks if t not in sources]
            if missing:
                raise ConfigError(f"train.stages[{i}] trains {', '.join(missing)} but [data] has no such source")
    dev = cfg.train.device
    if not (dev == "cpu" or dev == "cuda" or dev.startswith("cuda:")):
        raise ConfigError(f"train.device must be cpu, cuda or cuda:N, got {dev!r}")


def as_plain(obj: Any) -> Any:
    """Dataclass -> dict (for logs)."""
    return asdict(obj) if is_dataclass(obj) else obj


def check_labelled_source(task: str, s: SourceConfig) -> None:
    """One-line ConfigErrors for the labelled keys of ``[data.<task>]``."""
    if s.labelled is None:
        used = [k for k in LABELLED_KEYS if getattr(s, k) not in (None, 0)]
        if used:
            raise ConfigError(f"data.{task}.{used[0]} needs a labelled source (data.{task}.labelled = \"train.npz\")")
        return
    if task != "classification":
        raise ConfigError(f"data.{task}.labelled: labelled images train classification only (use [data.classification])")
    if s.preset is not None or s.folder is not None:
        raise ConfigError(f"[data.{task}] needs exactly one of preset, folder or labelled")
    for key in ("labelled", "val_labelled"):
        p = getattr(s, key)
        if p is not None and not Path(p).exists():
            raise ConfigError(f"data.{task}.{key}: {p} does not exist (an .npz, an image folder or a .csv/.json list)")
    if s.val_count < 0:
        raise ConfigError(f"data.{task}.val_count must be >= 0, got {s.val_count}")
    if s.val_count and s.val_labelled:
        raise ConfigError(f"data.{task}: give val_labelled or val_count, not both")
    if s.size is not None and s.size < 1:
        raise ConfigError(f"data.{task}.size must be >= 1, got {s.size}")
    if s.pad < 0:
        raise ConfigError(f"data.{task}.pad must be >= 0, got {s.pad}")
    if not 0.0 <= s.distort_prob <= 1.0:
        raise ConfigError(f"data.{task}.distort_prob must be in [0, 1], got {s.distort_prob}")
    if s.crop_jitter is not None or s.count is not None or s.per_image is not None:
        raise ConfigError(f"data.{task}: crop_jitter, count and per_image apply to preset sources, not labelled ones")
    if s.distort_types is not None and s.distort_preset is None:
        raise ConfigError(f"data.{task}.distort_types needs distort_preset (the level sets come from it)")
    # distort_preset's names and level sets are checked when the stream opens (labelled_batches.distortion_menu)
