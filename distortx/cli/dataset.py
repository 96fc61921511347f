"""`distortx generate`, `distortx merge`, `distortx show`, `distortx presets`: datasets from the command line."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import click

from ..errors import DatasetError
from .main import main


def _auto_workers() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)))


@main.command()
@click.option("--preset", required=True, help="Preset name (see `distortx presets`) or a path to a .toml preset.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder (created; an unfinished run there is resumed). '{rank}' is replaced by the shard index.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of reference images (recursive). Default: the embedded photos + dead-leaves images.")
@click.option("--count", type=int, default=None, help="Total images to generate.")
@click.option("--per-image", type=int, default=None, help="Images per reference (overrides the preset).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--workers", type=int, default=None, help="Worker processes (default: CPU count, at most 8). Does not change the output.")
@click.option("--shard", default=None,
              help="I/N: write only shard I of N (join with `distortx merge`). Default: RANK/WORLD_SIZE from the environment when WORLD_SIZE > 1.")
@click.option("--impl", type=click.Choice(["auto", "native", "python"]), default="auto", show_default=True,
              help="native: the fused native kernel; python: the references (auto: native when built).")
@click.option("--format", "layout", type=click.Choice(["folder", "webdataset", "parquet"]), default="folder",
              show_default=True, help="folder: PNG files; webdataset: tar shards (<key>.png + <key>.json); parquet: "
                                      "Parquet shards (key, split, reference, png, json). Same image bytes in each.")
@click.option("--shard-size", type=int, default=1000, show_default=True, help="Images per shard (shard formats).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this machine's processes; ray: Ray tasks (a local Ray of --workers CPUs, or --address).")
@click.option("--address", default=None, help="Ray cluster address (--engine ray), e.g. auto or ray://head:10001.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(preset: str, out: str, images: Optional[Path], count: Optional[int], per_image: Optional[int], seed: int,
             device: str, workers: Optional[int], shard: Optional[str], impl: str, layout: str, shard_size: int,
             engine: str, address: Optional[str], as_json: bool, quiet: bool) -> None:
    """Generate a dataset for a preset: lossless PNGs, COCO/JSONL labels, a manifest.

    The ImageNet-C presets (imagenet-c, imagenet-c-validation, imagenet-c-all) write the benchmark's layout
    instead: OUT/<corruption>/<severity>/<class>/<file>.png from the images of --images (resized 256 -> 224).

    Deterministic: the same preset, images and seed give byte-identical files whatever --workers or
    --shard; an interrupted run resumes from where it stopped when the same command is run again.
    Images smaller than the crop are upscaled (shorter side to the crop, bicubic) and counted in the report;
    unreadable files are skipped and listed.
    """
    from ..data.generate import generate as run

    if preset in ("imagenet-c", "imagenet-c-validation", "imagenet-c-all"):
        _corruption_folders(preset, out, images, count, per_image, shard, seed, device, as_json, quiet)
        return
    try:
        report = run(preset, out, images=images, count=count, per_image=per_image, seed=seed, device=device,
                     workers=workers if workers is not None else _auto_workers(), shard=shard, impl=impl,
                     progress=not quiet, layout=layout, shard_size=shard_size, engine=engine, address=address)
    except KeyboardInterrupt:
        if not Path(out).is_dir() or not any(Path(out).iterdir()):
            raise DatasetError(f"{out}: interrupted before the first image; nothing was written") from None
        raise DatasetError(f"{out}: interrupted; everything written so far is kept, rerun the same command to resume") from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        click.echo(report.summary())


def _corruption_folders(preset, out, images, count, per_image, shard, seed, device, as_json, quiet) -> None:
    """ImageNet-C presets: the benchmark's folder layout OUT/<corruption>/<severity>/<class>/<file>.png."""
    from dataclasses import asdict

    from ..corruptions.folders import write_corruption_folders
    from ..registry import get_preset

    if images is None:
        raise DatasetError(f"--preset {preset} writes ImageNet-C's folders from your images: give --images "
                           f"(e.g. the ImageNet validation folder, one sub-folder per class)")
    if count is not None or per_image is not None or shard is not None:
        raise DatasetError(f"--preset {preset} corrupts every image at every severity: --count, --per-image and "
                           f"--shard do not apply")
    try:
        report = write_corruption_folders(get_preset(preset), images, out, seed=seed, device=device,
                                          progress=not quiet)
    except KeyboardInterrupt:
        raise DatasetError(f"{out}: interrupted; everything written so far is kept, rerun the same command to "
                           f"resume") from None
    if as_json:
        click.echo(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(report).items()},
                              indent=2, sort_keys=True))
    else:
        click.echo(report.summary())


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the merged manifest's counts as JSON.")
def merge(out: Path, shards, as_json: bool) -> None:
    """Join shard folders (from `generate --shard I/N`) into OUT, identical to a single-machine run."""
    from ..data.merge import merge as run

    manifest = run(out, shards)
    if as_json:
        click.echo(json.dumps({"out": str(out), **manifest["counts"]}, indent=2, sort_keys=True))
    else:
        c = manifest["counts"]
        click.echo(f"{out}: merged {len(shards)} shard(s): {c['images']} images from {c['references']} references; "
                   f"labels: {', '.join(manifest['label_files'].values())}")


@main.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("sheet.png"), show_default=True,
              help="The sheet (format from the suffix: .png, .jpg, ...).")
@click.option("--count", type=int, default=16, show_default=True,
              help="Images on the sheet, spread over references and classes.")
@click.option("--columns", type=int, default=4, show_default=True)
@click.option("--split", default=None, help="Only this split (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(root: Path, out: Path, count: int, columns: int, split: Optional[str], as_json: bool) -> None:
    """Contact sheet of a generated dataset ROOT (folder or shards) with boxes and labels."""
    from ..data.show import contact_sheet

    contact_sheet(root, out, count=count, columns=columns, split=split)
    click.echo(json.dumps({"out": str(out)}) if as_json else f"wrote {out}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def presets(as_json: bool) -> None:
    """The registered dataset presets (use one with `distortx generate --preset NAME`)."""
    import dataclasses

    from ..registry import get_preset, list_presets

    rows = [dataclasses.asdict(get_preset(n)) for n in list_presets()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        extra = f", regions {r['regions'][0]}..{r['regions'][1]}" if r["regions"] else ""
        n = len(r["distortions"])
        click.echo(f"{r['name']:<24} {r['task']:<14} {n} type{'s' if n != 1 else ''}, {r['level_mode']} levels, "
                   f"crop {r['crop']}{extra}   {r['description']}")
