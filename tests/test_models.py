"""Models: the registry (timm style: every registered backbone and head is tested for free), assembly by names,
class vocabulary, config round trip, weights, export."""
from __future__ import annotations

import inspect
import json
import math
import textwrap
import types
import warnings

import pytest
import torch
from torch import nn

import distortx
from distortx import BackboneSpec, DistortxError, HeadSpec, ImageError, ParameterError, PluginError, UnknownNameError
from distortx import hookspecs
from distortx.models import DistortxModel, create_model, list_backbones, list_heads, list_models
from distortx.models.assemble import build_backbone, build_head
from distortx.plugins import DistortxPluginManager, get_plugin_manager

BACKBONES = list_backbones()
HEADS = list_heads()
BUILTIN_BACKBONES = ["atrous_vgg16", "dx_small", "iqa_cnn", "resnet101", "resnet18", "resnet50", "simple_cnn", "vgg16"]
FAST = dict(backbone="dx_small", image_size=128)  # small models for the assembly tests


@pytest.fixture(autouse=True)
def one_thread():
    """A single intra-op thread: as fast for these sizes, and immune to a busy shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def as_list(out):
    return [out] if isinstance(out, torch.Tensor) else list(out)


def assert_grads(module: nn.Module):
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing[:5]}"
    bad = [n for n, p in module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients in {bad[:5]}"


# -- the registry -----------------------------------------------------------------------------------------------
def test_registry_lists_the_builtins_and_filters_by_pattern():
    assert {"classifier", "detector", "ynet"} <= set(list_models())
    assert set(BUILTIN_BACKBONES) <= set(BACKBONES)
    assert {"classifier", "ssd"} <= set(HEADS)
    assert list_backbones("resnet*") == ["resnet101", "resnet18", "resnet50"]
    assert "ssd" in list_heads(task="detection") and "ssd" not in list_heads(task="classification")
    assert distortx.list_models is list_models and distortx.create_model is create_model


@pytest.mark.parametrize("call, kind, close", [
    (lambda: create_model("ynte"), "model", "ynet"),
    (lambda: create_model("ynet", backbone="resnet5"), "backbone", "resnet50"),
    (lambda: create_model("classifier", head="clasifier"), "head", "classifier"),
])
def test_unknown_names_say_what_exists_and_what_is_close(call, kind, close):
    with pytest.raises(UnknownNameError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(f"unknown {kind}") and close in err.value.close_matches and "\n" not in msg


def test_a_head_of_the_wrong_task_is_refused_with_the_right_ones_named():
    with pytest.raises(ParameterError, match=r"'classifier' is a classification head.*needs a detection head.*ssd"):
        create_model("ynet", det_head="classifier", **FAST)


# -- every registered backbone ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_maps_match_their_declaration_and_train(name):
    """1x3x300x300 and 2x3x224x224: declared channels and strides hold, no NaN, backward reaches every parameter."""
    spec = get_plugin_manager().get("distortx_backbones", name)
    torch.manual_seed(0)
    module, channels, strides, sizes = build_backbone(name, 300)
    assert channels == tuple(getattr(module, "channels", spec.channels)) and len(strides) == len(channels)
    if name in BUILTIN_BACKBONES:
        assert channels == spec.channels and strides == spec.strides
    for size, batch, grad in ((300, 1, False), (224, 2, True)):
        x = torch.rand(batch, 3, size, size)
        module.train(grad)
        with torch.set_grad_enabled(grad):
            maps = as_list(module(x))
        assert [m.shape[1] for m in maps] == list(channels)
        for m, s in zip(maps, strides):
            assert m.shape[0] == batch and torch.isfinite(m).all()
            assert abs(m.shape[-1] - size / s) < 1 and abs(m.shape[-2] - size / s) < 1, (m.shape, s)
        if size == 300:
            assert [tuple(m.shape[-2:]) for m in maps] == sizes  # the meta-device probe saw the real sizes
    sum(m.float().square().mean() for m in maps).backward()
    assert_grads(module)


# -- every registered head ----------------------------------------------------------------------------------------
FAKE_CHANNELS, FAKE_STRIDES, FAKE_SIZES, FAKE_IMAGE = (24, 40, 64), (8, 16, 32), [(16, 16), (8, 8), (4, 4)], 128


@pytest.mark.parametrize("name", HEADS)
def test_head_on_fake_features_gives_its_task_outputs_and_trains(name):
    spec = get_plugin_manager().get("distortx_heads", name)
    torch.manual_seed(0)
    head, consumes = build_head(name, spec.task, FAKE_CHANNELS, FAKE_STRIDES, FAKE_SIZES, FAKE_IMAGE, 5)
    assert consumes == spec.consumes
    feats = [torch.randn(2, c, h, w) for c, (h, w) in zip(FAKE_CHANNELS, FAKE_SIZES)]
    # heads with a second input (Endo's parameter-aware classifier) get a Tensor[N, 1] for each extra input
    extra = [torch.rand(2, 1) for _ in list(inspect.signature(head.forward).parameters)[1:]]
    out = head(feats if consumes == "all" else feats[-1], *extra)
    if spec.task == "classification":
        assert out.shape == (2, 5)
        tensors = [out]
    elif spec.task == "detection":
        loc, conf = out
        priors = head.priors((FAKE_IMAGE, FAKE_IMAGE), FAKE_SIZES)
        assert loc.shape == (2, priors.shape[0], 4) and conf.shape == (2, priors.shape[0], 5)
        tensors = [loc, conf]
    else:
        assert out.dim() == 2 and out.shape[0] == 2
        tensors = [out]
    assert all(torch.isfinite(t).all() for t in tensors)
    sum(t.square().mean() for t in tensors).backward()
    assert_grads(head)


def test_builtin_heads_declare_what_they_consume():
    pm = get_plugin_manager()
    assert pm.get("distortx_heads", "classifier").consumes == "last"
    assert pm.get("distortx_heads", "ssd").consumes == "all" and pm.get("distortx_heads", "ssd").task == "detection"


# -- assembled models ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ynet():
    torch.manual_seed(0)
    return create_model("ynet", **FAST)


def test_ynet_shares_one_backbone_between_a_classifier_and_an_ssd_head(ynet):
    assert isinstance(ynet, DistortxModel) and list(ynet.heads) == ["classification", "detection"]
    assert ynet.classes == ("clean", *ynet.types) and ynet.det_classes == ("background", *ynet.types)
    ynet.train()
    out = ynet(torch.rand(2, 3, 128, 128))
    k = len(ynet.types) + 1
    assert out.logits.shape == (2, k) and out.conf.shape[2] == k and out.loc.shape[:2] == out.conf.shape[:2]
    assert out.priors.shape == (out.loc.shape[1], 4) and out.detections is None and out.image_size == (128, 128)
    grads = torch.autograd.grad(out.logits.sum(), ynet.backbone.stem[0].weight, retain_graph=True)[0]
    assert grads.abs().sum() > 0  # both heads read the same backbone
    grads = torch.autograd.grad(out.conf.sum(), ynet.backbone.stem[0].weight)[0]
    assert grads.abs().sum() > 0


def test_eval_mode_decodes_named_detections_in_pixels(ynet):
    ynet.eval()
    x = torch.rand(3, 3, 128, 128)
    with torch.no_grad():
        out = ynet(x)
    assert out.detections is not None and len(out.detections) == 3
    for det in out.detections:
        boxes, scores, labels = det["boxes"], det["scores"], det["labels"]
        assert boxes.shape == (scores.shape[0], 4) and labels.dtype == torch.int64 and 0 < scores.shape[0] <= 200
        assert (boxes >= 0).all() and (boxes <= 128).all() and (boxes[:, 2:] >= boxes[:, :2]).all()
        assert ((labels >= 1) & (labels < len(ynet.det_classes))).all()
        assert (scores[:-1] >= scores[1:]).all()
    named = ynet.describe(out)
    assert named[0]["class"] in ynet.classes and named[0]["top"][0][0] == named[0]["class"]
    assert named[0]["detections"][0]["type"] in ynet.types
    json.dumps(named)
    with torch.no_grad():  # postprocess=False: raw outputs only, in eval mode too
        assert ynet(x, postprocess=False).detections is None
    ynet.train()


def test_a_uint8_batch_equals_the_float_batch_and_bad_inputs_say_what_is_wrong(ynet):
    ynet.eval()
    u8 = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        a, b = ynet.raw_outputs(u8), ynet.raw_outputs(u8.float() / 255)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    for bad in (torch.rand(3, 64, 64), torch.rand(1, 1, 64, 64), torch.zeros(1, 3, 8, 8, dtype=torch.int32)):
        with pytest.raises(ImageError):
            ynet(bad)
    with pytest.raises(ImageError, match="square"):
        ynet(torch.rand(1, 3, 128, 96))
    ynet.train()


def test_the_model_normalises_its_input_with_imagenet_statistics():
    torch.manual_seed(0)
    m = create_model("classifier", **FAST).eval()
    x = torch.rand(2, 3, 64, 64)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = m.heads["classification"](m.backbone((x - mean) / std)[-1])
        assert torch.allclose(m(x).logits, expected, atol=1e-6)


def test_loss_weights_heads_by_the_targets_present(ynet):
    ynet.train()
    torch.manual_seed(1)
    out = ynet(torch.rand(2, 3, 128, 128))
    targets = [{"boxes": torch.tensor([[10.0, 20.0, 80.0, 100.0]]), "labels": torch.tensor([3])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    total, parts = ynet.loss(out, {"labels": torch.tensor([0, 4]), "targets": targets})
    assert set(parts) == {"loss", "cls", "loc", "conf"}
    assert math.isclose(parts["loss"], parts["cls"] + parts["loc"] + parts["conf"], rel_tol=1e-5)
    assert math.isclose(total.item(), parts["loss"], rel_tol=1e-6)
    only_cls, parts = ynet.loss(out, {"labels": torch.tensor([0, 4])})
    assert set(parts) == {"loss", "cls"}
    with pytest.raises(ParameterError, match="no target"):
        ynet.loss(out, {"images": None})
    with pytest.raises(ParameterError, match="must index the model's 9 classes"):
        ynet.loss(out, {"labels": torch.tensor([0, 9])})
    with pytest.raises(ParameterError, match=r"detection labels must be in 1\.\.8"):
        ynet.loss(out, {"targets": [{"boxes": torch.zeros(1, 4), "labels": torch.tensor([0])}] * 2})


# -- vocabulary and config ----------------------------------------------------------------------------------------
def test_class_vocabulary_comes_from_types_presets_or_a_count():
    hsieh = distortx.get_preset("hsieh-constant").distortions
    m = create_model("classifier", classes="hsieh-constant", **FAST)
    assert m.classes == ("clean", *hsieh) and m.det_classes is None
    assert create_model("detector", classes=["reference", "jpeg", "gaussian_blur"], **FAST).det_classes == \
        ("background", "jpeg", "gaussian_blur")
    assert create_model("classifier", num_classes=3, **FAST).classes == ("clean", "type_1", "type_2")
    assert create_model("classifier", **FAST).types == distortx.get_preset("ahn-detection-basic").distortions
    with pytest.raises(ParameterError, match="does not match"):
        create_model("classifier", classes=["jpeg", "lowpass"], num_classes=5, **FAST)
    with pytest.raises(ParameterError, match="unique"):
        create_model("classifier", classes=["jpeg", "jpeg"], **FAST)


@pytest.mark.parametrize("arch, kwargs", [
    ("classifier", dict(head_kwargs={"dropout": 0.25})),
    ("detector", dict(head_kwargs={"batch_norm": False, "num_maps": 5})),
    ("ynet", dict(classes=["jpeg", "lowpass", "salt_pepper"], backbone_kwargs={"width": 0.5},
                  loss_weights={"classification": 0.5})),
])
def test_config_round_trip_rebuilds_the_same_architecture(arch, kwargs):
    torch.manual_seed(0)
    a = create_model(arch, **{**FAST, **kwargs})
    config = json.loads(json.dumps(a.config))
    assert config == a.config and config["arch"] == arch
    b = create_model(**config)
    assert b.config == a.config and b.classes == a.classes and b.det_classes == a.det_classes
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    b.load_weights(a.state_dict())
    a.eval(), b.eval()
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert all(torch.equal(u, v) for u, v in zip(a.raw_outputs(x), b.raw_outputs(x)))


def test_wrong_shaped_weights_give_one_clear_error(tmp_path):
    nine = create_model("ynet", **FAST)
    three = create_model("ynet", classes=["jpeg", "lowpass"], **FAST)
    with pytest.raises(DistortxError) as err:
        nine.load_weights(three.state_dict())
    msg = str(err.value)
    assert "wrong shapes: heads.classification.3.weight (3, 256) vs (9, 256)" in msg and "\n" not in msg
    path = tmp_path / "resnet18.pt"
    torch.save(create_model("classifier", backbone="resnet18", image_size=64).state_dict(), path)
    with pytest.raises(DistortxError, match=r"model weights '.*resnet18.pt' do not fit.*missing: backbone\.stem") as err:
        nine.load_weights(str(path))
    assert "\n" not in str(err.value)
    with pytest.raises(DistortxError, match="no file"):
        nine.load_weights(str(tmp_path / "absent.pt"))


def test_pyramid_classifier_reads_the_texture_statistics_of_every_map():
    """Its MLP sees [mean, std] of every channel of every map: a change of the shallowest map's spread alone moves
    the logits, and the features equal the hand-computed statistics."""
    from distortx.models.heads import pyramid_classifier

    torch.manual_seed(0)
    head = pyramid_classifier(FAKE_CHANNELS, 5, hidden=16).eval()
    feats = [torch.randn(2, c, h, w) for c, (h, w) in zip(FAKE_CHANNELS, FAKE_SIZES)]
    seen = {}
    head.mlp[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    head(feats)
    expected = torch.cat([t for f in feats for t in (f.mean(dim=(2, 3)), f.std(dim=(2, 3), unbiased=False))], 1)
    torch.testing.assert_close(seen["x"], expected, atol=1e-5, rtol=1e-4)
    sharper = [feats[0] * 3.0] + feats[1:]
    assert not torch.allclose(head(feats), head(sharper))
    with pytest.raises(ParameterError, match="hidden must be >= 1"):
        pyramid_classifier(FAKE_CHANNELS, 5, hidden=0)


def test_a_new_head_on_trained_weights_keeps_its_own_initialisation():
    """load_weights(keep=[prefix]): every other tensor comes from the file, the kept module stays as built;
    without keep the mismatch is one error line."""
    torch.manual_seed(0)
    trained = create_model("ynet", **FAST)
    torch.manual_seed(1)
    fresh = create_model("ynet", cls_head="pyramid_classifier", **FAST)
    head_before = {k: v.clone() for k, v in fresh.state_dict().items() if k.startswith("heads.classification.")}
    with pytest.raises(DistortxError, match="missing: heads.classification.mlp"):
        fresh.load_weights(trained.state_dict())
    fresh.load_weights(trained.state_dict(), keep=["heads.classification"])
    after, source = fresh.state_dict(), trained.state_dict()
    assert all(torch.equal(after[k], v) for k, v in head_before.items())
    assert all(torch.equal(after[k], source[k]) for k in after if not k.startswith("heads.classification."))


def test_backbone_weights_load_from_a_user_file_weights_only_and_stay_out_of_the_config(tmp_path):
    from torchvision.models import resnet18 as tv_resnet18

    tv = tv_resnet18(weights=None)  # a torchvision state dict (its fc is not part of the backbone)
    path = tmp_path / "tv_resnet18.pth"
    torch.save(tv.state_dict(), path)
    m = create_model("classifier", backbone="resnet18", image_size=64, backbone_kwargs={"weights": str(path)})
    assert torch.equal(m.backbone.layer4[1].conv2.weight, tv.layer4[1].conv2.weight)
    assert m.config["backbone_kwargs"] == {}
    torch.save({"state_dict": tv.state_dict()}, path)  # checkpoint-style dicts load too
    m = create_model("classifier", backbone="resnet18", image_size=64, backbone_kwargs={"weights": str(path)})
    assert torch.equal(m.backbone.conv1.weight, tv.conv1.weight)
    with pytest.raises(DistortxError, match=r"dx_small weights .* do not fit.*(missing|unexpected)") as err:
        create_model("classifier", backbone="dx_small", image_size=64, backbone_kwargs={"weights": str(path)})
    assert "\n" not in str(err.value)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(DistortxError, match="cannot read"):
        create_model("classifier", backbone="dx_small", image_size=64, backbone_kwargs={"weights": str(path)})


# -- the backbone contract for plugins ----------------------------------------------------------------------------
def _example(hook: str) -> dict:
    """Run the Example:: block of a hook's documentation; return its namespace."""
    doc = inspect.getdoc(getattr(hookspecs, hook))
    code = textwrap.dedent(doc.split("Example::", 1)[1])
    ns: dict = {}
    exec(compile("\n".join(line for line in code.splitlines() if not line.strip().startswith("# then")), hook, "exec"), ns)
    return ns


def _manager_with_plugin(monkeypatch, **hooks):
    plugin = types.ModuleType("third_party")
    for name, fn in hooks.items():
        setattr(plugin, name, fn)

    class EP:
        name, dist = "third", None

        def load(self):
            return plugin

    monkeypatch.setattr("distortx.plugins.metadata.entry_points", lambda group: [EP()])
    pm = DistortxPluginManager(load_entrypoints=True)
    monkeypatch.setattr("distortx.plugins._MANAGER", pm)
    return pm


def test_the_documented_plugin_backbone_builds_a_ynet_with_no_other_code(monkeypatch):
    ns = _example("distortx_backbones")
    _manager_with_plugin(monkeypatch, distortx_backbones=ns["distortx_backbones"])
    assert "tiny_net" in list_backbones()
    m = create_model("ynet", backbone="tiny_net", image_size=96)
    out = m.train()(torch.rand(2, 3, 96, 96))
    loss, _ = m.loss(out, {"labels": torch.tensor([1, 2]),
                           "targets": [{"boxes": torch.tensor([[5.0, 5.0, 60.0, 70.0]]), "labels": torch.tensor([1])}] * 2})
    loss.backward()
    assert_grads(m)


def test_the_documented_plugin_head_builds_a_classifier(monkeypatch):
    ns = _example("distortx_heads")
    _manager_with_plugin(monkeypatch, distortx_heads=ns["distortx_heads"])
    m = create_model("classifier", head="mlp", head_kwargs={"hidden": 64}, **FAST)
    assert m.heads["classification"][2].out_features == 64
    assert m(torch.rand(2, 3, 64, 64)).logits.shape == (2, 9)


def test_a_backbone_without_declared_strides_gets_them_measured(monkeypatch):
    spec = BackboneSpec("legacy", lambda **kw: nn.Sequential(nn.Conv2d(3, 8, 3, stride=8, padding=1), nn.ReLU()),
                        channels=(8,))
    assert spec.channels == (8,) and spec.strides == (0,) and spec.out_channels == 8
    from distortx.hookspecs import hookimpl

    _manager_with_plugin(monkeypatch, distortx_backbones=hookimpl(lambda: [spec]))
    m = create_model("ynet", backbone="legacy", image_size=128)
    assert m.feature_strides == (8,)  # measured, as it was not declared
    assert m(torch.rand(2, 3, 128, 128)).logits.shape == (2, 9)


def test_backbone_specs_are_validated():
    build = lambda **kw: nn.Identity()  # noqa: E731
    with pytest.raises(ParameterError, match="one entry per map"):
        BackboneSpec("x", build, channels=(8, 16), strides=(8,))
    with pytest.raises(ParameterError, match="declare channels"):
        BackboneSpec("x", build)
    with pytest.raises(ParameterError, match="integers >= 1"):
        BackboneSpec("x", build, channels=(0,), strides=(8,))
    with pytest.raises(ParameterError, match="task must be"):
        HeadSpec("x", build, task="segmentation")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert BackboneSpec("x", build, channels=[8, 16], strides=[4, 8]).out_channels == 16


def test_a_backbone_that_lies_about_its_channels_is_named(monkeypatch):
    from distortx.hookspecs import hookimpl

    liar = BackboneSpec("liar", lambda **kw: nn.Conv2d(3, 8, 3, stride=8, padding=1), channels=(16,), strides=(8,))
    _manager_with_plugin(monkeypatch, distortx_backbones=hookimpl(lambda: [liar]))
    with pytest.raises(PluginError, match=r"backbone 'liar' \(plugin 'third'\) declares channels \(16,\).*returns 1 maps with channels \(8,\)"):
        create_model("classifier", backbone="liar", image_size=64)


# -- built-in backbones: the papers' details ----------------------------------------------------------------------
def test_atrous_vgg16_is_ssds_base_network():
    from distortx.models.backbones import atrous_vgg16

    net = atrous_vgg16()
    assert net.features[16].ceil_mode and (net.pool5.kernel_size, net.pool5.stride) == (3, 1)
    assert (net.fc6.in_channels, net.fc6.out_channels, net.fc6.dilation, net.fc6.padding) == (512, 1024, (6, 6), (6, 6))
    assert (net.fc7.out_channels, net.fc7.kernel_size) == (1024, (1, 1))
    assert torch.equal(net.l2norm.weight, torch.full((512,), 20.0))
    x = torch.randn(2, 512, 5, 5).abs()
    assert torch.allclose(net.l2norm(x).norm(dim=1), torch.full((2, 5, 5), 20.0), rtol=1e-5)


def test_iqa_cnn_scores_every_32x32_patch_like_kangs_patch_network():
    """Cell (i, j) of the fully convolutional map equals the network run on the patch at (32 i, 32 j) alone."""
    from distortx.models.backbones import iqa_cnn

    torch.manual_seed(0)
    net = iqa_cnn(local_norm=False).eval()
    conv = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in conv] == [(50, (7, 7)), (800, (1, 1)), (800, (1, 1))]
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        full = net(x)[0]
        assert full.shape == (1, 800, 3, 2)
        for i, j in ((0, 0), (2, 1), (1, 0)):
            patch = net(x[..., 32 * i:32 * i + 32, 32 * j:32 * j + 32])[0]
            assert patch.shape == (1, 800, 1, 1)
            assert torch.allclose(full[..., i, j], patch[..., 0, 0], atol=1e-5)


def test_dx_small_is_small():
    m = create_model("ynet", backbone="dx_small")
    assert sum(p.numel() for p in m.backbone.parameters()) < 1_000_000
    assert sum(p.numel() for p in m.parameters()) < 5_000_000


# -- export -------------------------------------------------------------------------------------------------------
def test_torch_export_round_trip_of_the_eval_ynet_up_to_the_raw_head_outputs(tmp_path, ynet):
    from distortx.models.export import export_model, load_exported, output_names, save_exported

    ynet.eval()
    program = export_model(ynet)
    path = tmp_path / "ynet.pt2"
    save_exported(program, path)
    loaded = load_exported(path).module()
    assert output_names(ynet) == ("logits", "loc", "conf")
    for batch in (1, 3):  # the batch dimension is dynamic
        x = torch.rand(batch, 3, 128, 128)
        with torch.no_grad():
            eager = ynet.raw_outputs(x)
            got = loaded(x)
        assert len(got) == 3
        for e, g in zip(eager, got):
            assert e.shape == g.shape and torch.allclose(e, g, atol=1e-5)
    ynet.train()


def test_onnx_export_runs_in_onnxruntime(tmp_path, ynet):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from distortx.models.export import export_onnx

    ynet.eval()
    path = tmp_path / "ynet.onnx"
    export_onnx(ynet, path)
    session = ort.InferenceSession(str(path))
    assert [o.name for o in session.get_outputs()] == ["logits", "loc", "conf"]
    for batch in (1, 3):  # the batch dimension is dynamic
        x = torch.rand(batch, 3, 128, 128)
        got = session.run(None, {"images": x.numpy()})
        with torch.no_grad():
            for e, g in zip(ynet.raw_outputs(x), got):
                assert e.shape == g.shape and torch.allclose(e, torch.from_numpy(g), atol=1e-4)
    ynet.train()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_ynet_runs_on_cuda_like_on_the_cpu():
    import copy

    torch.manual_seed(0)
    cpu_model = create_model("ynet", **FAST).eval()
    gpu_model = copy.deepcopy(cpu_model).cuda()
    x = torch.rand(4, 3, 128, 128)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            cpu, gpu = cpu_model(x), gpu_model(x.cuda())
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    for name in ("logits", "loc", "conf"):
        assert torch.allclose(getattr(gpu, name).cpu(), getattr(cpu, name), atol=1e-3, rtol=1e-3), name
    assert gpu.priors.is_cuda and torch.equal(gpu.priors.cpu(), cpu.priors)
    for d_cpu, d_gpu in zip(cpu.detections, gpu.detections):
        assert d_gpu["boxes"].is_cuda and torch.allclose(d_gpu["boxes"][:5].cpu(), d_cpu["boxes"][:5], atol=1e-2)
    gpu_model.train()
    targets = [{"boxes": torch.tensor([[10.0, 20.0, 80.0, 100.0]], device="cuda"), "labels": torch.tensor([3], device="cuda")}] * 4
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = gpu_model(x.cuda().contiguous(memory_format=torch.channels_last))
    loss, parts = gpu_model.loss(out, {"labels": torch.tensor([0, 1, 2, 3], device="cuda"), "targets": targets})
    loss.backward()
    assert math.isfinite(parts["loss"])
    assert_grads(gpu_model)
