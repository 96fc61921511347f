"""The CLI is thin over the library: listings, distort, catalogue, and one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import distortx
from distortx.cli import main
from distortx.io import read_image, save_image, to_float_image

CATALOGUE = [
    "gaussian_noise", "gaussian_noise_sigma", "mono_gaussian_noise", "gaussian_blur", "motion_blur", "salt_pepper",
    "quantization", "jpeg", "jpeg2000", "lowpass", "nlm_denoise", "fnoise", "contrast", "marble", "twirl",
]


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_distortions_list_json_has_every_catalogue_row_and_the_example_plugin():
    code, out = run("distortions", "list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    missing = [n for n in CATALOGUE + ["vignette", "chromatic_aberration"] if n not in rows]
    assert not missing, f"not registered: {missing}"
    blur = rows["gaussian_blur"]
    assert blur["parameter"] == "sigma" and blur["level_sets"]["ahn"]["values"] == [1.5, 3.0, 6.0]
    assert "Ahn" in blur["source"]
    assert rows["vignette"]["plugin"] == "lens"


def test_distortions_list_text():
    code, out = run("distortions", "list")
    assert code == 0 and "gaussian_blur" in out and "ahn: 1.5, 3, 6" in out


def test_plugins_list():
    code, out = run("plugins", "list", "--json")
    infos = {i["name"]: i for i in json.loads(out)}
    assert code == 0
    assert infos["distortx.distortions.builtin"]["builtin"] is True
    assert "gaussian_blur" in infos["distortx.distortions.builtin"]["registers"]["distortion"]
    assert infos["lens"]["distribution"] == "distortx-lens" and infos["lens"]["version"] == "0.1.0"
    code, out = run("plugins", "list")
    assert code == 0 and "lens  (distortx-lens 0.1.0)" in out


def test_distort_writes_what_the_library_computes(tmp_path):
    src = tmp_path / "in.png"
    save_image(src, torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8))
    code, out = run("distort", src, tmp_path / "out.png", "--type", "gaussian_blur", "--level", 2, "--levels", "ahn")
    assert code == 0, out
    expected = distortx.distort(to_float_image(read_image(src)), "gaussian_blur", level=2, levels="ahn")
    got = read_image(tmp_path / "out.png")
    assert torch.equal(got, (expected * 255).round().to(torch.uint8))
    code, _ = run("distort", src, tmp_path / "p.png", "--type", "contrast", "--param", 1.0)
    p = read_image(tmp_path / "p.png").float()
    assert code == 0 and p.std() < 1.0  # a fully flattened image


@pytest.mark.parametrize(
    "args, message",
    [
        (["--type", "gausian_blur", "--level", "0"], "unknown distortion 'gausian_blur'; did you mean gaussian_blur"),
        (["--type", "gaussian_blur", "--param", "nan"], "must be finite"),
        (["--type", "gaussian_blur", "--param", "99"], "outside its range"),
        (["--type", "gaussian_blur"], "exactly one of --level or --param"),
        (["--type", "gaussian_blur", "--level", "9"], "level 9 does not exist"),
    ],
)
def test_cli_errors_are_one_line_and_nonzero(tmp_path, args, message):
    src = tmp_path / "in.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(src)
    code, out = run("distort", src, tmp_path / "out.png", *args)
    assert code == 2
    assert out.startswith("distortx: error: ") and message in out and out.count("\n") == 1
    assert not (tmp_path / "out.png").exists()


def test_cli_unreadable_image(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    code, out = run("distort", bad, tmp_path / "o.png", "--type", "gaussian_blur", "--level", "0")
    assert code == 2 and "cannot read image" in out and out.count("\n") == 1


def test_catalogue_sheet_has_a_row_per_distortion(tmp_path):
    out = tmp_path / "sheet.png"
    code, text = run("catalogue", "--out", out, "--size", 48)
    assert code == 0, text
    sheet = Image.open(out)
    n = len(distortx.list_distortions())
    assert sheet.height == n * (48 + 18 + 6) + 6
    total = sum(len(distortx.catalogue.level_values(distortx.get_distortion(x))) for x in distortx.list_distortions())
    assert f"({total} tiles)" in text
