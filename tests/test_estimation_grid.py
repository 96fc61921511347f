"""The estimator's input additions (high-pass residual, JPEG block-grid marks) and where the grid lies."""
import pytest
import torch

import distortx
from distortx.data.samples import sample_images
from distortx.distortions.jpeg import jpeg_pillow_u8
from distortx.estimation import ParamEstimator, save_estimator
from distortx.estimation.api import pixel_map
from distortx.estimation.block_grid import block_grid_origin
from distortx.estimation.dilated import DilatedBackbone


def pillow_jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """float Tensor[3, H, W]: uint8 ``img`` through a Pillow JPEG (4:2:0) at ``quality``."""
    return jpeg_pillow_u8(img[None], torch.tensor([[float(quality)]]))[0].float() / 255


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ParamEstimator("jpeg_quality", width=4, residual_gain=8.0, grid=8).eval()


def test_grid_marks_block_boundaries_at_the_origin():
    net = DilatedBackbone(width=2, dilations=(1,), residual_gain=8.0, grid=8)
    seen = {}
    net.body[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    img = torch.full((1, 3, 16, 16), 0.25)
    net(img, origin=(3, 0))
    x = seen["x"][0]
    assert x.shape[0] == 3 + 3 + 2
    assert torch.all(x[:3] == -0.25) and torch.all(x[3:6] == 0)  # centred image; a flat image has no residual
    rows = x[6, :, 0].nonzero().flatten().tolist()
    cols = x[7, 0, :].nonzero().flatten().tolist()
    assert rows == [4, 5, 12, 13]   # (y + 3) % 8 in {7, 0}: the last and first rows of a block
    assert cols == [0, 7, 8, 15]


def test_crop_with_its_origin_gives_the_same_map_inside(model):
    img = torch.rand(1, 3, 48, 56)
    with torch.no_grad():
        whole = model.pixel_map(img)[0]
        part = model.pixel_map(img[:, :, 5:, 3:], origin=(5, 3))[0]
        shifted = model.pixel_map(img[:, :, 5:, 3:])[0]
    m = 17  # receptive-field half-width: the border sees padding in one and image in the other
    inner = (slice(None), slice(m, 48 - 5 - m), slice(m, 56 - 3 - m))
    assert torch.allclose(part[inner], whole[:, 5:, 3:][inner], atol=1e-3)  # quality units
    assert not torch.allclose(shifted[inner], whole[:, 5:, 3:][inner], atol=1e-1)


def test_tiled_map_of_a_grid_model_equals_one_pass(model):
    img = torch.rand(3, 70, 45)
    with torch.no_grad():
        whole = model.pixel_map(img.unsqueeze(0), origin=(2, 6))[0]
        tiled = pixel_map(model, img, tile=16, origin=(2, 6))
    assert torch.allclose(whole, tiled, atol=1e-3)


@pytest.mark.parametrize("shift", [(0, 0), (3, 5), (7, 1), (4, 4)])
def test_block_grid_origin_of_crops_of_a_jpeg(shift):
    _, img = sample_images()[0]
    y, x = shift
    crop = pillow_jpeg(img, 30)[:, y: y + 160, x: x + 160]
    assert block_grid_origin(crop) == shift


def test_block_grid_origin_defaults_to_zero_without_blocks():
    assert block_grid_origin(torch.full((3, 64, 64), 0.5)) == (0, 0)
    assert block_grid_origin(torch.rand(3, 8, 8)) == (0, 0)  # too small to tell


def test_estimate_finds_the_grid_of_a_crop(model, tmp_path):
    path = tmp_path / "grid.pt"
    save_estimator(model, path)
    _, img = sample_images()[0]
    crop = pillow_jpeg(img, 30)[:, 3: 3 + 96, 5: 5 + 96]
    auto = distortx.estimate(crop, what="jpeg_quality", weights=str(path), method="cnn")
    given = distortx.estimate(crop, what="jpeg_quality", weights=str(path), grid_origin=(3, 5), method="cnn")
    at_zero = distortx.estimate(crop, what="jpeg_quality", weights=str(path), grid_origin=(0, 0), method="cnn")
    assert distortx.estimate(crop, what="jpeg_quality", weights=str(path)).item() == 30.0  # the lattice reads it
    assert auto.item() == pytest.approx(given.item(), abs=1e-5)
    assert auto.item() != pytest.approx(at_zero.item(), abs=1e-4)
