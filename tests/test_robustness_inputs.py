"""What a robustness sweep reads: model SPECs (distortx.engine.robustness.model_spec) and labelled data (labelled_data)."""
import json
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from distortx.engine.training.labelled_data import Geometry, open_labelled
from distortx.engine.robustness.model_spec import (ClassifierAdapter, ModelSpecError, Preprocess, load_model_spec, logits_of,
                                        parse_spec)
from distortx.errors import DatasetError, UnknownNameError
from distortx.io import save_image

TINY_MODEL = '''
import torch
from torch import nn

def build(num_classes=4):
    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, num_classes))

def not_a_model():
    return 42
'''


@pytest.fixture()
def tiny_py(tmp_path):
    path = tmp_path / "tiny_model.py"
    path.write_text(TINY_MODEL)
    return path


# -- SPECs ------------------------------------------------------------------------------------------------------
def test_parse_spec_forms(tmp_path):
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"x")
    assert parse_spec("torchvision:resnet50:w.pth") == ("torchvision", ("resnet50", "w.pth"))
    assert parse_spec("timm:vit_tiny_patch16_224") == ("timm", ("vit_tiny_patch16_224", ""))
    assert parse_spec(f"distortx:{ckpt}") == ("distortx", (str(ckpt),))
    assert parse_spec(str(ckpt)) == ("distortx", (str(ckpt),))
    assert parse_spec("pkg.mod:build") == ("function", ("pkg.mod", "build", ""))
    assert parse_spec("a/b.py:build:w.pth") == ("function", ("a/b.py", "build", "w.pth"))
    for bad in ("", "resnet50", "torchvision:", "a:b:c:d"):
        with pytest.raises(ModelSpecError):
            parse_spec(bad)


def test_torchvision_spec_reads_classes_from_weights_and_preprocessing_from_metadata(tmp_path):
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.get_model("resnet18", num_classes=7)
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    m = load_model_spec(f"torchvision:resnet18:{path}")
    assert m.preprocess == Preprocess(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert m.class_names is None  # 7 classes are not ImageNet's 1000 categories
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(m.module(x), net.eval()((x - mean) / std), atol=1e-5)
    again = load_model_spec(f"torchvision:resnet18:{path}")
    assert again.fingerprint == m.fingerprint
    user = load_model_spec(f"torchvision:resnet18:{path}", preprocess={"resize": "none", "crop": 32, "mean": None})
    assert (user.preprocess.resize, user.preprocess.crop, user.preprocess.mean) == (None, 32, (0.485, 0.456, 0.406))


def test_torchvision_spec_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="resnet18"):
        load_model_spec("torchvision:resnet18x")
    with pytest.raises(ModelSpecError, match="does not exist"):
        load_model_spec(f"torchvision:resnet18:{tmp_path / 'missing.pth'}")
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3, 5)}, bad)
    with pytest.raises(ModelSpecError, match="do not fit the model .*(wrong shapes|missing)"):
        load_model_spec(f"torchvision:resnet18:{bad}")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelSpecError, match="weights-only state dict"):
        load_model_spec(f"torchvision:resnet18:{junk}")


def test_function_spec_from_a_file_with_weights_and_num_classes(tiny_py, tmp_path):
    m = load_model_spec(f"{tiny_py}:build", num_classes=6)
    assert m.module(torch.rand(3, 3, 8, 8)).shape == (3, 6)
    assert m.preprocess == Preprocess()
    assert load_model_spec(f"{tiny_py}:build", num_classes=6).fingerprint == m.fingerprint  # seeded init
    path = tmp_path / "w.pth"
    torch.save(m.module.net.state_dict(), path)
    again = load_model_spec(f"{tiny_py}:build:{path}", num_classes=6)
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(again.module(x), m.module(x))
    with pytest.raises(ModelSpecError, match="do not fit"):
        load_model_spec(f"{tiny_py}:build:{path}")  # 4 classes by default
    with pytest.raises(ModelSpecError, match="not a torch.nn.Module"):
        load_model_spec(f"{tiny_py}:not_a_model")
    with pytest.raises(ModelSpecError, match="no function"):
        load_model_spec(f"{tiny_py}:missing")
    with pytest.raises(ModelSpecError, match="cannot import"):
        load_model_spec("no_such_module_xyz:build")


def test_timm_spec_needs_timm_and_reads_its_data_config(monkeypatch, tiny_py):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ModelSpecError, match="pip install timm"):
        load_model_spec("timm:resnet18")
    fake = types.ModuleType("timm")
    fake_data = types.ModuleType("timm.data")
    fake.create_model = lambda name, pretrained=False, num_classes=1000: nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, num_classes))
    fake_data.resolve_data_config = lambda args, model=None: {
        "input_size": (3, 160, 160), "crop_pct": 0.875, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    fake.data = fake_data
    monkeypatch.setitem(sys.modules, "timm", fake)
    monkeypatch.setitem(sys.modules, "timm.data", fake_data)
    m = load_model_spec("timm:anything", num_classes=3)
    assert m.preprocess == Preprocess(182, 160, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def test_distortx_checkpoint_spec_uses_the_checkpoint_loader(monkeypatch, tmp_path):
    class Model(nn.Module):
        classes = ("clean", "jpeg", "blur")
        config = {"image_size": 48}

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return types.SimpleNamespace(logits=self.fc(x.mean(dim=(2, 3))))

    fake = types.ModuleType("distortx.models.checkpoint")
    fake.load_model = lambda path: Model()
    monkeypatch.setitem(sys.modules, "distortx.models.checkpoint", fake)
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"placeholder")
    m = load_model_spec(str(path))
    assert m.class_names == ("clean", "jpeg", "blur")
    assert m.preprocess == Preprocess(48, 48)
    assert m.module(torch.rand(2, 3, 48, 48)).shape == (2, 3)


def test_a_real_distortx_checkpoint_and_run_folder(tmp_path):
    from distortx.models.checkpoint import save_checkpoint
    from distortx.models import create_model

    torch.manual_seed(0)
    net = create_model("classifier", backbone="dx_small", classes=["jpeg", "contrast"], image_size=24).eval()
    save_checkpoint({"model": net.state_dict(), "model_config": net.config, "classes": list(net.classes)},
                    tmp_path / "run" / "best.pt")
    for spec in (str(tmp_path / "run" / "best.pt"), f"distortx:{tmp_path / 'run'}"):
        m = load_model_spec(spec)
        assert m.class_names == ("clean", "jpeg", "contrast") and m.preprocess == Preprocess(24, 24)
        x = torch.rand(2, 3, 24, 24)
        with torch.no_grad():
            assert torch.allclose(m.module(x), net(x).logits)
    with pytest.raises(ModelSpecError, match="does not exist"):
        load_model_spec(f"distortx:{tmp_path / 'nothing.pt'}")


def test_logits_of_accepts_common_outputs_and_rejects_others():
    t = torch.rand(2, 5)
    assert logits_of(t) is t
    assert logits_of({"logits": t}) is t
    assert logits_of((t, None)) is t
    assert logits_of(types.SimpleNamespace(logits=t)) is t
    with pytest.raises(ModelSpecError, match="not logits"):
        logits_of("text")
    with pytest.raises(ModelSpecError, match=r"Tensor\[N, K\]"):
        logits_of(torch.rand(2, 5, 3))
    adapter = ClassifierAdapter(nn.Flatten(), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert torch.allclose(adapter(torch.full((1, 3, 1, 1), 0.75)), torch.full((1, 3), 0.5))


# -- data -------------------------------------------------------------------------------------------------------
def test_npz_in_every_layout(tmp_path):
    x = np.arange(4 * 5 * 6 * 3, dtype=np.uint8).reshape(4, 5, 6, 3)
    y = np.array([0, 1, 2, 1], dtype=np.uint8)
    np.savez(tmp_path / "hwc.npz", x=x, y=y)
    np.savez(tmp_path / "chw.npz", x=x.transpose(0, 3, 1, 2), y=y)
    np.savez(tmp_path / "grey.npz", x=x[..., 0], y=y, names=np.array(["a", "b", "c", "d"]))
    hwc, chw = open_labelled(tmp_path / "hwc.npz"), open_labelled(tmp_path / "chw.npz")
    b1, b2 = hwc.load([3, 1]), chw.load([3, 1])
    assert b1.images.shape == (2, 3, 5, 6) and torch.equal(b1.images, b2.images)
    assert torch.equal(b1.images[0], torch.from_numpy(x[3]).permute(2, 0, 1))
    assert b1.labels.tolist() == [1, 1] and b1.indices.tolist() == [3, 1]
    grey = open_labelled(tmp_path / "grey.npz")
    assert grey.names == ["a", "b", "c", "d"]
    assert torch.equal(grey.load([0]).images[0, 0], grey.load([0]).images[0, 2])
    assert hwc.fingerprint() == chw.fingerprint() and hwc.fingerprint() != grey.fingerprint()
    cropped = open_labelled(tmp_path / "hwc.npz", Geometry(resize=None, crop=4)).load([0, 1])
    assert cropped.images.shape == (2, 3, 4, 4)
    assert [b.indices.tolist() for b in hwc.batches(1, 2)] == [[1, 2], [3]]
    head = hwc.head(2)
    assert len(head) == 2 and head.labels.tolist() == [0, 1] and head.fingerprint() != hwc.fingerprint()
    assert hwc.head(10) is hwc


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "nokeys.npz", images=np.zeros((2, 4, 4, 3), np.uint8))
    np.savez(tmp_path / "neg.npz", x=np.zeros((2, 4, 4, 3), np.uint8), y=np.array([0, -1]))
    np.savez(tmp_path / "len.npz", x=np.zeros((2, 4, 4, 3), np.uint8), y=np.array([0]))
    np.savez(tmp_path / "float_y.npz", x=np.zeros((2, 4, 4, 3), np.uint8), y=np.array([0.5, 1.0]))
    with pytest.raises(DatasetError, match="needs arrays 'x'"):
        open_labelled(tmp_path / "nokeys.npz")
    with pytest.raises(DatasetError, match="negative"):
        open_labelled(tmp_path / "neg.npz")
    with pytest.raises(DatasetError, match="one label per image"):
        open_labelled(tmp_path / "len.npz")
    with pytest.raises(DatasetError, match="integer class indices"):
        open_labelled(tmp_path / "float_y.npz")
    with pytest.raises(DatasetError, match="no such file"):
        open_labelled(tmp_path / "missing.npz")
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(DatasetError, match="unknown data format"):
        open_labelled(tmp_path / "data.txt")


def _write_images(root, names, size=(10, 12)):
    for i, name in enumerate(names):
        img = torch.full((3, *size), 40 * i, dtype=torch.uint8)
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        save_image(root / name, img)


def test_image_folder_layout_lists_classes_and_skips_unreadable_files(tmp_path):
    root = tmp_path / "folder"
    _write_images(root, ["cat/a.png", "cat/sub/b.png", "dog/c.png"])
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    data = open_labelled(root)
    assert data.class_names == ("cat", "dog")
    assert data.names == ["cat/a.png", "cat/sub/b.png", "dog/broken.png", "dog/c.png"]
    assert data.labels.tolist() == [0, 0, 1, 1]
    batch = data.load(range(4))
    assert batch.indices.tolist() == [0, 1, 3] and batch.labels.tolist() == [0, 0, 1]
    assert [name for name, _ in batch.failed] == ["dog/broken.png"]
    assert "dog/broken.png" in batch.failed[0][1] and str(root) not in batch.failed[0][1]
    workers = list(data.batches(0, 2, workers=1))
    assert [b.indices.tolist() for b in workers] == [[0, 1], [3]]
    assert data.head(3).names == data.names[:3] and data.head(3).class_names == ("cat", "dog")


def test_image_folder_errors(tmp_path):
    flat = tmp_path / "flat"
    _write_images(flat, ["a.png"])
    (flat / "cls").mkdir()
    with pytest.raises(DatasetError, match="outside the class sub-folders"):
        open_labelled(flat)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        open_labelled(empty)
    mixed = tmp_path / "mixed"
    _write_images(mixed, ["a/x.png"], size=(8, 8))
    _write_images(mixed, ["b/y.png"], size=(9, 8))
    with pytest.raises(DatasetError, match="different sizes.*--resize/--crop"):
        open_labelled(mixed).load([0, 1])
    assert open_labelled(mixed, Geometry(resize=6, crop=6)).load([0, 1]).images.shape == (2, 3, 6, 6)


def test_csv_and_json_label_lists(tmp_path):
    _write_images(tmp_path / "imgs", ["p.png", "q.png"])
    (tmp_path / "labels.csv").write_text("file,label\nimgs/p.png,3\nimgs/q.png, 1\n")
    (tmp_path / "labels.json").write_text(json.dumps({"imgs/p.png": 3, "imgs/q.png": 1}))
    (tmp_path / "list.json").write_text(json.dumps([{"file": "imgs/p.png", "label": 3}, ["imgs/q.png", 1]]))
    for name in ("labels.csv", "labels.json", "list.json"):
        data = open_labelled(tmp_path / name)
        assert data.labels.tolist() == [3, 1] and data.class_names is None
        assert data.load([0, 1]).images.shape == (2, 3, 10, 12)
    (tmp_path / "bad.csv").write_text("imgs/p.png,cat\n")
    with pytest.raises(DatasetError, match="line 1: label 'cat' is not a class index"):
        open_labelled(tmp_path / "bad.csv")
    (tmp_path / "bad.json").write_text(json.dumps({"imgs/p.png": -2}))
    with pytest.raises(DatasetError, match="negative"):
        open_labelled(tmp_path / "bad.json")
