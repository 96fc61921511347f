"""`distortx train` on labelled object-class images ([data.classification] labelled = ...): classes and labels
from the data, CIFAR augmentation and distortion augmentation as specified, exact resume, one-line config
errors, and a sweep of the trained checkpoint (its extra "clean" column matched away by name)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import distortx
from distortx.models import checkpoint as ckpt
from distortx.engine.training.config import load_config
from distortx.engine.training.labelled_batches import LabelledStream, crop_flip, distort_some, distortion_menu, load_labelled
from distortx.engine.training.train import Trainer

NAMES = ("cat", "dog", "ship")


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    """48 images 8x8 (uint8 HWC), labels 0..2 in turn, class names in classes.txt."""
    d = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(48, 8, 8, 3), dtype=np.uint8)
    y = np.arange(48) % 3
    np.savez(d / "train.npz", x=x, y=y)
    (d / "classes.txt").write_text("\n".join(NAMES) + "\n")
    return d / "train.npz"


def config(npz, out, steps=6, **source):
    return {
        "model": {"arch": "classifier", "backbone": "simple_cnn", "kwargs": {"backbone_kwargs": {"width": 4}}},
        "data": {"classification": {"labelled": str(npz), "val_count": 8, "batch_size": 8, **source}},
        "optim": {"name": "sgd", "lr": 0.05},
        "train": {"steps": steps, "out": str(out), "log_every": 2, "checkpoint_every": 1000, "eval_batches": 1,
                  "threads": 1},
    }


def test_classes_and_labels_come_from_the_data(npz, tmp_path):
    trainer = Trainer(load_config(base=config(npz, tmp_path / "run")), progress=False)
    model = trainer.model
    assert model.classes == ("clean", *NAMES) and model.config["image_size"] == 8
    stream = trainer.train_streams["classification"]
    assert isinstance(stream, LabelledStream) and len(stream) == 40  # 48 - val_count 8
    images, labels, _ = load_labelled(str(npz))
    order = stream.order(0)
    batch = next(stream)
    # label i of the data is column i + 1 of the model ("clean" is column 0)
    assert torch.equal(batch["labels"], labels[order[:8]] + 1)
    val = LabelledStream("classification", trainer.sources["classification"], model, 0, "cpu", "val", shuffle=False)
    vb = next(val.epoch_batches())
    assert torch.equal(vb["labels"], labels[40:] + 1)
    assert torch.equal(vb["images"], images[40:].float() / 255)  # validation: clean, not augmented
    result = trainer.run()
    assert 0.0 <= result.metrics["classification/accuracy"] <= 1.0


def test_crop_flip_is_a_window_of_the_padded_image():
    x = torch.rand(16, 3, 6, 6)
    out = crop_flip(x, 2, True, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    flipped = 0
    for i in range(16):
        windows = [(f, dy, dx) for f in (False, True) for dy in range(5) for dx in range(5)
                   if torch.equal(out[i], (lambda w: w.flip(-1) if f else w)(padded[i, :, dy:dy + 6, dx:dx + 6]))]
        assert windows, f"image {i} is no window of its padded image"
        flipped += windows[0][0]
    assert 0 < flipped < 16  # flips happen, not always
    moved = (out != x).flatten(1).any(1)
    assert bool(moved.any())
    assert torch.equal(crop_flip(x, 0, False, torch.Generator().manual_seed(1)), x)  # pad 0, no flip: identity


def test_distortion_augmentation_applies_a_level_of_the_preset():
    """Each image either stays clean or equals the distortion at one of the preset level set's values."""
    menu = distortion_menu("dodge-karam", ("gaussian_blur", "contrast"))
    assert [n for n, _ in menu] == ["gaussian_blur", "contrast"]
    x = torch.rand(24, 3, 16, 16)
    out, which = distort_some(x, menu, 0.5, torch.Generator().manual_seed(3))
    assert bool((which == -1).any()) and bool((which >= 0).any())
    for i in range(24):
        if which[i] < 0:
            assert torch.equal(out[i], x[i])
            continue
        name, level_set = menu[int(which[i])]
        spec = distortx.get_distortion(name)
        found = False
        for level in range(len(spec.level_set(level_set).values)):
            p = spec.sample(1, generator=torch.Generator().manual_seed(0), levels=level_set, level=level)
            found = found or torch.allclose(spec.apply(x[i:i + 1], p)[0], out[i], atol=2e-6)
        assert found, f"image {i}: no {name} level reproduces it"
    clean, none = distort_some(x, menu, 0.0, torch.Generator().manual_seed(3))
    assert torch.equal(clean, x) and bool((none == -1).all())


def test_resume_is_exact_with_distortion_augmentation(npz, tmp_path):
    extra = {"distort_preset": "dodge-karam", "distort_prob": 0.5}
    Trainer(load_config(base=config(npz, tmp_path / "full", **extra)), progress=False).run()
    Trainer(load_config(base=config(npz, tmp_path / "half", **extra)), progress=False).run(stop_at=3)
    resumed = Trainer(load_config(base=config(npz, tmp_path / "half", **extra)), resume=True, progress=False)
    assert resumed.step == 3
    resumed.run()
    a = ckpt.read_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = ckpt.read_checkpoint(tmp_path / "half" / "last.pt")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("override, message", [
    ("data.classification.distort_prob=1.5", "distort_prob must be in \\[0, 1\\]"),
    ("data.classification.distort_types=[\"jpeg\"]", "distort_types needs distort_preset"),
    ("data.classification.distort_preset=\"dodge-karma\"", "did you mean dodge-karam"),
    ("data.classification.val_count=48", "val_count=48 leaves no training image"),
    ("data.classification.labelled=\"nowhere.npz\"", "labelled: nowhere.npz does not exist"),
    ("data.classification.preset=\"ahn-classification\"", "exactly one of preset, folder or labelled"),
    ("data.classification.pad=-1", "pad must be >= 0"),
    ("data.classification.split=\"test\"", "splits train and val, not 'test'"),
])
def test_labelled_config_errors_are_one_line(npz, tmp_path, override, message):
    from distortx.errors import DistortxError

    with pytest.raises(DistortxError, match=message) as info:
        Trainer(load_config(base=config(npz, tmp_path / "run"), overrides=[override]), progress=False)
    assert "\n" not in str(info.value)


def test_labelled_keys_need_a_labelled_source(npz, tmp_path):
    from distortx.errors import DistortxError

    cfg = config(npz, tmp_path / "run")
    cfg["data"] = {"detection": {"labelled": str(npz)}}
    with pytest.raises(DistortxError, match="labelled images train classification only"):
        load_config(base=cfg)
    cfg["data"] = {"classification": {"preset": "ahn-classification", "distort_preset": "dodge-karam"}}
    with pytest.raises(DistortxError, match="distort_preset needs a labelled source"):
        load_config(base=cfg)


def test_trained_checkpoint_sweeps_with_labels_matched_by_name(npz, tmp_path):
    from distortx.engine.training.labelled_data import open_labelled
    from distortx.engine.robustness.model_spec import load_model_spec
    from distortx.engine.robustness.sweep import run_sweep

    Trainer(load_config(base=config(npz, tmp_path / "run", steps=2)), progress=False).run()
    model = load_model_spec(str(tmp_path / "run" / "model.pt"))
    assert model.class_names == ("clean", *NAMES)
    data = open_labelled(npz).head(12)
    res = run_sweep(model, data, tmp_path / "sweep", distortions=["contrast"],
                    batch_size=6, progress=False, quality=False).results
    assert res["model"]["num_classes"] == 4 and len(res["rows"]) > 1
    with torch.inference_mode():
        logits = model.module(data.load(range(12)).images.float() / 255)
    top1 = float((logits.argmax(1) == data.labels + 1).float().mean())
    assert res["rows"][0]["top1"] == pytest.approx(top1)
    assert json.loads((tmp_path / "sweep" / "results.json").read_text())["complete"]
