"""Any classifier from one SPEC string, as a module that takes float images in [0, 1] and returns logits.

SPEC forms (WEIGHTS is a local state-dict file, read with ``weights_only=True``; nothing is downloaded):

* ``torchvision:NAME[:WEIGHTS]``: ``torchvision.models.get_model(NAME, num_classes=K)``; K is
  ``num_classes`` if given, else read from WEIGHTS (rows of its last weight matrix), else torchvision's
  default. Preprocessing (resize, crop, mean, std) and class names come from the architecture's weight
  metadata (``get_model_weights(NAME).DEFAULT.transforms()``, ``.meta["categories"]``) when K matches.
* ``timm:NAME[:WEIGHTS]``: ``timm.create_model(NAME, pretrained=False, num_classes=K)`` when timm is
  installed; preprocessing from ``timm.data.resolve_data_config`` (crop = input size, resize = crop / crop_pct).
* ``distortx:PATH`` or the path of an existing file or run folder: a distortx checkpoint, loaded by
  ``distortx.models.checkpoint.load_model(PATH)``; its model normalises inside and returns ``.logits``;
  class names are its ``.classes``; crop/resize its ``config["image_size"]`` when present.
* ``MODULE:FUNCTION[:WEIGHTS]``: ``FUNCTION()`` (given ``num_classes=K`` when K is stated) from a dotted
  module or a ``path/to/file.py``; it must return an ``nn.Module``. No preprocessing is assumed.

Every preprocessing field can be stated by the user (:class:`Preprocess` overrides), which wins over the
metadata. The returned :class:`LoadedModel` wraps the network in :class:`ClassifierAdapter`: mean/std
normalisation, then the network, then logits taken from a Tensor, a ``.logits`` attribute, a ``"logits"``
key or the first element of a tuple. Randomly initialised models (no WEIGHTS) are built under a fixed
seed so that the same SPEC is the same model (and the same fingerprint) in every run.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ...errors import DistortxError, UnknownNameError


class ModelSpecError(DistortxError, ValueError):
    """A model SPEC that cannot be parsed, built or loaded, or a model whose output is not logits."""


@dataclass(frozen=True)
class Preprocess:
    """How images reach the model. resize: shorter side (pixels); crop: square centre crop; mean/std: per
    channel normalisation of [0, 1] images. None = no such step. Distortions are applied after the
    geometric steps and before normalisation (on the model's input pixels)."""

    resize: Optional[int] = None
    crop: Optional[int] = None
    mean: Optional[Tuple[float, ...]] = None
    std: Optional[Tuple[float, ...]] = None

    def overridden(self, **given: Any) -> "Preprocess":
        """A copy with the fields that the user stated (a value, or ``"none"`` to drop a step)."""
        fields = {}
        for key, value in given.items():
            if value is None:
                continue
            fields[key] = None if (isinstance(value, str) and value.lower() == "none") else value
        return replace(self, **fields)

    def to_dict(self) -> Dict[str, Any]:
        return {"resize": self.resize, "crop": self.crop,
                "mean": list(self.mean) if self.mean else None, "std": list(self.std) if self.std else None}


class ClassifierAdapter(nn.Module):
    """float Tensor[N, 3, H, W] in [0, 1] -> logits Tensor[N, K]: normalise, run ``net``, take the logits."""

    def __init__(self, net: nn.Module, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None):
        super().__init__()
        self.net = net
        self.normalise = mean is not None or std is not None
        self.register_buffer("mean", torch.tensor(mean if mean is not None else (0.0, 0.0, 0.0)).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std if std is not None else (1.0, 1.0, 1.0)).view(1, -1, 1, 1),
                             persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        x = (images - self.mean) / self.std if self.normalise else images
        return logits_of(self.net(x))


def logits_of(out: Any) -> Tensor:
    """Logits Tensor[N, K] from a model output (Tensor, ``.logits``, ``{"logits": ...}`` or a tuple)."""
    if isinstance(out, Tensor):
        logits = out
    elif getattr(out, "logits", None) is not None:
        logits = out.logits
    elif isinstance(out, Mapping) and "logits" in out:
        logits = out["logits"]
    elif isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        logits = out[0]
    else:
        raise ModelSpecError(f"the model returned a {type(out).__name__}, not logits (a Tensor[N, K], .logits or "
                             f"{{'logits': ...}}); wrap it so that it returns class scores")
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ModelSpecError(f"the model's logits must be Tensor[N, K] (one score per class), got {shape}")
    return logits


@dataclass
class LoadedModel:
    """module: ClassifierAdapter (images in [0, 1] -> logits); spec: the SPEC as given; fingerprint: sha256 of
    the weights; class_names: the model's own vocabulary when it has one."""

    module: nn.Module
    spec: str
    preprocess: Preprocess
    fingerprint: str
    class_names: Optional[Tuple[str, ...]] = None


def fingerprint(module: nn.Module) -> str:
    """sha256 over the state dict (names, dtypes, shapes, bytes): the identity of a model's weights."""
    h = hashlib.sha256(b"distortx-model-v1\0")
    for key, value in sorted(module.state_dict().items()):
        if isinstance(value, nn.parameter.UninitializedParameter):  # a lazy module before its first call
            h.update(f"{key}\0uninitialised\0".encode())
            continue
        t = value.detach().cpu().contiguous()
        h.update(f"{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# -- weights ---------------------------------------------------------------------------------------------
def read_weights(path: str) -> Dict[str, Tensor]:
    """A state dict from ``path`` through the one checkpoint reader (weights-only; a ``state_dict``/``model``
    entry is unwrapped, a DataParallel ``module.`` prefix dropped)."""
    from ...models.checkpoint import CheckpointError, read_state_dict

    if not os.path.isfile(path):
        raise ModelSpecError(f"weights file {path!r} does not exist")
    try:
        return read_state_dict(path, "weights")
    except CheckpointError as exc:
        raise ModelSpecError(str(exc)) from None


def classes_in_weights(state: Mapping[str, Tensor]) -> Optional[int]:
    """Number of classes = rows of the last weight with >= 2 dims (the final Linear or 1x1 conv)."""
    last = [v for k, v in state.items() if k.endswith("weight") and v.dim() >= 2]
    return int(last[-1].shape[0]) if last else None


def load_weights(net: nn.Module, state: Mapping[str, Tensor], what: str) -> None:
    from ...models.weights import load_state

    try:
        load_state(net, state, what)
    except DistortxError as exc:
        raise ModelSpecError(f"{exc} (same --num-classes?)") from None


def _seeded_build(build: Callable[[], nn.Module]) -> nn.Module:
    """Build under a fixed seed: a randomly initialised model is the same in every run."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build()


# -- the SPEC forms ----------------------------------------------------------------------------------------
def _torchvision(name: str, weights: Optional[str], num_classes: Optional[int]):
    import torchvision

    known = torchvision.models.list_models()
    if name not in known:
        raise UnknownNameError("torchvision model", name, known)
    state = read_weights(weights) if weights else None
    k = num_classes or (classes_in_weights(state) if state else None)
    net = _seeded_build(lambda: torchvision.models.get_model(name, weights=None, **({"num_classes": k} if k else {})))
    if state is not None:
        load_weights(net, state, f"weights {weights!r}")
    pre, names = Preprocess(), None
    try:
        meta = torchvision.models.get_model_weights(name).DEFAULT
        t = meta.transforms()
        categories = meta.meta.get("categories")
        pre = Preprocess(int(t.resize_size[0]), int(t.crop_size[0]), tuple(t.mean), tuple(t.std))
        out_k = k or (len(categories) if categories else None)
        if categories and out_k == len(categories):
            names = tuple(categories)
    except (ValueError, KeyError, AttributeError, TypeError, IndexError):
        pass  # no weight metadata for this architecture: the user states the preprocessing
    return net, pre, names


def _timm(name: str, weights: Optional[str], num_classes: Optional[int]):
    try:
        import timm
        from timm.data import resolve_data_config
    except ImportError:
        raise ModelSpecError("timm SPECs need timm: pip install timm") from None
    state = read_weights(weights) if weights else None
    k = num_classes or (classes_in_weights(state) if state else None)
    try:
        net = _seeded_build(lambda: timm.create_model(name, pretrained=False, **({"num_classes": k} if k else {})))
    except RuntimeError as exc:  # timm's "Unknown model (...)"
        raise ModelSpecError(f"timm cannot build {name!r} ({str(exc).splitlines()[0]})") from None
    if state is not None:
        load_weights(net, state, f"weights {weights!r}")
    cfg = resolve_data_config({}, model=net)
    crop = int(cfg["input_size"][-1])
    resize = int(crop / float(cfg.get("crop_pct", 1.0) or 1.0))
    return net, Preprocess(resize, crop, tuple(cfg["mean"]), tuple(cfg["std"])), None


def _distortx_checkpoint(path: str):
    if not os.path.exists(path):
        raise ModelSpecError(f"distortx checkpoint {path!r} does not exist (give a checkpoint file or a run folder)")
    from ...models.checkpoint import load_model

    net = load_model(path)
    size = (getattr(net, "config", None) or {}).get("image_size")
    pre = Preprocess(int(size), int(size)) if isinstance(size, int) else Preprocess()
    classes = getattr(net, "classes", None)
    return net, pre, tuple(classes) if classes else None


def _import_module(module: str):
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise ModelSpecError(f"no Python file {module!r}")
        name = f"_distortx_user_model_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelSpecError(f"cannot import module {module!r} ({exc})") from None


def _function(module: str, function: str, weights: Optional[str], num_classes: Optional[int]):
    fn = getattr(_import_module(module), function, None)
    if not callable(fn):
        raise ModelSpecError(f"module {module!r} has no function {function!r}")
    kwargs = {}
    if num_classes is not None:
        params = inspect.signature(fn).parameters
        if "num_classes" in params or any(p.kind == p.VAR_KEYWORD for p in params.values()):
            kwargs["num_classes"] = num_classes
    net = _seeded_build(lambda: fn(**kwargs))
    if not isinstance(net, nn.Module):
        raise ModelSpecError(f"{module}:{function}() returned a {type(net).__name__}, not a torch.nn.Module")
    if weights:
        load_weights(net, read_weights(weights), f"weights {weights!r}")
    return net, Preprocess(), None


def parse_spec(spec: str) -> Tuple[str, Tuple[str, ...]]:
    """(kind, parts) of a SPEC: kind in torchvision | timm | distortx | function."""
    text = str(spec).strip()
    if not text:
        raise ModelSpecError("empty model SPEC (give torchvision:NAME[:WEIGHTS], timm:NAME[:WEIGHTS], a checkpoint or module:function)")
    head, _, rest = text.partition(":")
    if head in ("torchvision", "timm"):
        name, _, weights = rest.partition(":")
        if not name:
            raise ModelSpecError(f"SPEC {text!r} names no {head} architecture ({head}:NAME[:WEIGHTS])")
        return head, (name, weights)
    if head == "distortx":
        return "distortx", (rest,)
    if os.path.isfile(text) or os.path.isdir(text):
        return "distortx", (text,)
    parts = text.split(":")
    if len(parts) in (2, 3) and all(parts[:2]):
        return "function", (parts[0], parts[1], parts[2] if len(parts) == 3 else "")
    raise ModelSpecError(f"cannot read model SPEC {text!r}: expected torchvision:NAME[:WEIGHTS], timm:NAME[:WEIGHTS], "
                         f"distortx:CHECKPOINT or module:function[:WEIGHTS]")


def load_model_spec(spec: str, device: Any = "cpu", num_classes: Optional[int] = None,
                    preprocess: Optional[Dict[str, Any]] = None) -> LoadedModel:
    """Build the classifier named by ``spec`` on ``device`` in eval mode (see the module docstring).

    preprocess: user-stated fields of :class:`Preprocess` (``"none"`` drops a step); they win over metadata.
    """
    kind, parts = parse_spec(spec)
    if kind == "torchvision":
        net, pre, names = _torchvision(parts[0], parts[1] or None, num_classes)
    elif kind == "timm":
        net, pre, names = _timm(parts[0], parts[1] or None, num_classes)
    elif kind == "distortx":
        net, pre, names = _distortx_checkpoint(parts[0])
    else:
        net, pre, names = _function(parts[0], parts[1], parts[2] or None, num_classes)
    pre = pre.overridden(**(preprocess or {}))
    for key in ("mean", "std"):
        value = getattr(pre, key)
        if value is not None and len(value) != 3:
            raise ModelSpecError(f"--{key} needs 3 numbers (one per RGB channel), got {len(value)}")
    if pre.std is not None and any(s <= 0 for s in pre.std):
        raise ModelSpecError(f"--std values must be positive, got {list(pre.std)}")
    adapter = ClassifierAdapter(net, pre.mean, pre.std).to(device).eval()
    return LoadedModel(adapter, str(spec), pre, fingerprint(net), names)


__all__ = ["ClassifierAdapter", "LoadedModel", "ModelSpecError", "Preprocess", "load_model_spec", "logits_of",
           "parse_spec"]
