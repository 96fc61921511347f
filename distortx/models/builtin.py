"""Built-in backbones and heads, registered through ``distortx_backbones`` / ``distortx_heads`` (the same
hooks plugins use). No pretrained weights are downloaded: every backbone takes ``weights=PATH``.
"""
from __future__ import annotations

from ..hookspecs import hookimpl
from . import backbones as bb
from . import heads
from .spec import BackboneSpec, HeadSpec


@hookimpl
def distortx_backbones():
    return [
        BackboneSpec("dx_small", bb.dx_small, channels=(96, 160, 256), strides=(8, 16, 32),
                     description="distortx's small depthwise-separable net (0.2 M params), the default; CPU-trainable"),
        BackboneSpec("simple_cnn", bb.simple_cnn, channels=(256,), strides=(8,),
                     description="4 conv-BN-ReLU blocks, one map"),
        BackboneSpec("iqa_cnn", bb.iqa_cnn, channels=(800,), strides=(32,),
                     description="Kang et al.'s IQA-CNN+ (Ahn's baseline): 50 7x7 kernels, min+max pool, FC 800 x2"),
        BackboneSpec("vgg16", bb.vgg16, channels=(256, 512, 512, 512), strides=(4, 8, 16, 32),
                     description="torchvision VGG-16: conv3_3, conv4_3, conv5_3, pool5"),
        BackboneSpec("atrous_vgg16", bb.atrous_vgg16, channels=(512, 1024), strides=(8, 16),
                     description="SSD's atrous VGG-16: L2Norm(conv4_3), fc7 (dilated fc6)"),
        BackboneSpec("resnet18", bb.resnet18, channels=(64, 128, 256, 512), strides=(4, 8, 16, 32),
                     description="torchvision ResNet-18 layer1..4"),
        BackboneSpec("resnet50", bb.resnet50, channels=(256, 512, 1024, 2048), strides=(4, 8, 16, 32),
                     description="torchvision ResNet-50 layer1..4"),
        BackboneSpec("resnet101", bb.resnet101, channels=(256, 512, 1024, 2048), strides=(4, 8, 16, 32),
                     description="torchvision ResNet-101 layer1..4"),
    ]


@hookimpl
def distortx_heads():
    return [
        HeadSpec("classifier", heads.classifier, task="classification", consumes="last",
                 description="global average pool + dropout + FC"),
        HeadSpec("pyramid_classifier", heads.pyramid_classifier, task="classification", consumes="all",
                 description="mean + std of every channel of every map, then an MLP (default model v2)"),
        HeadSpec("ssd", heads.ssd, task="detection", consumes="all",
                 description="SSD: extra layers to 1x1, multibox convs, default boxes, MultiBoxLoss, fused NMS"),
    ]
