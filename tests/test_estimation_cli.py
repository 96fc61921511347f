"""`distortx estimate` end to end (user weights here; the shipped ones in test_estimation_shipped.py)."""
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from distortx.cli import main
from distortx.estimation import ParamEstimator, save_estimator


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "jpeg.pt"
    save_estimator(ParamEstimator("jpeg_quality", width=4), path)
    return str(path)


@pytest.fixture()
def jpeg_file(tmp_path, photo):
    path = tmp_path / "photo.jpg"
    arr = (photo[0].permute(1, 2, 0) * 255).round().byte().numpy()
    Image.fromarray(arr).save(path, quality=42)
    return path


def test_estimate_prints_the_estimate_and_the_files_tables(jpeg_file, weights, tmp_path):
    out_png = tmp_path / "map.png"
    r = CliRunner().invoke(main, ["estimate", str(jpeg_file), "--weights", weights, "--map", str(out_png)])
    assert r.exit_code == 0, r.output
    assert "JPEG quality" in r.output and "quantisation tables say quality 42 (exact IJG tables)" in r.output
    with Image.open(out_png) as im:
        assert im.size == (96, 96) and im.mode == "RGB"


def test_estimate_json(jpeg_file, weights):
    r = CliRunner().invoke(main, ["estimate", str(jpeg_file), "--weights", weights, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["what"] == "jpeg_quality" and 1 <= data["estimate"] <= 100
    assert data["quantisation_tables"] == {"quality": 42, "exact": True}
    assert data["map_min"] <= data["cnn"] <= data["map_max"]
    # the pixels' lattice reads the file's quality, and it is the estimate
    assert data["pixels_lattice"]["jpeg_history"] and data["pixels_lattice"]["quality"] == 42 and data["estimate"] == 42


def test_estimate_errors_are_one_line(tmp_path, weights):
    r = CliRunner().invoke(main, ["estimate", str(tmp_path / "nope.png"), "--weights", weights])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "error" in r.output
    r = CliRunner().invoke(main, ["estimate", str(tmp_path / "nope.png"), "--what", "blur"])
    assert r.exit_code == 2 and "blur" in r.output


def test_estimate_many_inputs_writes_maps_and_flags_resaved(jpeg_file, weights, tmp_path):
    """Files, folders and globs; maps as PNG and .npy; a list of records in --json; a JPEG whose pixels read far
    from its tables is flagged as re-saved."""
    import numpy as np

    folder = tmp_path / "many"
    folder.mkdir()
    arr = np.asarray(Image.open(jpeg_file).convert("RGB"))
    Image.fromarray(arr).save(folder / "b.png")
    # a q5 image saved again at q95: tables say 95, the pixels say ~5
    Image.open(jpeg_file).convert("RGB").save(folder / "low.jpg", quality=5)
    Image.open(folder / "low.jpg").convert("RGB").save(folder / "resaved.jpg", quality=95)
    (folder / "low.jpg").unlink()
    r = CliRunner().invoke(main, ["estimate", str(jpeg_file), str(folder), str(tmp_path / "many" / "*.png"),
                                  "--weights", weights, "--out", str(tmp_path / "maps"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    recs = json.loads(r.output)
    assert [Path(x["image"]).name for x in recs] == [jpeg_file.name, "b.png", "resaved.jpg", "b.png"]
    m = np.load(recs[1]["map_npy"])
    assert m.shape == (96, 96) and recs[1]["map_min"] <= float(m.mean()) <= recs[1]["map_max"]
    assert (tmp_path / "maps" / "b_jpeg_quality.png").stat().st_size > 0
    assert recs[2]["quantisation_tables"]["quality"] == 95
    assert recs[2]["resaved"] == (abs(recs[2]["cnn"] - 95) > 10)
    assert recs[1]["estimate"] == 42 and recs[1]["pixels_lattice"]["grid_offset"] == [0, 0]  # a PNG copy of the JPEG
    # q5 re-saved at q95: the q95 steps (1-2 at low frequencies) keep the q5 values where they are, so the pixels
    # show the q5 lattice (the coarsest one they fit); the file's tables say 95
    assert recs[2]["estimate"] == 5 and recs[2]["pixels_lattice"]["jpeg_history"]
    r = CliRunner().invoke(main, ["estimate", str(jpeg_file), str(folder), "--weights", weights, "--map", "x.png"])
    assert r.exit_code == 2 and "--map takes one image" in r.output
