"""The built-in catalogue, registered as an ordinary plugin through ``distortx_distortions``."""
from ..hookspecs import hookimpl
from . import blur, jpeg, jpeg2000, nlm, noise, tone, warp

FAMILIES = (noise, tone, blur, warp, jpeg, jpeg2000, nlm)


@hookimpl
def distortx_distortions():
    return [spec for family in FAMILIES for spec in family.SPECS]
