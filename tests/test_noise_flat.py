"""The flat-patch noise reading (distortx.estimation.noise_flat): noise of any spectrum, a camera's."""
from __future__ import annotations

import pytest
import torch

import distortx
from distortx.data.samples import load_sample
from distortx.distortions.noise import camera_noise
from distortx.errors import ImageError
from distortx.estimation import read_flat_noise
from distortx.estimation.noise_flat import CORRELATION_GAIN, correlation_gain
from distortx.estimation.noise_pca import read_noise_level


def noisy(clean: torch.Tensor, sigma: float, spatial: float, sd: float, seed: int = 0):
    """(uint8 image, truth): ``clean`` with camera noise of RMS ``sigma`` (demosaic-like strength ``spatial``), its
    field blurred by ``sd`` px; truth = the S.D. of (noisy - clean), as real-noise benchmarks measure it."""
    x = clean.float()
    out = camera_noise(x, sigma, torch.Generator().manual_seed(seed), spatial=spatial, level=None, blur_sd=sd)
    out = out.round().clamp(0, 255).to(torch.uint8)
    return out, float((out.float() - x).std())


@pytest.mark.parametrize("sd", [0.0, 1.0])
@pytest.mark.parametrize("spatial", [0.0, 1.0])
def test_reads_camera_noise_white_to_correlated_on_photo_crops(spatial, sd):
    """Within 30 % (+ 0.3) of the RMS, white or correlated over ~2 px, where the white-noise statistic reads low (the
    flattest patches of a photo with bright parts are its darker ones, where the shot noise is weaker: coffee at
    RMS 8, correlated, reads 27 % low)."""
    for name, (y, x) in (("coffee", (150, 250)), ("chelsea", (100, 150))):
        crop = load_sample(name)[:, y:y + 256, x:x + 256]
        for sigma in (3.0, 8.0):
            img, truth = noisy(crop, sigma, spatial, sd, seed=int(sigma))
            r = read_flat_noise(img)
            assert abs(r.sigma - truth) <= 0.3 * truth + 0.3, (name, sigma, r, truth)
            if sd > 0 and sigma == 8.0:   # what it is for: the white-noise reading sees a fraction of it
                assert read_noise_level(img).sigma < 0.6 * truth


def test_the_correlation_gain_undoes_the_flattest_patches_bias():
    """On a flat grey field the reading is the noise alone: white noise reads a correlation ~0, noise correlated over
    a few pixels a larger one and a larger gain; without that gain it would read far low."""
    base = torch.full((3, 256, 256), 120.0)
    white, t_white = noisy(base, 5.0, 0.0, 0.0, seed=1)
    smooth, t_smooth = noisy(base, 5.0, 1.0, 1.5, seed=2)
    rw, rs = read_flat_noise(white), read_flat_noise(smooth)
    assert abs(rw.correlation) < 0.08 and rs.correlation > 0.55
    assert rs.gain > 1.5 * rw.gain
    assert rw.sigma == pytest.approx(t_white, rel=0.15) and rs.sigma == pytest.approx(t_smooth, rel=0.2)
    assert rs.quantile_sigma * rw.gain < 0.7 * t_smooth   # one gain for all would miss a third of it


def test_correlation_gain_is_piecewise_linear_and_non_decreasing():
    for channels in (1, 3):
        table = CORRELATION_GAIN[channels]
        (r0, g0), (r1, g1) = table[0], table[1]
        assert correlation_gain(r0 - 1.0, channels) == g0
        assert correlation_gain(table[-1][0] + 1.0, channels) == table[-1][1]
        assert correlation_gain((r0 + r1) / 2, channels) == pytest.approx((g0 + g1) / 2)
        values = [correlation_gain(r / 100, channels) for r in range(-10, 80)]
        assert values == sorted(values)
    # one channel holds a third of the values of three: its low quantile lies further below the variance
    assert correlation_gain(0.0, 1) > correlation_gain(0.0, 3)


def test_clean_smooth_grey_and_clipped_images():
    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    ramp = (40 + 0.5 * xx + 0.3 * yy).round().to(torch.uint8).expand(3, -1, -1)
    assert read_flat_noise(ramp).sigma < 0.6   # a shading is content: only its rounding to 8 bits is left
    grey, truth = noisy(torch.full((1, 128, 128), 100.0), 4.0, 0.0, 0.0, seed=3)
    one, three = read_flat_noise(grey), read_flat_noise(grey.expand(3, -1, -1))
    assert one.sigma == pytest.approx(three.sigma) and one.sigma == pytest.approx(truth, rel=0.15)
    # half the photo black: its clipped noise is left out, the grey half is read
    half = torch.full((3, 128, 128), 128.0)
    half[:, :, :64] = 0
    img, _ = noisy(half, 6.0, 0.0, 0.0, seed=4)
    assert read_flat_noise(img).sigma == pytest.approx(6.0, rel=0.15)
    assert read_flat_noise(img.float() / 255).sigma == pytest.approx(read_flat_noise(img).sigma, rel=1e-4)


def test_bad_images_get_one_line_errors():
    with pytest.raises(ImageError, match="at least 64 px"):
        read_flat_noise(torch.zeros(3, 63, 200, dtype=torch.uint8))
    with pytest.raises(ImageError, match=r"Tensor\[C, H, W\] with 1 or 3 channels, got \(4, 64, 64\)"):
        read_flat_noise(torch.zeros(4, 64, 64))


def test_estimate_method_flat_and_the_cli_line(tmp_path):
    import json

    from click.testing import CliRunner

    from distortx.cli import main
    from distortx.io import save_image

    img, _ = noisy(load_sample("coffee")[:, 100:356, 100:356], 6.0, 1.0, 0.0, seed=5)
    value = distortx.estimate(img, what="noise_sigma", method="flat")
    assert float(value[0]) == pytest.approx(read_flat_noise(img).sigma, rel=1e-5)
    path = tmp_path / "camera.png"
    save_image(path, img)
    rec = json.loads(CliRunner().invoke(main, ["estimate", "--what", "noise_sigma", "--json", str(path)]).output)
    assert rec["flat_patches"]["sigma"] == pytest.approx(read_flat_noise(img).sigma, abs=0.01)
    text = CliRunner().invoke(main, ["estimate", "--what", "noise_sigma", str(path)]).output
    assert f"the flattest patches read sigma {rec['flat_patches']['sigma']:.1f}" in text
