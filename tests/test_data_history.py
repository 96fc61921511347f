"""Photo history (distortx.data.history): the camera-noise model's statistics, the JPEG record, seeding, and the
training stream that puts a history on every clean crop."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from distortx.data.history import HistorySpec, photo_history
from distortx.distortions.noise import camera_noise
from distortx.distortions.jpeg import pillow_jpeg
from distortx.errors import DistortxError


@pytest.mark.parametrize("spatial", [0.0, 1.0])
@pytest.mark.parametrize("sigma", [1.0, 4.0])
def test_camera_noise_has_the_asked_sd_at_mid_grey(sigma, spatial):
    flat = torch.full((3, 256, 256), 127.5)
    noisy = camera_noise(flat, sigma, torch.Generator().manual_seed(0), shot=0.5, channel_corr=0.3, spatial=spatial)
    assert float((noisy - flat).std()) == pytest.approx(sigma, rel=0.03)


def test_camera_noise_is_signal_dependent_and_correlated():
    g = torch.Generator().manual_seed(1)
    ramp = torch.cat([torch.full((3, 128, 256), 20.0), torch.full((3, 128, 256), 235.0)], 1)
    n = camera_noise(ramp, 4.0, g, shot=0.9, channel_corr=0.5, spatial=1.0) - ramp
    dark, bright = float(n[:, :128].std()), float(n[:, 128:].std())
    # variance a x + b: shot share 0.9 of 16 at x = 127.5 -> sd(20) ~ 1.99, sd(235) ~ 5.2
    assert dark == pytest.approx((0.9 * 16 / 127.5 * 20 + 1.6) ** 0.5, rel=0.05)
    assert bright == pytest.approx((0.9 * 16 / 127.5 * 235 + 1.6) ** 0.5, rel=0.05)
    flat = n[:, 128:].reshape(3, -1)
    assert float(torch.corrcoef(flat)[0, 1]) == pytest.approx(0.5, abs=0.05)          # across channels
    horiz = torch.corrcoef(torch.stack([n[0, 128:, :-1].flatten(), n[0, 128:, 1:].flatten()]))[0, 1]
    assert float(horiz) > 0.3                                                         # across neighbours


def test_photo_history_is_seeded_and_records_what_it_did():
    img = (torch.rand(3, 64, 64) * 255).to(torch.uint8)
    spec = HistorySpec(p_noise=1.0, p_jpeg=1.0, jpeg_quality=(70, 70), p_resave=0.0, p_444=0.0)
    a, rec = photo_history(img, spec, torch.Generator().manual_seed(5))
    b, _ = photo_history(img, spec, torch.Generator().manual_seed(5))
    c, _ = photo_history(img, spec, torch.Generator().manual_seed(6))
    assert a.dtype == torch.uint8 and a.shape == img.shape
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert rec["jpeg_quality"] == 70 and rec["subsampling"] == "4:2:0" and 0.5 <= rec["noise_sigma"] <= 6.0
    none, rec0 = photo_history(img, HistorySpec(p_noise=0.0, p_jpeg=0.0), torch.Generator().manual_seed(5))
    assert none is img and rec0["jpeg_quality"] is None


def test_jpeg_roundtrip_is_pillows():
    from io import BytesIO

    from PIL import Image

    arr = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    buf = BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=60, subsampling="4:4:4")
    assert np.array_equal(pillow_jpeg(arr, 60, "4:4:4"), np.asarray(Image.open(buf).convert("RGB")))


@pytest.mark.parametrize("bad, msg", [
    ({"p_jpeg": 1.5}, "p_jpeg"), ({"jpeg_quality": [90, 50]}, "jpeg_quality"), ({"noise_sigma": [-1, 2]}, "noise_sigma"),
    ({"colour": 1}, "unknown key"), ("yes", "true/false"),
])
def test_bad_history_settings_are_one_line_errors(bad, msg):
    with pytest.raises(DistortxError, match=msg) as err:
        HistorySpec.from_config(bad)
    assert "\n" not in str(err.value)


def test_stream_puts_a_history_on_training_crops_only():
    from distortx.data.stream import SynthesisStream

    kw = dict(preset="ahn-classification", split=None, count=2, batch_size=64, shuffle=False, seed=3)
    plain = next(iter(SynthesisStream(**kw)))
    hist = next(iter(SynthesisStream(**kw, history={"p_noise": 1.0, "p_jpeg": 0.0, "noise_sigma": [5.0, 5.0]})))
    clean = plain["labels"] == 0
    assert clean.any() and torch.equal(plain["labels"], hist["labels"])
    diff = (hist["images"][clean] - plain["images"][clean]) * 255
    assert float(diff.std()) == pytest.approx(5.0, rel=0.25)


@pytest.mark.parametrize("sigma", [2.0, 8.0])
def test_camera_noise_distortion_sigma_is_the_rms_of_the_added_noise(sigma):
    """The camera_noise distortion: sigma = S.D. of (noisy - clean) over the image (0..255), what real-noise
    benchmarks measure; seeded; on a dark and a bright photo alike."""
    import distortx

    spec = distortx.get_distortion("camera_noise")
    for level in (0.2, 0.7):
        x = torch.full((2, 3, 128, 128), level)
        out = spec.apply(x, spec.params(sigma, n=2, seed=4), impl="python")
        sd = ((out - x) * 255).flatten(1).std(1)
        assert torch.allclose(sd, torch.full((2,), sigma), rtol=0.06), (level, sd)
        assert torch.equal(out, spec.apply(x, spec.params(sigma, n=2, seed=4), impl="python"))


def test_the_noise_estimator_trains_on_the_mix():
    import distortx

    m = distortx.create_model("param_estimator", backbone=None, classes=["gaussian_noise_sigma", "camera_noise"],
                              what="noise_sigma", width=8)
    assert m.config["what"] == "noise_sigma"
    with pytest.raises(distortx.ParameterError, match="camera_noise"):
        distortx.create_model("param_estimator", backbone=None, classes=["jpeg"], what="noise_sigma", width=8)
