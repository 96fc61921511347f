"""Export of an assembled model up to its raw head outputs (``torch.export``; ONNX when onnxscript exists).

The exported graph is :meth:`DistortxModel.raw_outputs`: normalisation, backbone and heads, returning
(logits?, loc?, conf?, params?) in that order. Default boxes and post-processing stay outside: rebuild the
priors with ``model.heads["detection"].priors(...)`` (or read them from an eager forward) and decode with
:func:`distortx.ops.ssd_postprocess`.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn

from ..errors import DistortxError
from .model import DistortxModel


class RawOutputs(nn.Module):
    """Wraps a :class:`DistortxModel`; forward(images Tensor[N, 3, H, W]) -> tuple of its heads' raw tensors."""

    def __init__(self, model: DistortxModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tuple[Tensor, ...]:
        return self.model.raw_outputs(images)


def output_names(model: DistortxModel) -> Tuple[str, ...]:
    """Names of the exported outputs, in order."""
    names = {"classification": ("logits",), "detection": ("loc", "conf"), "regression": ("params",)}
    return tuple(n for task in model.heads for n in names[task])


def export_model(model: DistortxModel, image_size: Optional[int] = None, batch_size: int = 2,
                 dynamic_batch: bool = True) -> "torch.export.ExportedProgram":
    """``torch.export`` of the eval-mode model's raw outputs on float images [B, 3, S, S] (S = ``image_size``,
    default the model's); the batch dimension is dynamic unless ``dynamic_batch=False``."""
    size = int(image_size or model.config.get("image_size", 300))
    was_training = model.training
    model.eval()
    try:
        example = (torch.rand(batch_size, 3, size, size, device=next(model.parameters()).device),)
        shapes = None
        if dynamic_batch:
            shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},)
        return torch.export.export(RawOutputs(model), example, dynamic_shapes=shapes)
    finally:
        model.train(was_training)


def save_exported(program: "torch.export.ExportedProgram", path: Union[str, os.PathLike]) -> None:
    """Write an exported program (``.pt2``) atomically."""
    tmp = f"{os.fspath(path)}.tmp"
    torch.export.save(program, tmp)
    os.replace(tmp, path)


def load_exported(path: Union[str, os.PathLike]) -> "torch.export.ExportedProgram":
    """Read a program written by :func:`save_exported`; call ``.module()(images)`` on it."""
    try:
        return torch.export.load(path)
    except FileNotFoundError:
        raise DistortxError(f"no exported model at {os.fspath(path)!r}") from None


def export_onnx(model: DistortxModel, path: Union[str, os.PathLike], image_size: Optional[int] = None) -> None:
    """ONNX export of the raw outputs (needs the ``onnx`` and ``onnxscript`` packages; dynamic batch)."""
    size = int(image_size or model.config.get("image_size", 300))
    was_training = model.training
    model.eval()
    try:
        example = (torch.rand(2, 3, size, size, device=next(model.parameters()).device),)
        kwargs = dict(input_names=["images"], output_names=list(output_names(model)))
        try:  # torch >= 2.5: the torch.export-based exporter
            torch.onnx.export(RawOutputs(model).eval(), example, os.fspath(path), dynamo=True,
                              dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},), **kwargs)
        except TypeError:  # older torch: the TorchScript exporter
            torch.onnx.export(RawOutputs(model).eval(), example, os.fspath(path), dynamic_axes={"images": {0: "batch"}},
                              **kwargs)
    except ImportError as exc:
        raise DistortxError(f"ONNX export needs the onnx and onnxscript packages ({exc}); use export_model instead") from None
    finally:
        model.train(was_training)
