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


# -- what a new user runs into (issue 14) ------------------------------------------------------------------
def one_line_error(code, out, message):
    assert code == 2 and out.startswith("distortx: error: ") and message in out and out.count("\n") == 1, out


def test_unwritable_destinations_are_one_line_errors(tmp_path):
    src = tmp_path / "in.png"
    save_image(src, torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8))
    (tmp_path / "file").write_text("in the way")
    blocked = tmp_path / "file" / "out.png"  # a file where a folder should be (root ignores read-only modes)
    one_line_error(*run("distort", src, blocked, "--type", "jpeg", "--level", 0), "cannot write")
    one_line_error(*run("catalogue", "--out", blocked, "--size", 16), "cannot write")
    one_line_error(*run("distort", src, tmp_path / "out.xyz", "--type", "jpeg", "--level", 0), "unknown image format '.xyz'")


@pytest.mark.parametrize("args, message", [
    (["catalogue", "--size", "0"], "tile size must be an integer from 16 to 1024"),
    (["catalogue", "--size", "16", "--seed", str(2**70)], "seed must be an integer"),
    (["distort", "IN", "o.png", "--type", "jpeg", "--level", "0", "--seed", str(2**70)], "seed must be an integer"),
    (["distort", "IN", "o.png", "--type", "motion_blur", "--level", "99"], "level 99 means nothing"),
    (["distort", "IN", "o.jpg", "--type", "jpeg", "--level", "0", "--quality", "0"], "quality must be an integer"),
])
def test_bad_values_are_one_line_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    save_image(tmp_path / "in.png", torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8))
    one_line_error(*run(*[str(tmp_path / "in.png") if a == "IN" else a for a in args]), message)


def test_distort_to_jpeg_says_it_is_lossy_and_takes_a_quality(tmp_path):
    src = tmp_path / "in.png"
    save_image(src, torch.rand(3, 48, 48))
    code, out = run("distort", src, tmp_path / "a.jpg", "--type", "gaussian_blur", "--level", 0)
    assert code == 0 and "JPEG quality 95: lossy" in out
    code, _ = run("distort", src, tmp_path / "b.jpg", "--type", "gaussian_blur", "--level", 0, "--quality", 30)
    assert code == 0 and (tmp_path / "b.jpg").stat().st_size < (tmp_path / "a.jpg").stat().st_size
    code, out = run("distort", src, tmp_path / "c.png", "--type", "JPEG", "--level", 0)  # any case
    assert code == 0 and out == f"wrote {tmp_path / 'c.png'}\n"
    assert "did you mean jpeg" in str(pytest.raises(distortx.UnknownNameError, distortx.get_distortion, "JPEG").value)


def test_listings_are_summarised_and_grammatical():
    code, out = run("distortions", "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(distortx.list_distortions()) and max(map(len, lines)) < 260
    jpeg = next(line for line in lines if line.startswith("jpeg "))
    assert "endo: 100..1 step -1 (100 levels)" in jpeg
    motion = next(line for line in lines if line.startswith("motion_blur "))
    assert "length in [0, 100] (+ angle in [0, 180])" in motion
    code, out = run("presets")
    assert code == 0 and "1 type," in out and "1 types" not in out


def test_show_sheet_format_count_and_spread(tmp_path):
    from distortx.data.generate import generate
    from distortx.data.preset import PresetSpec
    from distortx.data.show import spread

    preset = PresetSpec(name="t", task="classification", distortions=("gaussian_blur", "jpeg", "contrast"),
                        level_sets=(("contrast", "dodge"),), level_mode="random", include_reference=True, crop=16,
                        per_image=2, splits=(("train", 0.5), ("test", 0.5)))
    generate(preset, tmp_path / "d", count=24, seed=0, progress=False)  # 3 references x 8
    code, out = run("show", tmp_path / "d", "--out", tmp_path / "s.jpg", "--count", 4)
    assert code == 0 and (tmp_path / "s.jpg").read_bytes()[:2] == b"\xff\xd8"  # JPEG bytes for a .jpg name
    for bad in ("0", "-3"):
        one_line_error(*run("show", tmp_path / "d", "--out", tmp_path / "e.png", "--count", bad), "count must be an integer >= 1")
    assert not (tmp_path / "e.png").exists()
    # the images shown come from every reference and as many classes as possible
    from distortx.data.datasets import DistortionDataset

    ds = DistortionDataset(tmp_path / "d")
    picked = [ds.items[i] for i in spread([it["reference_id"] for it in ds.items], [it["type"] for it in ds.items], 4)]
    assert len({p["reference_id"] for p in picked}) == 3 and len({p["type"] for p in picked}) == 4
    assert spread(list("aabbcc"), list("xyxyxy"), 10) == [0, 2, 4, 1, 3, 5] or len(spread(list("aabbcc"), list("xyxyxy"), 10)) == 6


@pytest.mark.parametrize("command", ["predict", "estimate", "show", "robustness", "generate", "catalogue", "evaluate"])
def test_every_image_command_has_json_output(command):
    """One face: every command that reads or writes images has --json; the long ones also --quiet."""
    out = CliRunner().invoke(main, [command, "--help"]).output
    assert "--json" in out
    if command in ("predict", "estimate", "robustness", "generate", "catalogue"):
        assert "--quiet" in out


def test_catalogue_json_names_the_sheet(tmp_path):
    r = CliRunner().invoke(main, ["catalogue", "--out", str(tmp_path / "c.png"), "--size", "16", "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"out": str(tmp_path / "c.png"), "tiles": json.loads(r.output)["tiles"]}
    assert json.loads(r.output)["tiles"] > 100 and (tmp_path / "c.png").stat().st_size > 0
