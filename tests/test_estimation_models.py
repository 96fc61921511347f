"""Endo's networks: shapes, spatial averaging, the pixel-wise loss, the frozen estimator, the registry."""
import pytest
import distortx
import torch

from distortx.errors import DistortxError, ImageError, ParameterError
from distortx.estimation import ParamAwareClassifier, ParamEstimator, load_estimator, save_estimator
from distortx.estimation.dilated import UCHIDA_DILATIONS, receptive_field


@pytest.fixture()
def estimator():
    torch.manual_seed(0)
    return ParamEstimator("noise_sigma", width=8).eval()


def test_estimator_is_uchidas_seven_dilated_layers(estimator):
    convs = [m for m in estimator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.dilation[0] for c in convs] == [1, 2, 3, 4, 3, 2, 1]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in estimator.modules())  # Endo omits BN
    assert receptive_field(list(UCHIDA_DILATIONS) + [1]) == 33


def test_estimator_map_keeps_size_and_forward_is_its_spatial_mean(estimator):
    x = torch.rand(3, 3, 37, 52)
    pixel = estimator.pixel_map(x)
    assert pixel.shape == (3, 1, 37, 52)
    assert torch.allclose(estimator(x), pixel.mean(dim=(2, 3)), atol=1e-5)
    assert estimator(x).shape == (3, 1)


def test_estimator_scale_is_physical_units(estimator):
    x = torch.rand(2, 3, 16, 16)
    feats = estimator.backbone(x)
    assert torch.allclose(estimator.head.pixel_map(feats), estimator.head.normalised(feats) * 50.0)
    assert ParamEstimator("jpeg_quality", width=4).head.scale.item() == 100.0


def test_estimator_loss_is_pixelwise_mse_on_the_normalised_scale(estimator):
    x = torch.rand(2, 3, 16, 16)
    target = torch.tensor([10.0, 40.0])
    norm = estimator.head.normalised(estimator.backbone(x))
    want = ((norm - (target / 50.0).view(2, 1, 1, 1)) ** 2).mean()
    assert torch.allclose(estimator.loss(x, target), want)
    # a constant per-pixel prediction equal to the target gives zero loss
    with torch.no_grad():
        estimator.head.conv.weight.zero_()
        estimator.head.conv.bias.fill_(0.6)
    assert estimator.loss(x, torch.tensor([30.0, 30.0])).item() == pytest.approx(0.0, abs=1e-12)
    assert estimator(x)[:, 0].tolist() == pytest.approx([30.0, 30.0])


def test_estimator_rejects_bad_images(estimator):
    with pytest.raises(ImageError, match="Tensor\\[N, 3, H, W\\]"):
        estimator(torch.rand(3, 16, 16))
    with pytest.raises(ImageError):
        estimator(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def test_param_aware_classifier_uses_the_parameter():
    torch.manual_seed(0)
    clf = ParamAwareClassifier(num_classes=7, num_params=1, param_scale=100.0, width=4).eval()
    x = torch.rand(2, 3, 32, 32)
    a = clf(x, torch.tensor([10.0, 10.0]))
    b = clf(x, torch.tensor([90.0, 90.0]))
    assert a.shape == (2, 7)
    assert not torch.allclose(a, b)  # the second input changes the logits
    with pytest.raises(ParameterError, match="params"):
        clf(x)  # no estimator and no parameter


def test_param_free_classifier_is_the_same_trunk_without_the_input():
    with_p = ParamAwareClassifier(num_params=1, width=4)
    without = ParamAwareClassifier(num_params=0, width=4)
    assert with_p.head.fc[0].in_features == without.head.fc[0].in_features + 32
    names = {n for n, _ in without.backbone.named_parameters()}
    assert names == {n for n, _ in with_p.backbone.named_parameters()}
    assert without(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_classifier_strided_conv_pooling_and_spatial_dropout():
    clf = ParamAwareClassifier(num_params=0, width=4)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in clf.modules())
    strided = [m for m in clf.backbone.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert [m.kernel_size for m in strided] == [(2, 2)] * 3
    assert sum(isinstance(m, torch.nn.Dropout2d) for m in clf.modules()) == 3
    maps = clf.backbone(torch.rand(1, 3, 32, 32))
    assert [tuple(m.shape[1:]) for m in maps] == [(4, 16, 16), (8, 8, 8), (16, 4, 4)]


def test_frozen_estimator_supplies_the_parameter_and_gets_no_gradient(estimator):
    clf = ParamAwareClassifier(num_params=1, param_scale=50.0, width=4, estimator=estimator)
    clf.train()
    assert not clf.estimator.training  # frozen: stays in eval mode
    x = torch.rand(2, 3, 32, 32)
    est = clf.estimate(x)
    assert torch.allclose(est, estimator(x))
    clf.eval()
    assert torch.allclose(clf(x), clf(x, est))  # Fig. 1-c equals Fig. 1-b fed the estimate
    clf.train()
    torch.nn.functional.cross_entropy(clf(x), torch.tensor([1, 2])).backward()
    assert all(p.grad is None for p in estimator.parameters())
    assert all(p.grad is not None for p in clf.head.parameters())


def test_checkpoint_round_trip_with_weights_only(tmp_path, estimator):
    path = tmp_path / "est.pt"
    save_estimator(estimator, path, {"note": "test"})
    ck = torch.load(path, weights_only=True)
    assert ck["model_config"]["what"] == "noise_sigma" and ck["meta"]["note"] == "test"
    back = load_estimator(path)
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(back(x), estimator(x))


def test_checkpoint_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(1)}, bad)
    with pytest.raises(DistortxError, match="not a distortx checkpoint") as err:
        load_estimator(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(DistortxError, match="no such checkpoint"):
        load_estimator(tmp_path / "missing.pt")
    ynet = tmp_path / "ynet.pt"
    from distortx.models.checkpoint import export_weights

    m = distortx.create_model("ynet", backbone="dx_small", image_size=64)
    export_weights({"model": m.state_dict(), "model_config": m.config}, ynet)
    with pytest.raises(DistortxError, match="not a param_estimator"):
        load_estimator(ynet)


def test_backbones_and_heads_are_registered_through_the_hooks():
    from distortx.plugins import get_plugin_manager

    pm = get_plugin_manager()
    backbones = pm.registry("distortx_backbones")
    heads = pm.registry("distortx_heads")
    assert backbones["uchida_dilated"].plugin == "distortx.estimation.plugin"
    assert tuple(backbones["endo_vgg"].channels) == (64, 128, 256)
    assert heads["param_estimator"].task == "regression"
    assert heads["param_aware_classifier"].task == "classification"
    head = heads["param_estimator"].build(in_channels=(8,), scale=100.0)
    assert head([torch.rand(2, 8, 5, 5)]).shape == (2, 1)  # the registry's regression contract: Tensor[N, P]


def test_registry_architectures_rebuild_from_their_config():
    import distortx.estimation  # noqa: F401  (registers the architectures)
    from distortx.models import registry

    assert {"param_estimator", "param_aware_classifier"} <= set(registry.list_models())
    est = registry.create_model("param_estimator", what="jpeg_quality", width=4)
    assert isinstance(est, ParamEstimator) and est.config["arch"] == "param_estimator"
    again = registry.create_model(**est.config)
    assert again.config == est.config
    clf = registry.create_model("param_aware_classifier", num_params=0, width=4, num_classes=5)
    assert clf(torch.rand(1, 3, 32, 32)).shape == (1, 5)
    with pytest.raises(ParameterError, match="own trunk"):
        registry.create_model("param_estimator", backbone="resnet50")
