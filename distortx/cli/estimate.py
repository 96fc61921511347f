"""`distortx estimate`: a JPEG quality or a noise sigma estimated from an image's pixels."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from .main import main


@main.command()
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--what", type=click.Choice(["jpeg_quality", "noise_sigma"]), default="jpeg_quality", show_default=True,
              help="Which degradation parameter to estimate.")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the per-pixel estimate as a colour PNG (dark = low, yellow = high).")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="An estimator checkpoint, or a `distortx train` run folder of arch param_estimator "
                   "(default: the estimator shipped with distortx).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, ...")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def estimate(image: Path, what: str, map_path: Optional[Path], weights: Optional[Path], device: str, as_json: bool) -> None:
    """Estimate IMAGE's JPEG quality (1..100) or Gaussian noise sigma (0..255 scale) with Endo/Uchida's CNN.

    For a JPEG file the quality its own quantisation tables say is printed too (exact for libjpeg/Pillow
    files); the CNN estimate is what remains once an image was decoded and re-saved.
    """
    from ..errors import DistortxError
    from ..estimation import estimate as run_estimate, get_target, quality_from_jpeg
    from ..estimation.render import colorize
    from ..io import read_image, save_image

    img = read_image(image)
    value, maps = run_estimate(img, what=what, return_map=True, weights=str(weights) if weights else None,
                                    device=device)
    target = get_target(what)
    pixel = maps[0]
    result = {"image": str(image), "what": what, "estimate": round(float(value[0]), 2),
              "map_min": round(float(pixel.min()), 2), "map_max": round(float(pixel.max()), 2)}
    if what == "jpeg_quality":
        try:
            tq = quality_from_jpeg(image)
            result["quantisation_tables"] = {"quality": tq.quality, "exact": tq.exact}
        except DistortxError:
            result["quantisation_tables"] = None
    if map_path is not None:
        high = 100.0 if what == "jpeg_quality" else 50.0
        low = 1.0 if what == "jpeg_quality" else 0.0
        save_image(map_path, colorize(pixel, low, high))
        result["map"] = {"path": str(map_path), "colour_range": [low, high]}
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{image}: {target.unit} ~ {result['estimate']:.1f}  (per-pixel map {result['map_min']:.1f} .. {result['map_max']:.1f})")
    tables = result.get("quantisation_tables")
    if tables:
        note = "exact IJG tables" if tables["exact"] else "nearest IJG quality; not an IJG encoder's tables"
        click.echo(f"  the file's quantisation tables say quality {tables['quality']} ({note})")
    if map_path is not None:
        click.echo(f"  map written to {map_path} (dark purple = {low:g}, yellow = {high:g})")
