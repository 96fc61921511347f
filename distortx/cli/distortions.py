"""`distortx distortions list`, `distortx distort`, `distortx catalogue`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from . import main


@main.group()
def distortions() -> None:
    """Inspect the distortion catalogue."""


def describe(spec) -> dict:
    """JSON-ready description of a DistortionSpec."""
    return {
        "name": spec.name,
        "parameters": [
            {"name": p.name, "low": p.low, "high": p.high, "integer": p.integer, "doc": p.doc} for p in spec.parameters
        ],
        "parameter": spec.parameters[0].name,
        "range": [spec.parameters[0].low, spec.parameters[0].high],
        "level_sets": {ls.name: {"values": list(ls.values), "continuous": ls.continuous, "source": ls.source} for ls in spec.levels},
        "default_levels": spec.default_levels,
        "severity": spec.severity,
        "source": spec.source,
        "description": spec.description,
        "native": spec.native_code is not None,
        "plugin": spec.plugin,
    }


@distortions.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def distortions_list(as_json: bool) -> None:
    """Name, parameter, range, level sets and source paper of every distortion."""
    import distortx

    rows = [describe(distortx.get_distortion(n)) for n in distortx.list_distortions()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        sets = "; ".join(
            f"{k}: {'U[' + format(min(v['values']), 'g') + ', ' + format(max(v['values']), 'g') + ']' if v['continuous'] else ', '.join(format(x, 'g') for x in v['values'])}"
            for k, v in r["level_sets"].items()
        )
        click.echo(f"{r['name']:<22} {r['parameter']} in [{r['range'][0]:g}, {r['range'][1]:g}]   {sets}   ({r['source'] or r['plugin']})")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--type", "name", required=True, help="Distortion name (see `distortx distortions list`).")
@click.option("--level", type=int, default=None, help="Level index in the level set (0 = mildest).")
@click.option("--levels", default=None, help="Level set name (default: the distortion's default).")
@click.option("--param", type=float, default=None, help="The severity parameter's value itself.")
@click.option("--seed", type=int, default=0, show_default=True)
def distort(src: Path, dst: Path, name: str, level: Optional[int], levels: Optional[str], param: Optional[float], seed: int) -> None:
    """Distort image SRC and write DST (PNG keeps it lossless)."""
    import distortx
    from ..io import read_image, save_image, to_float_image

    if (level is None) == (param is None):
        raise distortx.ParameterError("give exactly one of --level or --param")
    image = to_float_image(read_image(src))
    out = distortx.distort(image, name, level=level, levels=levels, value=param, seed=seed)
    save_image(dst, out)
    click.echo(f"wrote {dst}")


@main.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("catalogue.png"), show_default=True)
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Your own photo instead of the embedded sample.")
@click.option("--size", type=int, default=160, show_default=True, help="Tile side in pixels.")
@click.option("--seed", type=int, default=0, show_default=True)
def catalogue(out: Path, image: Optional[Path], size: int, seed: int) -> None:
    """Contact sheet: every distortion at every level of its default level set, labelled."""
    from ..catalogue import render_catalogue
    from ..io import read_image

    img = read_image(image) if image is not None else None
    n = render_catalogue(out, image=img, tile=size, seed=seed, progress=True)
    click.echo(f"wrote {out} ({n} tiles)")
