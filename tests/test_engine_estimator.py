"""`distortx train` of Endo's degradation-parameter estimator (``[model] arch = "param_estimator"``): the engine
trains it on its own pixel-wise MSE, validates it in the parameter's units, resumes it, and `distortx estimate`
reads the run. Tiny: width 8, 32 px crops of the embedded photos, batch 4, 6 steps."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import distortx
from distortx.cli import main
from distortx.models import checkpoint as ckpt
from distortx.engine.training.batches import BatchStream
from distortx.engine.training.config import ConfigError, SourceConfig, load_config
from distortx.engine.evaluation.metrics import RegressionMetrics
from distortx.engine.training.train import Trainer, _toml
from distortx.errors import DistortxError
from distortx.estimation import ParamEstimator, load_estimator

# Endo's JPEG protocol (q ~ U{1..100}) on 32 px crops, 8 draws per photo: 8 training and 8 validation images
JPEG_PRESET = 'name = "tiny-endo-jpeg"\nextends = "endo-jpeg"\ncrop = 32\nper_image = 8\n'
NOISE_PRESET = 'name = "tiny-endo-noise"\nextends = "endo-noise"\ncrop = 32\nper_image = 4\n'
STEPS = 6


def est_config(preset: Path, out: Path, **train) -> dict:
    return {
        "model": {"arch": "param_estimator", "kwargs": {"what": "jpeg_quality", "width": 8}},
        "data": {"regression": {"preset": str(preset), "batch_size": 4}},
        "optim": {"name": "adamax", "lr": 0.002},
        "train": {"steps": STEPS, "out": str(out), "log_every": 2, "eval_batches": 2, "checkpoint_every": 1000,
                  "threads": 1, **train},
    }


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("presets") / "jpeg.toml"
    path.write_text(JPEG_PRESET)
    return path


@pytest.fixture(scope="module")
def run(preset, tmp_path_factory) -> Path:
    """A finished run, trained by the command line as a user would."""
    root = tmp_path_factory.mktemp("est")
    cfg = root / "est.toml"
    cfg.write_text(_toml(est_config(preset, root / "run")))
    r = CliRunner().invoke(main, ["train", str(cfg), "--quiet"])
    assert r.exit_code == 0, r.output
    return root / "run"


def log_records(run: Path):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


# -- training ------------------------------------------------------------------------------------------------------
def test_the_run_trains_and_reloads_as_an_estimator(run):
    steps = [r for r in log_records(run) if "loss" in r and "done" not in r]
    assert [r["step"] for r in steps] == [2, 4, 6] and all(r["task"] == "regression" for r in steps)
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in steps)
    assert sorted(p.name for p in run.glob("*.pt")) == ["best.pt", "last.pt", "model.pt"]
    model = ckpt.load_model(run / "model.pt")             # the engine's own loader: create_model + load_weights
    assert isinstance(model, ParamEstimator)
    assert model.config["what"] == "jpeg_quality" and model.config["width"] == 8
    last = ckpt.read_checkpoint(run / "last.pt")
    assert last["step"] == STEPS and last["classes"] is None
    assert all(torch.equal(v, last["model"][k]) for k, v in model.state_dict().items())


def test_engine_loss_is_the_pixel_wise_mse_on_the_normalised_scale():
    torch.manual_seed(0)
    est = ParamEstimator("jpeg_quality", width=4)
    x = torch.rand(3, 3, 16, 16)
    q = torch.tensor([20.0, 55.0, 90.0])
    out = est.engine_output(x)
    assert torch.allclose(out.params, est(x), atol=1e-5)                  # physical units, as forward
    loss, parts = est.engine_loss(out, {"params": q[:, None]})
    assert torch.allclose(loss, est.loss(x, q), atol=1e-6)
    assert parts["params"] == pytest.approx(float(((est(x)[:, 0] - q) ** 2).mean().detach()), rel=1e-4)
    # a NaN target (no parameter) is skipped: the loss of the images that have one
    loss_nan, _ = est.engine_loss(out, {"params": torch.tensor([[20.0], [float("nan")], [90.0]])})
    assert torch.allclose(loss_nan, est.loss(x[[0, 2]], q[[0, 2]]), atol=1e-6)


def test_regression_batches_carry_the_parameter_in_physical_units(preset, tmp_path):
    """Column 0 of batch["params"] is the JPEG quality (1..100) / noise sigma (0..50 on the 0..255 scale)."""
    (tmp_path / "noise.toml").write_text(NOISE_PRESET)
    est = ParamEstimator("jpeg_quality", width=4)
    q = torch.cat([b["params"][:, 0] for b in BatchStream(
        "regression", SourceConfig(preset=str(preset), batch_size=4), est, None, 0, "cpu", "train").epoch_batches()])
    assert len(q) == 8 and bool((q == q.round()).all()) and 1 <= float(q.min()) and float(q.max()) <= 100
    assert len(set(q.tolist())) > 3
    s = next(BatchStream("regression", SourceConfig(preset=str(tmp_path / "noise.toml"), batch_size=4), est, None, 0,
                         "cpu", "train"))["params"]
    assert s.shape == (4, 1) and 0 <= float(s.min()) and float(s.max()) <= 50 and float(s.max()) > 1


# -- validation ----------------------------------------------------------------------------------------------------------
def test_validation_reports_mae_and_rmse_of_the_image_estimate_in_quality_units(run, preset):
    evals = [r for r in log_records(run) if "eval" in r]
    assert len(evals) == 1 and evals[0]["step"] == STEPS
    metrics = evals[0]["eval"]
    model = ckpt.load_model(run)
    stream = BatchStream("regression", SourceConfig(preset=str(preset), batch_size=4), model, None, 0, "cpu", "val",
                         shuffle=False, mix_units=1)
    with torch.no_grad():
        err = torch.cat([model(b["images"])[:, 0] - b["params"][:, 0] for b in stream.epoch_batches(2)])
    assert len(err) == 8
    assert metrics["regression/mae"] == pytest.approx(float(err.abs().mean()), rel=1e-4)
    assert metrics["regression/rmse"] == pytest.approx(float(err.pow(2).mean().sqrt()), rel=1e-4)
    assert evals[0]["best"] == metrics["regression/mae"]                # best.pt follows the MAE (lower is better)


def test_regression_metrics_skip_missing_targets():
    m = RegressionMetrics()
    m.update(torch.tensor([[10.0], [20.0]]), torch.tensor([[12.0, 1.0], [float("nan"), 2.0]]))
    m.update(torch.tensor([[30.0]]), torch.tensor([[26.0, 3.0]]))
    r = m.compute()
    assert r.num_samples == 2 and r.mae == pytest.approx(3.0) and r.rmse == pytest.approx(math.sqrt(10.0))
    assert r.bias == pytest.approx(1.0) and r.per_column["mae"] == [pytest.approx(3.0)]


def test_regression_calibration_bins_the_truth():
    m = RegressionMetrics()
    truth = torch.arange(0.0, 50.0, 0.5)  # 100 values, 10 per bin of 5
    m.update((truth + 1.0 + (truth >= 45) * 2.0)[:, None], truth[:, None])  # +1 everywhere, +3 in the top bin
    bins = m.compute().calibration
    assert len(bins) == 10 and [b["n"] for b in bins] == [10] * 10
    assert bins[0]["low"] == 0.0 and bins[-1]["high"] == pytest.approx(49.5)
    assert [round(b["bias"], 6) for b in bins] == [1.0] * 9 + [3.0]
    assert bins[3]["truth"] == pytest.approx(float(truth[30:40].mean()))
    assert bins[3]["estimate"] == pytest.approx(bins[3]["truth"] + 1.0) and bins[3]["sd"] == pytest.approx(0.0, abs=1e-9)
    m.update(torch.tensor([[12.0], [18.0]]), torch.tensor([[15.0], [15.0]]))  # errors -3 and +3 at truth 15
    assert m.compute().calibration[3]["sd"] > 0.5


def test_evaluate_writes_the_calibration_table_and_figure(run, preset, tmp_path):
    from distortx.engine.evaluation.evaluate import evaluate

    report = evaluate(run, [str(preset)], split="val", batch_size=4, max_batches=2, out=tmp_path / "ev")
    bins = report.regression.calibration
    assert sum(b["n"] for b in bins) == report.regression.num_samples == 8
    assert sum(b["bias"] * b["n"] for b in bins) / 8 == pytest.approx(report.regression.bias, abs=1e-9)
    text = (tmp_path / "ev" / "tables.md").read_text()
    assert "| truth | images | mean estimate | error S.D. | bias | MAE |" in text
    for name in ("calibration.png", "calibration_error.png"):
        assert (tmp_path / "ev" / name).stat().st_size > 5000
    assert report.extra["parameter"] == "jpeg quality"


def test_evaluate_scores_what_estimate_returns_with_a_method(run, preset, tmp_path):
    """--method lattice: the MAE is that of the pixels' lattice reading of each evaluation image; --method cnn is
    the plain evaluation."""
    from distortx.engine.evaluation.evaluate import evaluate
    from distortx.estimation.api import EstimatedBy, statistic_reading

    plain = evaluate(run, [str(preset)], split="val", batch_size=4, max_batches=2)
    cnn = evaluate(EstimatedBy(load_estimator(run), "cnn"), [str(preset)], split="val", batch_size=4, max_batches=2)
    assert cnn.regression.mae == pytest.approx(plain.regression.mae, rel=1e-6)
    lattice = evaluate(EstimatedBy(load_estimator(run), "lattice"), [str(preset)], split="val", batch_size=4,
                       max_batches=2)
    model = ckpt.load_model(run)
    stream = BatchStream("regression", SourceConfig(preset=str(preset), batch_size=4), model, None, 0, "cpu", "val",
                         shuffle=False, mix_units=1)
    err = [statistic_reading(img, "jpeg_quality", "lattice").value - float(b["params"][i, 0])
           for b in stream.epoch_batches(2) for i, img in enumerate(b["images"])]
    assert lattice.regression.mae == pytest.approx(sum(abs(e) for e in err) / len(err), rel=1e-5)
    assert lattice.regression.mae != pytest.approx(plain.regression.mae)
    with pytest.raises(DistortxError, match="'pca'"):
        EstimatedBy(load_estimator(run), "pca")  # a JPEG estimator has no patch statistic
    out = CliRunner().invoke(main, ["evaluate", "--model", str(run), "--data", str(preset), "--split", "val",
                                    "--batch-size", "4", "--max-batches", "2", "--method", "lattice"])
    assert out.exit_code == 0, out.output
    assert f"| all | {lattice.regression.mae:.3f} |" in out.output


# -- resume -----------------------------------------------------------------------------------------------------------------
def test_resume_continues_at_the_right_step(run, preset, tmp_path):
    Trainer(load_config(base=est_config(preset, tmp_path / "half")), progress=False).run(stop_at=3)
    assert ckpt.read_checkpoint(tmp_path / "half" / "last.pt")["step"] == 3
    assert not (tmp_path / "half" / "model.pt").exists()
    resumed = Trainer(load_config(base=est_config(preset, tmp_path / "half")), resume=True, progress=False)
    assert resumed.step == 3
    result = resumed.run()
    assert result.step == STEPS
    assert [r["step"] for r in log_records(tmp_path / "half") if "loss" in r and "done" not in r] == [2, 4, 6]
    full, half = ckpt.read_checkpoint(run / "model.pt")["model"], ckpt.read_checkpoint(tmp_path / "half")["model"]
    assert all(torch.equal(full[k], half[k]) for k in full)              # 3 + 3 steps == 6 steps


# -- the trained weights in distortx.estimate -------------------------------------------------------------------------------------
def test_the_run_goes_through_distortx_estimate(run, photo, tmp_path):
    model = load_estimator(run / "model.pt")
    with torch.no_grad():
        expected = model.pixel_map(photo)[0, 0].clamp(1, 100).mean().clamp(1, 100)
    for weights in (run, run / "model.pt", run / "best.pt"):
        value = distortx.estimate(photo, what="jpeg_quality", weights=str(weights))
        assert value.shape == (1,) and float(value[0]) == pytest.approx(float(expected), abs=1e-4)
    png = tmp_path / "photo.png"
    distortx.io.save_image(png, photo[0])
    r = CliRunner().invoke(main, ["estimate", str(png), "--weights", str(run), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["estimate"] == pytest.approx(float(expected), abs=0.02)


def test_the_estimator_loader_refuses_a_run_of_another_architecture(tmp_path):
    ckpt.save_checkpoint({"model": {"w": torch.ones(2)}, "model_config": {"arch": "classifier"}}, tmp_path / "model.pt")
    with pytest.raises(DistortxError, match="arch 'classifier', not a param_estimator"):
        load_estimator(tmp_path)


# -- configuration errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit, message", [
    (lambda c: c["data"]["regression"].pop("preset"), r"\[data.regression\] needs exactly one of preset"),
    (lambda c: c["data"].update(classification=c["data"].pop("regression")),
     r"arch 'param_estimator' trains on \[data.regression\] only; this config has \[data.classification\]"),
    (lambda c: c["model"]["kwargs"].update(what="noise_sigma"),
     r"what='noise_sigma' estimates the parameter of gaussian_noise_sigma / camera_noise, but the data draws jpeg"),
])
def test_wrong_configs_are_one_line_config_errors(preset, tmp_path, edit, message):
    cfg = est_config(preset, tmp_path / "run")
    edit(cfg)
    with pytest.raises(ConfigError, match=message) as info:
        Trainer(load_config(base=cfg), progress=False)
    assert "\n" not in str(info.value)


# -- Endo's image-only classifier ("Org" / "Jpg") on labelled images ----------------------------------------------------
def test_param_aware_classifier_without_parameter_trains_on_labelled_images(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.integers(0, 256, size=(24, 16, 16, 3), dtype=np.uint8), y=np.arange(24) % 3)
    (tmp_path / "classes.txt").write_text("cat\ndog\nship\n")
    cfg = {"model": {"arch": "param_aware_classifier", "kwargs": {"num_params": 0, "width": 4, "stages": 2, "hidden": 8}},
           "data": {"classification": {"labelled": str(tmp_path / "train.npz"), "val_count": 8, "batch_size": 8}},
           "optim": {"name": "adamax", "lr": 0.002},
           "train": {"steps": 4, "out": str(tmp_path / "run"), "log_every": 2, "eval_batches": 1, "threads": 1}}
    result = Trainer(load_config(base=cfg), progress=False).run()
    assert 0.0 <= result.metrics["classification/accuracy"] <= 1.0
    model = ckpt.load_model(tmp_path / "run")
    assert model.classes == ("cat", "dog", "ship") and model.head.num_params == 0
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 3)
    cfg["model"]["kwargs"]["num_params"] = 1            # a parameter input distortx train cannot feed
    with pytest.raises(DistortxError, match="num_params = 0"):
        Trainer(load_config(base=cfg), overwrite=True, progress=False).run()
