"""The one checkpoint format of distortx, and its one reader.

Every model file distortx writes (a ``distortx train`` run's last.pt / best.pt / model.pt, the shipped default
Y-net, the shipped estimators) is a ``torch.save`` file holding only tensors and plain Python values (dict,
list, str, int, float, bool, None), so ``torch.load(..., weights_only=True)`` reads it and a file that smuggles
pickled objects is refused. Keys:

    format "distortx-checkpoint", version 1
    model         the state dict
    model_config  ``model.config``: ``create_model(**model_config)`` rebuilds the architecture
    classes, det_classes   the vocabulary (names of the logits / detection columns; absent for estimators)
    meta          notes on how it was made (shipped weights: data, command, results)
    step, optimizer, data_state, rng, config, metrics, best   (training state; absent in exported weights)

:func:`read_checkpoint` is the one reader: a checkpoint file or a run folder (best.pt, model.pt, last.pt).
:func:`read_state_dict` reads a bare state dict too (a user's ``torch.save(model.state_dict())``, a
``{"state_dict": ...}`` dict); both strip the ``module.`` (DataParallel/DDP) and ``_orig_mod.``
(torch.compile) prefixes. :func:`shipped_weights` finds weights shipped inside the package.

Writing goes to a temporary file in the same folder, is flushed to disk, then renamed over the target: a
crash or a full disk leaves the previous checkpoint intact.
"""
from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from torch import Tensor

import torch

from ..errors import DistortxError

FORMAT = "distortx-checkpoint"
VERSION = 1
PathLike = Union[str, os.PathLike]
#: File names inside a run folder.
LAST, BEST, MODEL = "last.pt", "best.pt", "model.pt"


class CheckpointError(DistortxError):
    """A checkpoint that cannot be written, read, or does not fit the model."""


def save_checkpoint(state: Mapping[str, Any], path: PathLike) -> Path:
    """Write ``state`` (plus format/version) to ``path`` atomically; returns the path.

    On any failure (disk full, permission) the temporary file is removed, the previous file at ``path`` is
    untouched, and a :class:`CheckpointError` says so.
    """
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        kept = f"; the previous {path.name} is kept" if path.exists() else ""
        raise CheckpointError(f"cannot write checkpoint {path}: {exc}{kept}") from exc
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def resolve_checkpoint(path: PathLike) -> Path:
    """A checkpoint file, or the best one of a run folder (best.pt, then model.pt, then last.pt)."""
    p = Path(path)
    if p.is_dir():
        for name in (BEST, MODEL, LAST):
            if (p / name).is_file():
                return p / name
        raise CheckpointError(f"{p}: a folder without {BEST}, {MODEL} or {LAST}; give a run folder of "
                              "`distortx train` or a checkpoint file")
    if not p.is_file():
        raise CheckpointError(f"no such checkpoint: {p}")
    return p


def _torch_load(p: Path, map_location) -> Any:
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {p}: {exc}") from exc
    if data[:2] != b"PK" and data[:1] != b"\x80":  # neither torch.save's zip nor a legacy pickle
        raise CheckpointError(f"{p} is not a torch.save file; expected a weights-only state dict or distortx checkpoint")
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{p} holds pickled objects other than tensors and plain values; refusing to "
                              f"load it (checkpoints are read weights-only): {str(exc).splitlines()[0]}") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"{p} is not a readable checkpoint (truncated or corrupt?): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    return state


def strip_prefixes(state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """``state`` without the ``module.`` (DataParallel / DDP) and ``_orig_mod.`` (torch.compile) key prefixes."""
    out = dict(state)
    for prefix in ("module.", "_orig_mod."):
        if out and all(k.startswith(prefix) for k in out):
            out = {k[len(prefix):]: v for k, v in out.items()}
    return out


def read_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (weights only: no code is unpickled); ``path`` a
    file or a run folder. The result also holds ``path``, the file actually read."""
    p = resolve_checkpoint(path)
    state = _torch_load(p, map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a distortx checkpoint (no format tag {FORMAT!r}); model weights "
                              "alone load with create_model(...).load_weights(path)")
    if int(state.get("version", 0)) > VERSION:
        raise CheckpointError(f"{p} has checkpoint version {state['version']}, newer than this distortx "
                              f"reads ({VERSION}); upgrade distortx")
    if "model" not in state or "model_config" not in state:
        raise CheckpointError(f"{p} holds no model weights or config")
    state["model"] = strip_prefixes(state["model"])
    state["path"] = str(p)
    return state


def read_state_dict(path: PathLike, what: str = "weights") -> Dict[str, Tensor]:
    """The state dict in ``path``: a distortx checkpoint's ``model``, or a bare state dict file (also inside a
    ``state_dict`` / ``model`` entry), prefixes stripped. One-line CheckpointError otherwise."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{what}: no file {os.fspath(path)!r}; give the path of a checkpoint or saved state dict")
    try:
        state = _torch_load(p, "cpu")
    except CheckpointError as exc:
        raise CheckpointError(f"{what}: cannot read {exc}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{what}: {os.fspath(path)!r} holds no state dict (a mapping of names to tensors)")
    return strip_prefixes(state)


def shipped_weights(relpath: str) -> Path:
    """A weights file shipped inside the package (``relpath`` under ``distortx/``, e.g. "weights/x.pt")."""
    ref = resources.files("distortx").joinpath(*relpath.split("/"))
    if not ref.is_file():
        raise CheckpointError(f"the shipped weights distortx/{relpath} are missing from this install; reinstall "
                              "distortx, or give a checkpoint of `distortx train`")
    return Path(str(ref))


def model_from_checkpoint(state: Mapping[str, Any]):
    """The model a loaded checkpoint describes, with its weights, in eval mode."""
    from .registry import create_model

    config = dict(state["model_config"])
    try:
        model = create_model(**config)
    except DistortxError as exc:
        raise CheckpointError(f"{state.get('path', 'checkpoint')}: cannot rebuild its model: {exc}") from exc
    try:
        model.load_weights(state["model"])
    except DistortxError as exc:
        raise CheckpointError(f"{state.get('path', 'checkpoint')}: {exc}") from exc
    model.calibration = dict(state.get("calibration") or {})   # e.g. the verdict thresholds chosen on val
    return model.eval()


def load_model(path: PathLike, device: Optional[Union[str, torch.device]] = None):
    """A trained model from a checkpoint file or run folder, in eval mode (on ``device`` if given)."""
    model = model_from_checkpoint(read_checkpoint(path))
    return model.to(device) if device is not None else model


def export_weights(state: Mapping[str, Any], path: PathLike, dtype: Optional[torch.dtype] = None) -> Path:
    """Write the inference part of a checkpoint (model, config, vocabulary, metrics) to ``path``;
    ``dtype`` (e.g. torch.float16) shrinks floating-point weights for shipping."""
    weights = state["model"]
    if dtype is not None:
        weights = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in weights.items()}
    keep = {k: state[k] for k in ("model_config", "classes", "det_classes", "metrics", "step", "config", "meta",
                                  "calibration") if k in state}
    return save_checkpoint({"model": weights, **keep}, path)
