"""``distortx train | evaluate | predict``: thin over :mod:`distortx.engine`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .main import main


@main.command("train")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config value, e.g. --set train.steps=100 --set optim.lr=0.001 (repeatable)")
@click.option("--out", help="run folder (train.out)")
@click.option("--steps", type=int, help="training steps (train.steps)")
@click.option("--device", help="cpu, cuda or cuda:N (train.device)")
@click.option("--images", help="reference photos for the presets (data.images)")
@click.option("--resume", is_flag=True, help="continue the run in --out from its last checkpoint")
@click.option("--overwrite", is_flag=True, help="delete an existing run folder first")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train_cmd(config, overrides, out, steps, device, images, resume, overwrite, quiet):
    """Train a model from CONFIG (TOML; see docs/training.md). Without CONFIG: the Y-net on the embedded
    samples. Under torchrun (`torchrun --nproc_per_node N -m distortx train ...`) it trains with DDP."""
    from ..engine.training.config import load_config
    from ..engine.training.train import Trainer

    extra = list(overrides)
    for key, value in (("train.out", out), ("train.steps", steps), ("train.device", device),
                       ("data.images", images)):
        if value is not None:
            extra.append(f"{key}={json.dumps(value)}")
    base = None if config else DEFAULT_TRAIN
    cfg = load_config(config, extra, base=base)
    trainer = Trainer(cfg, resume=resume, overwrite=overwrite, progress=not quiet)
    result = trainer.run()
    if trainer.rank == 0:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        click.echo(f"trained {result.step} steps in {result.seconds:.0f} s -> {result.out} ({metrics})")


#: `distortx train` without a config: a small Y-net on the embedded samples (a demo that runs anywhere).
DEFAULT_TRAIN = {
    "model": {"arch": "ynet", "backbone": "dx_small"},
    "data": {"detection": {"preset": "ahn-detection-basic", "batch_size": 8},
             "classification": {"preset": "ahn-classification", "batch_size": 8}},
    "optim": {"name": "adamw", "lr": 0.001, "weight_decay": 0.05},
    "schedule": {"name": "cosine", "warmup_steps": 20},
    "train": {"steps": 200, "out": "runs/ynet-demo", "eval_every": 100, "eval_batches": 4},
}


@main.command("evaluate")
@click.option("--model", "model", help="checkpoint file or run folder (default: the shipped model)")
@click.option("--data", "data", multiple=True, required=True,
              help="preset name, .toml preset or folder of `distortx generate` (repeatable)")
@click.option("--images", help="reference photos for presets (default: embedded samples)")
@click.option("--split", help="split of the data (default: test)")
@click.option("--seed", type=int, default=0, show_default=True, help="dataset seed for presets")
@click.option("--count", type=int, help="images of a preset to render (as generate --count)")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--max-batches", type=int)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", help="folder for metrics.json, tables.md and the figures")
@click.option("--json", "json_out", help="write the metrics as JSON here")
@click.option("--method", type=click.Choice(["auto", "cnn", "lattice", "pca", "flat"]),
              help="a parameter estimator: score what distortx.estimate(..., method) returns (default: its CNN)")
def evaluate_cmd(model, data, images, split, seed, count, batch_size, max_batches, device, out, json_out, method):
    """Paper-style tables (accuracy, mAP@0.5/0.75/0.9, images/s) and figures for a trained model."""
    from ..engine.evaluation.evaluate import evaluate

    if method is not None:
        from ..errors import ParameterError
        from ..estimation.api import EstimatedBy
        from ..estimation.checkpoint import load_estimator

        if model is None:
            raise ParameterError("--method scores a parameter estimator: give it with --model")
        model = EstimatedBy(load_estimator(model, device), method)
    if model is None:
        from ..engine.inference.default_model import load_default_model

        model = load_default_model()
    report = evaluate(model, list(data), images=images, split=split, seed=seed, batch_size=batch_size,
                      device=device, max_batches=max_batches, out=out, count=count)
    click.echo(report.tables())
    if json_out:
        Path(json_out).write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    if out:
        click.echo(f"wrote {out}/metrics.json, tables.md and figures")


@main.command("predict")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--model", "model", help="checkpoint file or run folder (default: the shipped model)")
@click.option("--out", help="folder for the drawn PNGs, predictions.json and coco_results.json")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
@click.option("--device", default="cpu", show_default=True)
@click.option("--threshold", type=float, default=0.5, show_default=True, help="minimum region score")
@click.option("--tile", type=int, help="tile side in pixels (default: the model's input size)")
@click.option("--overlap", type=int, help="tile overlap in pixels (default: tile / 6, 50 px for 300-px tiles)")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict_cmd(inputs, model, out, as_json, device, threshold, tile, overlap, quiet):
    """Which distortion does each photo (file or folder) have, and where? Photos of any size are tiled."""
    from .. import predict

    preds = predict(list(inputs), model=model, device=device, out=out, score_threshold=threshold, tile=tile,
                    overlap=overlap, progress=not quiet)
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in preds], indent=1))
    else:
        for p in preds:
            click.echo(p.summary())
    if out:
        click.echo(f"wrote {len(preds)} drawn image(s), predictions.json and coco_results.json to {out}", err=True)
