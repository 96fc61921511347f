"""Built-in backbones: each module maps float Tensor[N, 3, H, W] to a list of feature maps, shallow -> deep.

Every builder takes ``weights=PATH`` (a user state dict; nothing is downloaded) and returns a module whose
``channels`` / ``strides`` attributes match the :class:`~distortx.models.spec.BackboneSpec` it is registered
with (see :mod:`distortx.models.builtin`).
"""
from .dx_small import dx_small
from .iqa_cnn import iqa_cnn
from .resnet import resnet18, resnet50, resnet101
from .simple_cnn import simple_cnn
from .vgg import L2Norm, atrous_vgg16, vgg16

__all__ = ["L2Norm", "atrous_vgg16", "dx_small", "iqa_cnn", "resnet18", "resnet50", "resnet101", "simple_cnn",
           "vgg16"]
