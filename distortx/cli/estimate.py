"""`distortx estimate`: a JPEG quality or a noise sigma estimated from images' pixels (files, folders, globs)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import click

from .main import main

#: a JPEG file whose pixels read more than this many quality points away from its tables was re-saved
RESAVED_GAP = 10.0


def _one(name: str, image, what: str, weights: Optional[str], device: str, map_png: Optional[Path],
         out: Optional[Path]) -> Dict[str, Any]:
    """The estimate of one image as a JSON-able record; writes its maps (PNG, .npy) when asked."""
    import numpy as np

    from ..errors import DistortxError
    from ..estimation import estimate as run_estimate, quality_from_jpeg
    from ..estimation.render import colorize
    from ..io import save_image

    value, maps = run_estimate(image, what=what, return_map=True, weights=weights, device=device, method="cnn")
    pixel = maps[0]
    rec: Dict[str, Any] = {"image": name, "what": what, "estimate": round(float(value[0]), 2),
                           "map_min": round(float(pixel.min()), 2), "map_max": round(float(pixel.max()), 2)}
    if what == "jpeg_quality":
        from ..estimation import read_jpeg_history

        rec["cnn"] = rec["estimate"]
        reading = read_jpeg_history(image)
        if reading is not None:
            rec["pixels_lattice"] = {"quality": reading.quality, "jpeg_history": reading.is_jpeg,
                                     "evidence": round(reading.evidence, 3), "grid_offset": list(reading.offset),
                                     "spread": reading.spread}
            if reading.is_value:  # what distortx.estimate gives: the lattice where it fits the pixels
                rec["estimate"] = reading.quality
        try:
            tq = quality_from_jpeg(name)
            rec["quantisation_tables"] = {"quality": tq.quality, "exact": tq.exact}
            rec["resaved"] = abs(rec["cnn"] - tq.quality) > RESAVED_GAP  # the CNN sees an earlier, heavier history
        except (DistortxError, OSError):
            rec["quantisation_tables"] = None
    if what == "noise_sigma":
        from ..estimation.api import statistic_reading

        rec["cnn"] = rec["estimate"]
        stat = statistic_reading(image, what, "auto")  # what distortx.estimate gives: the blend of the two readings
        if stat.detail is not None:
            rec["patch_statistic"] = {"sigma": round(stat.detail.sigma, 2), "patches": stat.detail.patches,
                                      "kept_variance": round(stat.detail.kept_variance, 3)}
            rec["estimate"] = round(stat.with_cnn(float(value[0])), 2)
        from ..estimation.noise_flat import MIN_SIDE, read_flat_noise

        if min(image.shape[-2:]) >= MIN_SIDE:
            flat = read_flat_noise(image)
            rec["flat_patches"] = {"sigma": round(flat.sigma, 2), "patches": flat.patches}
    low, high = (1.0, 100.0) if what == "jpeg_quality" else (0.0, 50.0)
    targets = [map_png] if map_png is not None else []
    if out is not None:
        stem = out / f"{Path(name).stem}_{what}"
        np.save(stem.with_suffix(".npy"), pixel.numpy().astype(np.float32))
        targets.append(stem.with_suffix(".png"))
        rec["map_npy"] = str(stem.with_suffix(".npy"))
    for t in targets:
        save_image(t, colorize(pixel, low, high))
    if targets:
        rec["map"] = {"paths": [str(t) for t in targets], "colour_range": [low, high]}
    return rec


def _text(rec: Dict[str, Any]) -> str:
    from ..estimation import get_target

    lines = [f"{rec['image']}: {get_target(rec['what']).unit} ~ {rec['estimate']:.1f}  "
             f"(per-pixel map {rec['map_min']:.1f} .. {rec['map_max']:.1f})"]
    lattice = rec.get("pixels_lattice")
    if lattice is not None and lattice["jpeg_history"]:
        off = lattice["grid_offset"]
        lines.append(f"  the pixels' DCT lattice reads quality {lattice['quality']:.0f}"
                     + (f" +- {lattice['spread']:.0f}" if lattice["spread"] else "")
                     + (f" (8 x 8 grid shifted by {off[0]}, {off[1]}: cropped after decoding)" if any(off) else "")
                     + f"; the CNN reads {rec['cnn']:.1f}")
    elif lattice is not None:
        lines.append("  the pixels show no JPEG history (never a JPEG, or hidden by noise, blur or resizing): "
                     + (f"their lattice fits best at quality {lattice['quality']:.0f}, no quantisation to speak of"
                        f"; the CNN reads {rec['cnn']:.1f}" if rec["estimate"] != rec["cnn"] else "the CNN's reading"))
    stat = rec.get("patch_statistic")
    if stat is not None:
        lines.append(f"  patch statistics read sigma {stat['sigma']:.1f} (white noise"
                     + (f"; {100 * (1 - stat['kept_variance']):.0f} % of its variance cut by clipping, undone"
                        if stat["kept_variance"] < 0.99 else "")
                     + f"), the CNN {rec['cnn']:.1f}; the estimate blends the two")
    flat = rec.get("flat_patches")
    if flat is not None:
        lines.append(f"  the flattest patches read sigma {flat['sigma']:.1f} (noise of any spectrum, as a camera's: "
                     "distortx predict's noise measurement; an upper bound where the photo has no flat part)")
    tables = rec.get("quantisation_tables")
    if tables:
        note = "exact IJG tables" if tables["exact"] else "nearest IJG quality; not an IJG encoder's tables"
        lines.append(f"  the file's quantisation tables say quality {tables['quality']} ({note})"
                     + ("; the CNN reads an earlier, heavier compression: the image was re-saved" if rec.get("resaved") else ""))
    if "map" in rec:
        low, high = rec["map"]["colour_range"]
        lines.append(f"  map written to {', '.join(rec['map']['paths'])} (dark purple = {low:g}, yellow = {high:g})")
    return "\n".join(lines)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--what", type=click.Choice(["jpeg_quality", "noise_sigma"]), default="jpeg_quality", show_default=True,
              help="Which degradation parameter to estimate.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for each image's per-pixel map: <name>_<what>.png (colour) and .npy (values).")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With one image: write its per-pixel map as a colour PNG here (dark = low, yellow = high).")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="An estimator checkpoint, or a `distortx train` run folder of arch param_estimator "
                   "(default: the estimator shipped with distortx).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, ...")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (one record per image; a list for many).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def estimate(inputs, what: str, out: Optional[Path], map_path: Optional[Path], weights: Optional[Path], device: str,
             as_json: bool, quiet: bool) -> None:
    """Estimate the JPEG quality (1..100) or Gaussian noise sigma (0..255 scale) of INPUTS (image files, folders,
    glob patterns) with Endo/Uchida's CNN; for JPEG quality also from the pixels' DCT quantisation lattice, which
    is the estimate wherever the pixels show a JPEG history (exact for most decoded JPEGs, PNG copies included);
    for noise sigma also from patch statistics, blended with the CNN (the statistic at low sigma, the CNN at high),
    and the flattest patches' reading of noise of any spectrum (a camera's spatially correlated noise, which the
    first two read at a third to a half of its RMS).

    For a JPEG file the quality its own quantisation tables say is printed beside the pixels' reading (exact for
    libjpeg/Pillow files); a gap of more than 10 flags a re-saved image.
    """
    from tqdm.auto import tqdm

    from ..distortions.edges import image_list, load_listed
    from ..errors import ParameterError

    listed = image_list([str(i) for i in inputs], "estimate's inputs")
    if map_path is not None and len(listed) != 1:
        raise ParameterError(f"--map takes one image, got {len(listed)}; use --out DIR for many")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    records = []
    for name, src in tqdm(listed, desc="estimate", unit="img", disable=quiet or len(listed) < 2, file=sys.stderr):
        records.append(_one(name, load_listed(src), what, str(weights) if weights else None, device, map_path, out))
    if as_json:
        click.echo(json.dumps(records[0] if len(records) == 1 else records))
        return
    for rec in records:
        click.echo(_text(rec))
