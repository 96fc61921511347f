"""`distortx robustness`: sweep any classifier over a distortion protocol; `distortx robustness plot`: figures."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import click

from ..errors import ParameterError
from .main import main


def _size(value: Optional[str], flag: str):
    if value is None or value.lower() == "none":
        return value
    try:
        n = int(value)
    except ValueError:
        raise ParameterError(f"{flag} must be a number of pixels or 'none', got {value!r}") from None
    if n < 1:
        raise ParameterError(f"{flag} must be >= 1, got {n}")
    return n


def _triple(value: Optional[str], flag: str):
    if value is None or value.lower() == "none":
        return value
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise ParameterError(f"{flag} must be three comma-separated numbers (R,G,B) or 'none', got {value!r}") from None


def _device(name: str):
    import torch

    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ParameterError(f"--device {name!r} is not a torch device (cpu, cuda, cuda:1, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return dev


def _fmt(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def summary_table(results: Sequence[dict]) -> str:
    """A Markdown table: per model and distortion, AUC of top-1 / top-5, mean top-1, CE (when a baseline was given)."""
    lines = ["| model | distortion | clean top-1 | AUC top-1 | AUC top-5 | mean top-1 | CE | rel. CE |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        s = res.get("summary") or {}
        for name, d in s.get("distortions", {}).items():
            lines.append(f"| {res['name']} | {name} | {_fmt(s['clean']['top1'])} | {_fmt(d['auc_top1'])} | "
                         f"{_fmt(d['auc_top5'])} | {_fmt(d['mean_top1'])} | {_fmt(d.get('ce'))} | {_fmt(d.get('relative_ce'))} |")
        if s.get("mce") is not None:
            lines.append(f"| {res['name']} | **mCE** (vs {s['baseline']}) |  |  |  |  | {_fmt(s['mce'])} | "
                         f"{_fmt(s.get('relative_mce'))} |")
    return "\n".join(lines)


@main.group(invoke_without_command=True)
@click.option("--model", "model_spec", metavar="SPEC",
              help="torchvision:NAME[:WEIGHTS], timm:NAME[:WEIGHTS], a distortx checkpoint, or module:function[:WEIGHTS].")
@click.option("--data", metavar="DATA", help="Image folder (ImageFolder layout), a .csv/.json of file,label, or an .npz (x, y).")
@click.option("--limit", type=int, default=None, help="Use only the first N images of DATA (a quick subset).")
@click.option("--preset", default="dodge-karam", show_default=True, help="Preset name or .toml giving distortions and level sets.")
@click.option("--levels", multiple=True, help="Level set for every distortion that has it (SET) or one (TYPE=SET); repeatable.")
@click.option("--distortions", default=None, help="Comma-separated subset of the preset's distortions.")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="Where the model runs and the distortions are rendered.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("robustness"), show_default=True,
              help="Output folder; an unfinished sweep of the same model there is resumed.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise and secondary parameters.")
@click.option("--num-classes", type=int, default=None, help="Classes of the model (default: from its weights or metadata).")
@click.option("--resize", default=None, help="Resize the shorter side to N pixels before cropping ('none' to skip).")
@click.option("--crop", default=None, help="Centre crop N x N ('none' to skip).")
@click.option("--mean", default=None, help="Normalisation mean R,G,B of [0,1] images ('none' to skip).")
@click.option("--std", default=None, help="Normalisation std R,G,B ('none' to skip).")
@click.option("--baseline", default=None,
              help="results.json of a baseline model on the same protocol, or 'alexnet' (ImageNet-C's published "
                   "errors): adds CE, mCE, relative mCE.")
@click.option("--suite", type=click.Choice(["imagenet-c"]), default=None,
              help="A standard benchmark: imagenet-c = --preset imagenet-c --baseline alexnet (CE, mCE, relative mCE).")
@click.option("--name", default=None, help="Model name in tables and legends (default: the SPEC).")
@click.option("--workers", type=int, default=0, show_default=True, help="Image-decoding processes (image folders).")
@click.option("--codec-workers", type=int, default=None,
              help="Processes for per-image codecs (JPEG 2000); default: the usable CPUs, at most 16.")
@click.option("--codec-cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder that keeps per-image codec outputs (JPEG 2000) by content, reused by later sweeps of the same data.")
@click.option("--no-quality", is_flag=True, help="Skip the SSIM/PSNR of the distorted inputs.")
@click.option("--no-channels-last", is_flag=True,
              help="On a CPU, feed the model plain NCHW batches (default: channels-last, faster for most CNNs).")
@click.option("--no-plots", is_flag=True, help="Do not draw curves.png / quality.png.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def robustness(ctx, model_spec, data, limit, preset, levels, distortions, batch_size, device, out, seed, num_classes, resize,
               crop, mean, std, baseline, suite, name, workers, codec_workers, codec_cache, no_quality, no_channels_last,
               no_plots, as_json, quiet) -> None:
    """Sweep a classifier over every level of every distortion of a preset (default: Dodge & Karam's).

    Writes OUT/results.csv and results.json (top-1, top-5, mean SSIM/PSNR per distortion x level, per-class
    P/R/F1, AUCs, CE/mCE with --baseline), per_class.csv, curves.png and quality.png. Deterministic;
    rerunning an interrupted sweep resumes it. `distortx robustness plot A.json B.json` compares models.
    """
    if ctx.invoked_subcommand is not None:
        if model_spec or data:
            raise ParameterError("--model/--data belong to the sweep, not to `robustness plot`")
        return
    if not model_spec or not data:
        raise ParameterError("a sweep needs --model SPEC and --data DATA (see `distortx robustness --help`)")
    if suite is not None:
        if preset != "dodge-karam":
            raise ParameterError(f"give --suite or --preset, not both (--suite {suite} sweeps the preset {suite})")
        preset, baseline = suite, baseline or "alexnet"
    if baseline is not None and baseline != "alexnet" and not Path(baseline).exists():
        raise ParameterError(f"--baseline {baseline}: no such results file or folder (or use 'alexnet')")
    from ..engine.training.labelled_data import Geometry, open_labelled
    from ..engine.robustness.model_spec import load_model_spec
    from ..engine.robustness.sweep import run_sweep

    dev = _device(device)
    loaded = load_model_spec(model_spec, device=dev, num_classes=num_classes,
                             preprocess={"resize": _size(resize, "--resize"), "crop": _size(crop, "--crop"),
                                         "mean": _triple(mean, "--mean"), "std": _triple(std, "--std")})
    dataset = open_labelled(data, Geometry(loaded.preprocess.resize, loaded.preprocess.crop))
    if limit is not None:
        dataset = dataset.head(limit)
    subset = [d.strip() for d in distortions.split(",") if d.strip()] if distortions else None
    result = run_sweep(loaded, dataset, out, preset=preset, levels=levels, distortions=subset, batch_size=batch_size,
                       seed=seed, quality=not no_quality, workers=workers, codec_workers=codec_workers,
                       progress=not quiet, baseline=baseline, name=name, codec_cache=codec_cache,
                       channels_last=not no_channels_last)
    res = result.results
    if not no_plots:
        from ..engine.robustness.plots import plot_curves, plot_quality

        plot_curves([res], out / "curves.png")
        if not no_quality:
            plot_quality([res], out / "quality.png")
    if as_json:
        click.echo(json.dumps({"out": str(out), "seconds": result.seconds, "skipped": result.skipped,
                               "summary": res["summary"]}, indent=2))
        return
    n_rows = len(res["rows"])
    resumed = f", resumed at image {result.resumed_from}" if result.resumed_from else ""
    click.echo(f"{out}: {n_rows} conditions x {res['data']['images']} images in {result.seconds:.1f} s{resumed}; "
               f"results.csv, results.json, per_class.csv" + ("" if no_plots else ", curves.png"))
    if result.skipped:
        first = ", ".join(s["name"] for s in result.skipped[:3])
        click.echo(f"skipped {len(result.skipped)} image(s) that failed to load ({first}{', ...' if len(result.skipped) > 3 else ''}); "
                   f"listed in results.json", err=True)
    click.echo(summary_table([res]))


@robustness.command("plot")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Folder for curves.png and quality.png.")
@click.option("--labels", default=None, help="Comma-separated legend labels, one per results file.")
@click.option("--baseline", type=click.Path(exists=True, path_type=Path), default=None,
              help="Recompute CE / mCE of every file against this baseline results.json.")
def plot(results, out: Path, labels: Optional[str], baseline: Optional[Path]) -> None:
    """Compare sweeps: one line per results file (results.json or its folder) in Dodge's and Hsieh's figures."""
    from ..engine.robustness.results import load_results, summarize
    from ..engine.robustness.plots import plot_curves, plot_quality

    loaded = [load_results(p) for p in results]
    names = [s.strip() for s in labels.split(",")] if labels else None
    if names is not None and len(names) != len(loaded):
        raise ParameterError(f"--labels gives {len(names)} labels for {len(loaded)} results files")
    for i, res in enumerate(loaded):
        if names:
            res["name"] = names[i]
        if not res.get("complete"):
            click.echo(f"note: {results[i]} is an unfinished sweep (cursor {res['progress']['cursor']} of "
                       f"{res['data']['images']} images)", err=True)
    base = load_results(baseline) if baseline is not None else None
    for res in loaded:
        if base is not None or "summary" not in res:
            res["summary"] = summarize(res["rows"], base["rows"] if base else None, base["name"] if base else "baseline")
    curves = plot_curves(loaded, out / "curves.png", names)
    quality = plot_quality(loaded, out / "quality.png", names)
    click.echo(f"wrote {curves} and {quality}")
    click.echo(summary_table(loaded))
