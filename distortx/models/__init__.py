"""Models: multi-scale backbones and task heads registered through plugin hooks, assembled by name.

    import distortx
    model = distortx.create_model("ynet", backbone="atrous_vgg16")     # classify + SSD-detect distortions
    out = model(images)                                                  # float Tensor[N, 3, 300, 300] in [0, 1]
    distortx.list_models(), distortx.list_backbones(), distortx.list_heads()

See :mod:`distortx.models.assemble` (architectures), :mod:`.spec` (the plugin contract), :mod:`.heads.ssd`.
"""
from .model import DistortxModel
from .output import ModelOutput
from .registry import create_model, list_backbones, list_heads, list_models, model_entrypoint, register_model
from .spec import BackboneSpec, HeadSpec

__all__ = ["BackboneSpec", "DistortxModel", "HeadSpec", "ModelOutput", "create_model", "list_backbones",
           "list_heads", "list_models", "model_entrypoint", "register_model"]
