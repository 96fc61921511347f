"""Built-in backbones and heads plugin. The model wave fills these registries; none are shipped yet."""
from ..hookspecs import hookimpl


@hookimpl
def distortx_backbones():
    return []


@hookimpl
def distortx_heads():
    return []
