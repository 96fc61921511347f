"""``distortx.estimation.train``: the estimator's inputs per target, a short run that learns, snapshots."""
import math

import pytest
import torch

from distortx.data.samples import sample_images
from distortx.estimation.degrade import degrade
from distortx.estimation.patches import PatchBank
from distortx.estimation.train import EstimatorTraining, train_estimator


@pytest.fixture(scope="module")
def bank():
    return PatchBank([img for _, img in sample_images()], patch=32)


def tiny(**kw) -> EstimatorTraining:
    base = dict(steps=2, batch_size=2, width=4, warmup=1, log_every=1, amp=False)
    base.update(kw)
    return EstimatorTraining(**base)


@pytest.mark.parametrize("what, residual, grid", [("jpeg_quality", 8.0, 8), ("noise_sigma", 8.0, None)])
def test_default_inputs_per_target(bank, what, residual, grid):
    model = train_estimator(what, bank, tiny()).model
    assert model.config.get("residual_gain") == residual
    assert model.config.get("grid") == grid
    assert model.backbone.body[0].in_channels == 3 + 3 + (2 if grid else 0)


def test_plain_inputs_are_endo_network(bank):
    model = train_estimator("jpeg_quality", bank, tiny(residual_gain=0.0, grid=0)).model
    assert "residual_gain" not in model.config and "grid" not in model.config
    assert model.backbone.body[0].in_channels == 3


def test_short_noise_run_learns_and_snapshots(bank):
    seen = []
    cfg = tiny(steps=150, batch_size=8, width=8, lr=5e-3, warmup=5, log_every=10, snapshot_every=50, seed=2)
    res = train_estimator("noise_sigma", bank, cfg, snapshot=lambda model, step: seen.append(step))
    assert res.steps == 150 and seen == [50, 100, 150] and not res.model.training
    assert all(math.isfinite(h["pixel_rmse"]) for h in res.history)
    x = bank.sample(16, torch.Generator().manual_seed(5))
    with torch.no_grad():
        est = [res.model(degrade(x, "gaussian_noise_sigma", torch.full((16,), float(s)), torch.arange(16))).mean().item()
               for s in (5, 25, 45)]
    # 150 steps of a width-8 network already order the three sigmas and spread them (an untrained one answers ~25)
    assert est[0] < est[1] < est[2] and est[2] - est[0] > 15, est
