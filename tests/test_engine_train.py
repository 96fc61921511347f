"""The training engine: exact resume, weights-only checkpoints, atomic writes, run folders, DDP (gloo), and the
pieces (task mixing, schedules, augmentation, label mapping). Tiny presets (32-64 px) keep it fast on 2 cores."""
from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distortx.models import checkpoint as ckpt
from distortx.engine.training.batches import augment, class_lookup
from distortx.engine.training.config import ConfigError, load_config
from distortx.engine.training.train import RunFolderError, Trainer, lr_at, param_groups, task_sequence

CLS_PRESET = """
name = "tiny-cls"
task = "classification"
distortions = ["gaussian_noise", "gaussian_blur"]
level_mode = "variable"
include_reference = true
crop = 32
per_image = 2
[splits]
train = 0.67
val = 0.33
"""

DET_PRESET = """
name = "tiny-det"
task = "detection"
distortions = ["gaussian_noise", "gaussian_blur"]
level_mode = "variable"
crop = 64
resize = true
regions = [1, 2]
region_ratio = [0.4, 0.6]
per_image = 4
[splits]
train = 0.67
test = 0.33
"""


@pytest.fixture()
def presets(tmp_path):
    (tmp_path / "cls.toml").write_text(CLS_PRESET)
    (tmp_path / "det.toml").write_text(DET_PRESET)
    return tmp_path


def cls_config(presets, out, steps=10, **train):
    return {
        "model": {"arch": "classifier", "backbone": "simple_cnn", "kwargs": {"backbone_kwargs": {"width": 8}}},
        "data": {"seed": 3, "classification": {"preset": str(presets / "cls.toml"), "batch_size": 4}},
        "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "schedule": {"name": "cosine", "warmup_steps": 3},
        "train": {"steps": steps, "out": str(out), "log_every": 5, "checkpoint_every": 1000, "eval_batches": 2,
                  "threads": 1, **train},
    }


def weights(run: Path, name: str = "last.pt"):
    return ckpt.read_checkpoint(run / name)["model"]


# -- resume ---------------------------------------------------------------------------------------------------------
def test_resume_continues_exactly(presets, tmp_path):
    """2 x 50 steps with a resume in the middle == 100 steps (same data order, optimiser state, RNG)."""
    full = Trainer(load_config(base=cls_config(presets, tmp_path / "full", steps=100)), progress=False)
    full.run()
    half = Trainer(load_config(base=cls_config(presets, tmp_path / "half", steps=100)), progress=False)
    half.run(stop_at=50)
    assert ckpt.read_checkpoint(tmp_path / "half" / "last.pt")["step"] == 50
    assert not (tmp_path / "half" / "model.pt").exists()
    resumed = Trainer(load_config(base=cls_config(presets, tmp_path / "half", steps=100)), resume=True,
                      progress=False)
    assert resumed.step == 50
    resumed.run()
    a, b = weights(tmp_path / "full"), weights(tmp_path / "half")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    # and it learned something: the loss fell
    log = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r and "task" in r]
    assert losses[-1] < losses[0]


def test_resume_is_exact_with_the_v2_recipe(presets, tmp_path):
    """The default model v2's recipe (crop jitter, photo history, bf16 autocast where the CPU has it): a run
    resumed at step 6 of 12 ends with the weights of the uninterrupted run."""
    def config(out):
        c = cls_config(presets, out, steps=12, cpu_amp=True)
        c["data"]["classification"].update(crop_jitter=[0.7, 1.0], history=True)
        return load_config(base=c)

    Trainer(config(tmp_path / "full"), progress=False).run()
    Trainer(config(tmp_path / "half"), progress=False).run(stop_at=6)
    Trainer(config(tmp_path / "half"), resume=True, progress=False).run()
    a, b = weights(tmp_path / "full"), weights(tmp_path / "half")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert "history = true" in (tmp_path / "full" / "config.toml").read_text()


def test_frozen_modules_keep_weights_and_batchnorm_statistics(presets, tmp_path):
    """A stage that freezes the backbone trains the head only: every backbone tensor, BatchNorm running
    statistics included, ends as loaded, and the head moves."""
    Trainer(load_config(base=cls_config(presets, tmp_path / "first", steps=3)), progress=False).run()
    cfg = cls_config(presets, tmp_path / "head", steps=8, stages=[{"steps": 8, "freeze": ["backbone"]}])
    cfg["model"]["weights"] = str(tmp_path / "first" / "model.pt")
    Trainer(load_config(base=cfg), progress=False).run()
    before, after = weights(tmp_path / "first", "model.pt"), weights(tmp_path / "head", "model.pt")
    backbone = [k for k in before if k.startswith("backbone.")]
    assert any("running_mean" in k for k in backbone)
    for k in backbone:
        assert torch.equal(before[k], after[k]), k
    assert any(not torch.equal(before[k], after[k]) for k in before if not k.startswith("backbone."))


def test_same_seed_same_weights(presets, tmp_path):
    for name in ("a", "b"):
        Trainer(load_config(base=cls_config(presets, tmp_path / name, steps=6)), progress=False).run()
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- checkpoints ------------------------------------------------------------------------------------------------------
class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_pickle",))


def test_checkpoint_refuses_pickled_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "version": 1, "model": {}, "model_config": {}, "x": _Evil()}, path)
    with pytest.raises(ckpt.CheckpointError, match="refusing to load"):
        ckpt.read_checkpoint(path)
    assert not (tmp_path / "pwned_by_pickle").exists()


def test_truncated_and_foreign_checkpoints(tmp_path):
    good = ckpt.save_checkpoint({"model": {"w": torch.ones(3)}, "model_config": {"arch": "x"}}, tmp_path / "a.pt")
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match="truncated or corrupt"):
        ckpt.read_checkpoint(tmp_path / "cut.pt")
    torch.save({"w": torch.ones(3)}, tmp_path / "plain.pt")
    with pytest.raises(ckpt.CheckpointError, match="not a distortx checkpoint"):
        ckpt.read_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(ckpt.CheckpointError, match="no such checkpoint"):
        ckpt.read_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_write_failure_keeps_the_previous(tmp_path, monkeypatch):
    path = ckpt.save_checkpoint({"model": {"w": torch.zeros(4)}, "model_config": {"a": 1}}, tmp_path / "last.pt")
    before = path.read_bytes()
    real_save = torch.save

    def disk_full(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(ckpt.CheckpointError, match="No space left.*previous last.pt is kept"):
        ckpt.save_checkpoint({"model": {"w": torch.ones(4)}, "model_config": {"a": 1}}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


def test_checkpoint_of_another_architecture_is_one_clear_error(presets, tmp_path):
    Trainer(load_config(base=cls_config(presets, tmp_path / "run", steps=2)), progress=False).run()
    state = ckpt.read_checkpoint(tmp_path / "run")
    state["model_config"] = dict(state["model_config"], backbone="dx_small")
    with pytest.raises(ckpt.CheckpointError, match="run"):
        ckpt.model_from_checkpoint(state)
    other = cls_config(presets, tmp_path / "run", steps=4)
    other["model"]["kwargs"] = {"backbone_kwargs": {"width": 16}}
    with pytest.raises(RunFolderError, match="another model"):
        Trainer(load_config(base=other), resume=True, progress=False)


# -- run folders and config errors -------------------------------------------------------------------------------------
def test_run_folder_rules(presets, tmp_path):
    cfg = load_config(base=cls_config(presets, tmp_path / "run", steps=2))
    Trainer(cfg, progress=False).run()
    with pytest.raises(RunFolderError, match="exists; use --resume .* or --overwrite"):
        Trainer(cfg, progress=False)
    Trainer(cfg, overwrite=True, progress=False)  # allowed
    (tmp_path / "notarun").mkdir()
    (tmp_path / "notarun" / "thesis.tex").write_text("precious")
    with pytest.raises(RunFolderError, match="not a distortx run folder"):
        Trainer(load_config(base=cls_config(presets, tmp_path / "notarun", steps=2)), overwrite=True, progress=False)
    assert (tmp_path / "notarun" / "thesis.tex").read_text() == "precious"
    with pytest.raises(RunFolderError, match="nothing to resume"):
        Trainer(load_config(base=cls_config(presets, tmp_path / "new", steps=2)), resume=True, progress=False)


@pytest.mark.parametrize("override, message", [
    ("model.backbone=\"resnet_tiny\"", "unknown backbone 'resnet_tiny'"),
    ("data.classification.preset=\"ahn-clasification\"", "did you mean ahn-classification"),
    ("optim.name=\"rmsprop\"", "optim.name must be"),
    ("train.steps=0", "train.steps must be >= 1"),
    ("train.stepz=3", "unknown key\\(s\\) stepz in \\[config.train\\]"),
    ("optim.lr=\"fast\"", "optim.lr must be a finite number"),
    ("data.classification.crop_jitter=[1.0, 0.5]", "crop_jitter must be \\[low, high\\]"),
])
def test_config_errors_are_one_line(presets, tmp_path, override, message):
    from distortx.errors import DistortxError

    with pytest.raises(DistortxError, match=message) as info:
        cfg = load_config(base=cls_config(presets, tmp_path / "run"), overrides=[override])
        Trainer(cfg, progress=False)
    assert "\n" not in str(info.value)


def test_cli_train_refuses_existing_folder(presets, tmp_path):
    from click.testing import CliRunner

    from distortx.cli import main

    cfg = tmp_path / "c.toml"
    from distortx.engine.training.train import _toml

    cfg.write_text(_toml(cls_config(presets, tmp_path / "run", steps=2)))
    r = CliRunner().invoke(main, ["train", str(cfg), "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", str(cfg), "--quiet"])
    assert r.exit_code == 2 and "distortx: error: run folder" in r.output and "Traceback" not in r.output


# -- pieces ----------------------------------------------------------------------------------------------------------
def test_task_sequence_follows_weights():
    assert task_sequence({"detection": 1, "classification": 1}, 4) == ["detection", "classification"] * 2
    seq = task_sequence({"detection": 2, "classification": 1}, 9)
    assert seq.count("detection") == 6 and seq.count("classification") == 3
    assert "classification" in seq[:3]  # spread, not bunched


def test_lr_schedules():
    cfg = load_config(base={"data": {"classification": {"preset": "ahn-classification"}},
                            "optim": {"lr": 0.1}, "schedule": {"name": "cosine", "warmup_steps": 10,
                                                                "min_lr_ratio": 0.0},
                            "train": {"steps": 110}})
    assert lr_at(0, 110, cfg) == pytest.approx(0.01)
    assert lr_at(9, 110, cfg) == pytest.approx(0.1)
    assert lr_at(60, 110, cfg) == pytest.approx(0.05)
    assert lr_at(109, 110, cfg) == pytest.approx(0.1 * 0.5 * (1 + torch.cos(torch.tensor(3.14159265 * 0.99))).item(), rel=1e-4)
    cfg.schedule.name, cfg.schedule.warmup_steps = "step", 0
    assert [lr_at(s, 100, cfg) for s in (0, 66, 67, 89)] == pytest.approx([0.1, 0.1, 0.01, 0.001])


def test_no_weight_decay_on_norms_and_biases():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    decay, no_decay = param_groups(net, 0.1)
    assert {id(p) for p in decay["params"]} == {id(net[0].weight), id(net[2].weight)}
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0


def test_detection_flip_moves_boxes_with_pixels():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 3, 20, 30)
    targets = [{"boxes": torch.tensor([[2.0, 3.0, 12.0, 9.0]]), "labels": torch.tensor([1])} for _ in range(6)]
    out = augment({"images": images, "targets": targets}, "detection", g)
    flipped = 0
    for i in range(6):
        x0, y0, x1, y1 = out["targets"][i]["boxes"][0].int().tolist()
        if x0 != 2:
            flipped += 1
            assert (x0, x1) == (30 - 12, 30 - 2)
            assert torch.equal(out["images"][i, :, y0:y1, x0:x1], images[i, :, 3:9, 2:12].flip(-1))
        else:
            assert torch.equal(out["images"][i], images[i])
    assert 0 < flipped < 6


def test_classification_augment_is_a_symmetry_of_each_image():
    g = torch.Generator().manual_seed(1)
    images = torch.rand(16, 3, 8, 8)
    out = augment({"images": images, "labels": torch.zeros(16)}, "classification", g)["images"]
    for a, b in zip(images, out):
        sym = [a, a.flip(-1), a.flip(-2), a.flip(-1).flip(-2), a.transpose(-1, -2), a.flip(-1).transpose(-1, -2),
               a.flip(-2).transpose(-1, -2), a.flip(-1).flip(-2).transpose(-1, -2)]
        assert any(torch.equal(b, s) for s in sym)
    assert not torch.equal(out, images)


def test_labels_follow_names_not_positions():
    lut = class_lookup(["reference", "gaussian_blur", "jpeg"], ("clean", "jpeg", "gaussian_blur"), 0, "classification")
    assert lut.tolist() == [0, 2, 1]
    det = class_lookup(["jpeg", "gaussian_blur"], ("background", "gaussian_blur", "jpeg"), 1, "detection")
    assert det.tolist() == [-1, 2, 1]
    with pytest.raises(ConfigError, match="class 'twirl' that the model does not predict"):
        class_lookup(["twirl"], ("clean", "jpeg"), 0, "classification")


# -- DDP ---------------------------------------------------------------------------------------------------------------
def free_port() -> str:
    """A TCP port nothing listens on now (a fixed one clashes with any other torchrun on the machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_ddp_gloo_two_processes_stay_in_sync(presets, tmp_path):
    from distortx.engine.training.train import _toml

    cfg = cls_config(presets, tmp_path / "ddp", steps=4)
    cfg["train"]["log_every"] = 1
    (tmp_path / "ddp.toml").write_text(_toml(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", free_port(),
           "-m", "distortx", "train", str(tmp_path / "ddp.toml"), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    done = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()][-1]
    assert done["done"] and len(done["checksums"]) == 2 and done["ranks_in_sync"]
    steps = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines() if "task" in line]
    assert steps[0]["images_per_s"] > 0 and len(steps) == 4  # rank 0 alone writes the log



RANK_THREADS = """
import json, os, sys
from pathlib import Path
from distortx.engine.training.config import load_config
from distortx.engine.training.train import Trainer
before = len(os.listdir("/proc/self/task"))
trainer = Trainer(load_config(sys.argv[1]), progress=False)
during = len(os.listdir("/proc/self/task"))
trainer.run()
counts = {"before": before, "during": during, "after": len(os.listdir("/proc/self/task"))}
Path(sys.argv[2], f"threads_{os.environ['RANK']}.json").write_text(json.dumps(counts))  # not stdout: ranks interleave
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_ddp_run_frees_the_process_group_and_its_threads(presets, tmp_path):
    """A finished DDP run leaves no gloo thread behind: a worker still alive when the interpreter finalises can
    abort the rank (SIGABRT, 'terminate called without an active exception'; Trainer.close explains)."""
    from distortx.engine.training.train import _toml

    cfg = cls_config(presets, tmp_path / "ddp", steps=2)
    (tmp_path / "ddp.toml").write_text(_toml(cfg))
    (tmp_path / "rank.py").write_text(RANK_THREADS)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", free_port(),
           str(tmp_path / "rank.py"), str(tmp_path / "ddp.toml"), str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    counts = [json.loads((tmp_path / f"threads_{rank}.json").read_text()) for rank in (0, 1)]
    for c in counts:
        assert c["during"] > c["before"]          # the process group's threads ran ...
        assert c["after"] == c["before"], c       # ... and were joined when the run closed