"""The plugin contract: the hooks a distortx plugin may implement.

A plugin is a module (or object) with functions decorated by :data:`distortx.hookimpl` and named after the
specs below. Each hook takes no arguments and returns an iterable of small typed spec objects; the plugin
manager (:mod:`distortx.plugins`) flattens, validates and indexes them by name. Built-in components are
registered through these same hooks. Third-party packages declare their module in ``pyproject.toml``::

    [project.entry-points.distortx]
    vignette = "distortx_vignette.plugin"

Set ``DISTORTX_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points (built-ins still load).
"""
from __future__ import annotations

from typing import Iterable

import pluggy

PROJECT = "distortx"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def distortx_distortions() -> Iterable["distortx.DistortionSpec"]:  # noqa: F821
    """Distortion types this plugin adds.

    Called once when the plugin manager is built. Return :class:`distortx.DistortionSpec` objects; each
    needs a unique lower-case ``name``, parameters with finite ranges, level values inside the range of the
    first parameter, and a batched ``reference(images, values, seed)`` on float ``N,C,H,W`` tensors.

    Example::

        from distortx import DistortionSpec, Parameter, LevelSet, hookimpl

        def _invert(images, values, seed):
            a = values[:, 0].view(-1, 1, 1, 1)
            return (1 - a) * images + a * (1 - images)

        @hookimpl
        def distortx_distortions():
            return [DistortionSpec(name="invert", parameters=(Parameter("amount", 0.0, 1.0),),
                                   reference=_invert, levels=(LevelSet("demo", (0.25, 0.5, 1.0)),),
                                   identity=0.0)]
    """


@hookspec
def distortx_backbones() -> Iterable["distortx.BackboneSpec"]:  # noqa: F821
    """Feature extractors for the model assembler.

    Called once when the plugin manager is built. Return :class:`distortx.BackboneSpec` objects whose
    ``build(**kwargs)`` makes an ``nn.Module`` mapping ``Tensor[N, 3, H, W]`` to features with
    ``out_channels`` channels.

    Example::

        import torch.nn as nn
        from distortx import BackboneSpec, hookimpl

        @hookimpl
        def distortx_backbones():
            return [BackboneSpec(name="tiny_cnn", out_channels=16,
                                 build=lambda **kw: nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()))]
    """


@hookspec
def distortx_heads() -> Iterable["distortx.HeadSpec"]:  # noqa: F821
    """Task heads (classification, SSD detection, parameter estimation) for the model assembler.

    Called once when the plugin manager is built. Return :class:`distortx.HeadSpec` objects whose
    ``build(in_channels, **kwargs)`` makes an ``nn.Module`` consuming the backbone's features.

    Example::

        import torch.nn as nn
        from distortx import HeadSpec, hookimpl

        @hookimpl
        def distortx_heads():
            return [HeadSpec(name="linear", task="classification",
                             build=lambda in_channels, num_classes=9: nn.Sequential(
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)))]
    """


@hookspec
def distortx_presets() -> Iterable["distortx.PresetSpec"]:  # noqa: F821
    """Dataset protocols usable as ``distortx generate --preset NAME``.

    Called once when the plugin manager is built. Return :class:`distortx.PresetSpec` objects; every
    distortion they name must be registered (by this or another plugin).

    Example::

        from distortx import PresetSpec, hookimpl

        @hookimpl
        def distortx_presets():
            return [PresetSpec(name="blur-only", task="classification", distortions=("gaussian_blur",),
                               level_sets=(("gaussian_blur", "ahn"),), crop=128)]
    """
