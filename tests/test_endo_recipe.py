"""Endo's estimator recipe as configs of the one trainer (experiments/endo/configs): the configs are valid, give
each target its inputs (residual, block grid), and a short `distortx train` of the noise recipe learns."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch

import distortx
from distortx.data.samples import sample_images
from distortx.engine.training.config import config_from_dict
from distortx.engine.training.train import build_model
from distortx.estimation import load_estimator
from distortx.estimation.degrade import degrade

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "endo" / "configs"


def recipe(what: str, tmp_path: Path, crop: int = 32, **train) -> dict:
    """The recipe of ``what`` on the embedded photos, with its patch preset copied at ``crop`` px."""
    cfg = tomllib.loads((CONFIGS / f"{what}.toml").read_text())
    preset = tomllib.loads((CONFIGS / Path(cfg["data"]["regression"]["preset"]).name).read_text())
    assert preset["crop"] == 64 and preset["resize"] is False  # Endo's 64 x 64 patches, photos not resized
    text = "\n".join(f"{k} = {v!r}".replace("'", '"').replace("False", "false")
                     for k, v in dict(preset, crop=crop).items() if k != "splits") + "\n[splits]\nall = 1.0\n"
    (tmp_path / "patches.toml").write_text(text)
    cfg["data"] = {"seed": cfg["data"]["seed"],
                   "regression": dict(cfg["data"]["regression"], preset=str(tmp_path / "patches.toml"))}
    cfg["train"].update(out=str(tmp_path / "run"), **train)
    return cfg


@pytest.mark.parametrize("what, grid, in_channels", [("jpeg_quality", 8, 3 + 3 + 2), ("noise_sigma", 0, 3 + 3)])
def test_each_recipe_gives_its_target_its_inputs(what, grid, in_channels, tmp_path):
    cfg = config_from_dict(recipe(what, tmp_path))
    model = build_model(cfg)
    assert cfg.optim.name == "adamax" and cfg.model.arch == "param_estimator"
    assert model.config["what"] == what and model.config["residual_gain"] == 8.0 and model.config.get("grid", 0) == grid
    assert model.backbone.body[0].in_channels == in_channels


def test_endo_plain_input_is_three_channels(tmp_path):
    cfg = recipe("jpeg_quality", tmp_path)
    cfg["model"]["kwargs"].update(residual_gain=0.0, grid=0)
    model = build_model(config_from_dict(cfg))
    assert "residual_gain" not in model.config and "grid" not in model.config
    assert model.backbone.body[0].in_channels == 3


def test_a_short_run_of_the_noise_recipe_learns(tmp_path):
    cfg = recipe("noise_sigma", tmp_path, steps=150, threads=1, eval_every=0, log_every=50, checkpoint_every=1000,
                 cpu_amp=False)
    cfg["model"]["kwargs"]["width"] = 8
    cfg["data"]["regression"].update(batch_size=8, val_split=None)
    cfg["optim"]["lr"] = 5e-3
    cfg["schedule"]["warmup_steps"] = 5
    result = distortx.train(cfg, progress=False)
    assert result.step == 150
    model = load_estimator(result.out / "model.pt")
    photos = torch.stack([img[:, 100 + k:132 + k, 100:132] for _, img in sample_images() for k in (0, 40, 80)])
    photos = photos.float().div(255.0)
    x = photos.repeat(6, 1, 1, 1)[:16]
    with torch.no_grad():
        est = [model(degrade(x, "gaussian_noise_sigma", torch.full((16,), float(s)), torch.arange(16))).mean().item()
               for s in (5, 25, 45)]
    # 150 steps of a width-8 network already order the three sigmas and spread them (an untrained one answers ~25)
    assert est[0] < est[1] < est[2] and est[2] - est[0] > 15, est
