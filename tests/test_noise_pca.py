"""Noise sigma read from patch statistics (distortx.estimation.noise_pca), and its place in distortx.estimate."""
from __future__ import annotations

import math

import pytest
import torch

import distortx
from distortx.data.samples import load_sample
from distortx.errors import ImageError
from distortx.estimation.api import NOISE_BLEND, blend_noise
from distortx.estimation.noise_pca import _noise_eigenvalue, censored_normal, read_noise_level


def add_noise(img: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """uint8 img + N(0, sigma^2) per pixel and channel, rounded and clipped to 0..255 (the way a PNG keeps it)."""
    g = torch.Generator().manual_seed(seed)
    return (img.float() + sigma * torch.randn(img.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)


def test_censored_normal_matches_sampling():
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for a, b in ((0.5, 3.0), (2.0, 0.2), (-0.3, 5.0), (10.0, 10.0)):
        y = z.clamp(-a, b)
        mean, var = censored_normal(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
        assert float(mean) == pytest.approx(float(y.mean()), abs=3e-3)
        assert float(var) == pytest.approx(float(y.var()), abs=3e-3)


def test_noise_eigenvalue_ignores_the_content():
    # a strong smooth gradient pattern plus noise of variance 9: the content sits in a few eigenvalues
    g = torch.Generator().manual_seed(2)
    yy, xx = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    content = 60 * torch.sin(xx / 7) + 40 * torch.cos(yy / 5)
    x = content[None] + 3.0 * torch.randn(1, 96, 96, generator=g)
    patches = torch.nn.functional.unfold(x[None], 6)[0]
    assert math.sqrt(_noise_eigenvalue(patches)) == pytest.approx(3.0, rel=0.04)
    assert float(patches.var(dim=1).mean()) > 100 * 9  # all directions together are content


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0, 20.0])
def test_reads_white_noise_on_photo_crops(sigma):
    errors = []
    for name, (y, x) in (("astronaut", (200, 300)), ("coffee", (150, 250)), ("chelsea", (100, 150))):
        crop = load_sample(name)[:, y:y + 128, x:x + 128]
        errors.append(read_noise_level(add_noise(crop, sigma, seed=int(sigma))).sigma - sigma)
    assert max(abs(e) for e in errors) <= 0.08 * sigma + 0.4, errors


def test_clipping_is_undone():
    # half the image black (0), half mid-grey: the noise in the black half is cut in two by the clip at 0
    img = torch.full((3, 128, 128), 128, dtype=torch.uint8)
    img[:, :, :64] = 0
    noisy = add_noise(img, 30.0, seed=3)
    r = read_noise_level(noisy)
    assert r.sigma == pytest.approx(30.0, rel=0.03)
    assert r.kept_variance > 0.9  # the cut patches were left out, or weighed by what they keep
    naive = math.sqrt(_noise_eigenvalue(torch.nn.functional.unfold(noisy.float()[None], 6)[0]))
    assert naive < 0.85 * 30.0  # what the correction is for


def test_clean_flat_and_grey_images():
    flat = torch.full((3, 64, 64), 77, dtype=torch.uint8)
    assert read_noise_level(flat).sigma == 0.0
    grey = add_noise(load_sample("coffee")[1:2, 100:228, 200:328], 8.0)
    as_rgb = grey.expand(3, -1, -1).contiguous()
    one, three = read_noise_level(grey), read_noise_level(as_rgb)
    assert one.sigma == pytest.approx(three.sigma)  # three equal channels are one
    assert one.sigma == pytest.approx(8.0, abs=0.8)
    as_float = read_noise_level(grey.float() / 255.0)
    assert as_float.sigma == pytest.approx(one.sigma, rel=1e-4)  # float [0, 1] is the same image


def test_bad_images_get_one_line_errors():
    with pytest.raises(ImageError, match="at least 18 px"):
        read_noise_level(torch.zeros(3, 10, 40, dtype=torch.uint8))
    with pytest.raises(ImageError, match="1 or 3 channels"):
        read_noise_level(torch.zeros(4, 40, 40))


def test_estimate_methods_for_noise():
    img = add_noise(load_sample("astronaut")[:, 100:228, 100:228], 12.0, seed=4)
    pca = float(distortx.estimate(img, what="noise_sigma", method="pca")[0])
    cnn = float(distortx.estimate(img, what="noise_sigma", method="cnn")[0])
    auto = float(distortx.estimate(img, what="noise_sigma")[0])
    assert pca == pytest.approx(read_noise_level(img).sigma, rel=1e-5)
    assert auto == pytest.approx(blend_noise(pca, cnn), rel=1e-5)
    assert abs(pca - 12.0) < 1.0 and abs(cnn - 12.0) < 2.0
    value, maps = distortx.estimate(img, what="noise_sigma", method="pca", return_map=True)
    assert float(value[0]) == pytest.approx(pca) and maps[0].shape == (128, 128)  # the map is the CNN's
    with pytest.raises(ImageError, match="'auto', 'cnn', 'pca'"):
        distortx.estimate(img, what="noise_sigma", method="lattice")
    with pytest.raises(ImageError, match="'auto', 'cnn', 'lattice'"):
        distortx.estimate(img, what="jpeg_quality", method="pca")
    for small in (img[:, :12, :12], img[:, :95, :]):  # too few patches to trust: "auto" is the CNN's reading
        assert float(distortx.estimate(small, what="noise_sigma")[0]) == pytest.approx(
            float(distortx.estimate(small, what="noise_sigma", method="cnn")[0]))
    wide = img[:, :96, :]
    assert float(distortx.estimate(wide, what="noise_sigma")[0]) == pytest.approx(blend_noise(
        read_noise_level(wide).sigma, float(distortx.estimate(wide, what="noise_sigma", method="cnn")[0])), rel=1e-5)


def test_blend_noise_weights():
    lo, hi = NOISE_BLEND
    assert blend_noise(3.0, 4.0) == 3.0  # the statistic alone at low sigma
    assert blend_noise(48.0, 50.0) == 50.0  # the CNN alone at high sigma
    mid = (lo + hi) / 2
    assert blend_noise(mid - 1, mid + 1) == pytest.approx(mid)  # half and half


def test_cli_prints_both_readings_and_their_blend(tmp_path):
    import json

    from click.testing import CliRunner

    from distortx.cli import main
    from distortx.io import save_image

    path = tmp_path / "noisy.png"
    img = add_noise(load_sample("astronaut")[:, :256, :256], 25.0, seed=5)
    save_image(path, img)
    out = CliRunner().invoke(main, ["estimate", "--what", "noise_sigma", "--json", str(path)])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.output.strip().splitlines()[-1])
    assert rec["patch_statistic"]["sigma"] == pytest.approx(read_noise_level(img).sigma, abs=0.01)
    assert rec["estimate"] == pytest.approx(float(distortx.estimate(img, what="noise_sigma")[0]), abs=0.01)
    assert abs(rec["estimate"] - 25.0) < 1.0
    text = CliRunner().invoke(main, ["estimate", "--what", "noise_sigma", str(path)]).output
    assert f"patch statistics read sigma {rec['patch_statistic']['sigma']:.1f}" in text
