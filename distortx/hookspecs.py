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
    """Feature extractors for the model assembler (:func:`distortx.create_model`).

    Called once when the plugin manager is built. Return :class:`distortx.BackboneSpec` objects whose
    ``build(**kwargs)`` makes an ``nn.Module`` mapping normalised images ``Tensor[N, 3, H, W]`` to a list of
    feature maps, shallow -> deep; ``channels`` and ``strides`` declare each map's channels and stride
    (0 = let the assembler measure it). A classifier reads the last map, the SSD head the maps with
    stride >= 8 (adding its own extra layers down to 1x1), so the backbone then works in every architecture
    ("classifier", "detector", "ynet"). ``build`` should accept ``weights=PATH`` (see
    :func:`distortx.models.weights.load_weights`).

    Example::

        import torch.nn as nn
        from distortx import BackboneSpec, hookimpl

        class TinyNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Sequential(nn.Conv2d(3, 16, 3, stride=4, padding=1), nn.ReLU())
                self.b = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
                self.c = nn.Sequential(nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU())

            def forward(self, x):
                s8 = self.b(self.a(x))
                return [s8, self.c(s8)]

        @hookimpl
        def distortx_backbones():
            return [BackboneSpec(name="tiny_net", build=lambda **kw: TinyNet(), channels=(32, 64), strides=(8, 16))]

        # then: distortx.create_model("ynet", backbone="tiny_net")
    """


@hookspec
def distortx_heads() -> Iterable["distortx.HeadSpec"]:  # noqa: F821
    """Task heads (classification, SSD detection, parameter regression) for the model assembler.

    Called once when the plugin manager is built. Return :class:`distortx.HeadSpec` objects whose
    ``build(in_channels, num_classes=K, **kwargs)`` makes an ``nn.Module``; ``in_channels`` is the tuple of
    the backbone's map channels, and ``strides``, ``feature_sizes``, ``image_size`` are passed when ``build``
    names them. ``consumes="last"`` heads get the deepest map, ``consumes="all"`` heads the list of maps.
    ``task`` says what the module returns: "classification" -> logits ``Tensor[N, K]`` (K counts the "clean"
    class too), "detection" -> ``(loc [N, P, 4], conf [N, P, K])`` plus ``priors``, ``loss`` and
    ``postprocess`` methods (see :class:`distortx.models.heads.ssd.SSDHead`), "regression" -> ``Tensor[N, P]``.

    Example::

        import torch.nn as nn
        from distortx import HeadSpec, hookimpl

        def mlp_head(in_channels, num_classes, hidden=128):
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels[-1], hidden),
                                 nn.ReLU(), nn.Linear(hidden, num_classes))

        @hookimpl
        def distortx_heads():
            return [HeadSpec(name="mlp", task="classification", consumes="last", build=mlp_head)]

        # then: distortx.create_model("classifier", head="mlp", head_kwargs={"hidden": 64})
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
