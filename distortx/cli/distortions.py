"""`distortx distortions list`, `distortx distort`, `distortx catalogue`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from .main import main


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


def summarize_levels(values, continuous: bool, longest: int = 6) -> str:
    """A level set in a few characters: "U[5, 30]", "1.5, 3, 6", "100..1 step -1 (100 levels)",
    or "a, b, c, ..., y, z (n levels)" for a long irregular grid."""
    if continuous:
        return f"U[{min(values):g}, {max(values):g}]"
    if len(values) <= longest:
        return ", ".join(format(v, "g") for v in values)
    steps = {round(b - a, 9) for a, b in zip(values, values[1:])}
    if len(steps) == 1:
        return f"{values[0]:g}..{values[-1]:g} step {steps.pop():g} ({len(values)} levels)"
    return (", ".join(format(v, "g") for v in values[:3]) + ", ..., "
            + ", ".join(format(v, "g") for v in values[-2:]) + f" ({len(values)} levels)")


def short_source(text: str) -> str:
    """"Ahn, Kang, Sohn - Image Distortion ...; Dodge, Karam - ..." -> "Ahn, Kang, Sohn; Dodge, Karam"."""
    return "; ".join(part.split(" - ")[0].strip() for part in text.split(";"))


def describe_parameters(r: dict) -> str:
    """"sigma in [0, 20]", and the secondary parameters: "length in [0, 100] (+ angle in [0, 180])"."""
    ps = [f"{p['name']} in [{p['low']:g}, {p['high']:g}]" for p in r["parameters"]]
    return ps[0] + (f" (+ {', '.join(ps[1:])})" if len(ps) > 1 else "")


@distortions.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (every level of every set).")
def distortions_list(as_json: bool) -> None:
    """Name, parameters and ranges, level sets and source paper of every distortion."""
    from ..registry import get_distortion, list_distortions

    rows = [describe(get_distortion(n)) for n in list_distortions()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        sets = "; ".join(f"{k}: {summarize_levels(v['values'], v['continuous'])}" for k, v in r["level_sets"].items())
        click.echo(f"{r['name']:<22} {describe_parameters(r)}   {sets}   ({short_source(r['source']) or r['plugin']})")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--type", "name", required=True, help="Distortion name (see `distortx distortions list`; any case).")
@click.option("--level", type=int, default=None,
              help="Level index in a discrete level set (0 = mildest); continuous sets take --param.")
@click.option("--levels", default=None, help="Level set name (default: the distortion's default).")
@click.option("--param", type=float, default=None, help="The severity parameter's value itself.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quality", type=int, default=95, show_default=True,
              help="Quality (1..100) when DST is a JPEG or WebP file (lossy: a PNG DST keeps the result exact).")
def distort(src: Path, dst: Path, name: str, level: Optional[int], levels: Optional[str], param: Optional[float],
            seed: int, quality: int) -> None:
    """Distort image SRC and write DST (format from its suffix; PNG keeps it lossless)."""
    from ..functional import distort as distort_image
    from ..errors import ParameterError
    from ..io import LOSSY_FORMATS, check_writable, image_format, read_image, save_image, to_float_image

    if (level is None) == (param is None):
        raise ParameterError("give exactly one of --level or --param")
    fmt = image_format(dst)  # an unknown suffix or an unwritable place fails before any work
    check_writable(dst)
    image = to_float_image(read_image(src))
    out = distort_image(image, name.lower(), level=level, levels=levels, value=param, seed=seed)
    save_image(dst, out, quality=quality)
    note = f" ({fmt} quality {quality}: lossy; use .png for the exact result)" if fmt in LOSSY_FORMATS else ""
    click.echo(f"wrote {dst}{note}")


@main.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("catalogue.png"), show_default=True)
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Your own photo instead of the embedded sample.")
@click.option("--size", type=int, default=160, show_default=True, help="Tile side in pixels (16..1024).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def catalogue(out: Path, image: Optional[Path], size: int, seed: int, as_json: bool, quiet: bool) -> None:
    """Contact sheet: every distortion at every level of its default level set, labelled."""
    from ..catalogue import render_catalogue
    from ..io import read_image

    img = read_image(image) if image is not None else None
    n = render_catalogue(out, image=img, tile=size, seed=seed, progress=not quiet)
    click.echo(json.dumps({"out": str(out), "tiles": n}) if as_json else f"wrote {out} ({n} tiles)")
