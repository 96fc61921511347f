"""Robustness sweeps (distortx.engine.robustness.sweep, `distortx robustness`): known answers, resume, summaries, errors."""
import json
import math

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import distortx
from distortx.cli import main
from distortx.engine.robustness.codec_pool import CodecPool
from distortx.engine.training.labelled_data import ArrayImages, open_labelled
from distortx.engine.robustness.model_spec import ClassifierAdapter, LoadedModel, Preprocess, fingerprint
from distortx.engine.robustness.protocol import CLEAN, RobustnessError, condition_params, plan_conditions, render
from distortx.engine.robustness.results import area_under_curve, count_batch, load_results, per_class, summarize
from distortx.engine.robustness.sweep import run_sweep
from distortx.errors import DatasetError, UnknownNameError
from distortx.io import save_image

FAST = ["gaussian_noise_sigma", "gaussian_blur", "contrast"]  # a stochastic type and two deterministic ones


class RankedLogits(nn.Module):
    """Ignores the image: class 0 scores highest, then 1, 2, ... (top-1 = class 0, top-5 = classes 0..4)."""

    def __init__(self, k: int = 10):
        super().__init__()
        self.register_buffer("scores", torch.arange(k, 0, -1, dtype=torch.float32))

    def forward(self, x):
        return self.scores.expand(x.shape[0], -1) + 0 * x.mean()


class NearestGrey(nn.Module):
    """Class k = the grey level (k + 0.5) / K closest to the image's mean."""

    def __init__(self, k: int = 4):
        super().__init__()
        self.register_buffer("centres", (torch.arange(k) + 0.5) / k)

    def forward(self, x):
        return -100.0 * (x.mean(dim=(1, 2, 3))[:, None] - self.centres).abs()


def small_cnn(k: int = 5) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, k))


def loaded(net: nn.Module, spec: str = "toy") -> LoadedModel:
    return LoadedModel(ClassifierAdapter(net).eval(), spec, Preprocess(), fingerprint(net))


def toy_data(n: int = 12, size: int = 16, k: int = 5, seed: int = 0) -> ArrayImages:
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    return ArrayImages("toy", images, torch.arange(n) % k)


# -- protocol ---------------------------------------------------------------------------------------------------
def test_dodge_karam_protocol_has_every_level_of_the_paper():
    preset, conds = plan_conditions("dodge-karam")
    assert preset.name == "dodge-karam" and conds[0].distortion == CLEAN and len(conds) == 52
    values = {}
    for c in conds[1:]:
        values.setdefault(c.distortion, []).append(c.value)
    assert values == {
        "jpeg": [20, 18, 16, 14, 12, 10, 8, 6, 4, 2],
        "jpeg2000": [40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20],
        "gaussian_noise_sigma": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
        "gaussian_blur": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "contrast": [pytest.approx(0.1 * i) for i in range(11)],
    }


def test_levels_and_distortions_options():
    _, conds = plan_conditions("dodge-karam", levels=["jpeg=ahn"], distortions=["jpeg", "contrast"])
    assert [(c.distortion, c.value) for c in conds[:4]] == [(CLEAN, None), ("jpeg", 20), ("jpeg", 10), ("jpeg", 5)]
    _, conds = plan_conditions("dodge-karam", levels=["hsieh_variable"], distortions=FAST)
    assert [(c.distortion, c.level) for c in conds if c.level_set == "hsieh_variable"] == \
        [("gaussian_noise_sigma", -1), ("gaussian_blur", -1)]
    with pytest.raises(RobustnessError, match="no swept distortion has a level set 'nope'"):
        plan_conditions("dodge-karam", levels=["nope"])
    with pytest.raises(RobustnessError, match="has no distortion 'marble'"):
        plan_conditions("dodge-karam", distortions=["marble"])
    with pytest.raises(UnknownNameError, match="did you mean dodge-karam"):
        plan_conditions("dodge-karma")


def test_condition_params_are_deterministic_and_render_matches_the_reference():
    _, conds = plan_conditions("dodge-karam", distortions=["gaussian_noise_sigma"])
    spec = distortx.get_distortion("gaussian_noise_sigma")
    a, b = condition_params(spec, conds[3], 8, seed=1), condition_params(spec, conds[3], 8, seed=1)
    assert torch.equal(a.seed, b.seed) and torch.equal(a.values, torch.full((8, 1), 30.0))
    assert not torch.equal(condition_params(spec, conds[3], 8, seed=2).seed, a.seed)
    x = toy_data(4).load(range(4)).images.float() / 255
    assert torch.allclose(render(x, spec, a[:4]), spec.apply(x, a[:4]), atol=1e-6)
    j2k = distortx.get_distortion("jpeg2000")
    _, conds = plan_conditions("dodge-karam", distortions=["jpeg2000"])
    pj = condition_params(j2k, conds[5], 4, seed=0)
    codecs = CodecPool(3)  # the per-image codec split over worker processes: the same images
    try:
        assert torch.equal(render(x, j2k, pj, codecs), j2k.apply(x, pj))
    finally:
        codecs.close()


def test_codec_cache_returns_the_codec_output_bit_for_bit(tmp_path):
    from distortx.engine.robustness.codec_pool import CodecCache

    x = toy_data(4).images.float() / 255
    j2k = distortx.get_distortion("jpeg2000")
    _, conds = plan_conditions("dodge-karam", distortions=["jpeg2000"])
    p = condition_params(j2k, conds[3], 4, seed=0)
    cache = CodecCache(tmp_path / "cache")
    first = render(x, j2k, p, cache=cache)
    again = render(x, j2k, p, cache=cache)
    assert (cache.misses, cache.hits) == (1, 1) and len(list((tmp_path / "cache").glob("*.u8.npy"))) == 1
    assert torch.equal(first, j2k.apply(x, p)) and torch.equal(again, first)
    render(x[:3], j2k, p[torch.arange(3)], cache=cache)  # other pixels: another entry
    assert cache.misses == 2


def test_a_second_sweep_reuses_the_cached_codec_outputs(tmp_path):
    data = toy_data(6)
    kw = dict(distortions=["jpeg2000", "contrast"], batch_size=4, progress=False, codec_workers=0,
              codec_cache=tmp_path / "cache")
    a = run_sweep(loaded(small_cnn()), data, tmp_path / "a", **kw)
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(entries) == 2 * 11  # 2 batches x 11 JPEG 2000 levels
    b = run_sweep(loaded(small_cnn()), data, tmp_path / "b", **kw)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == entries
    assert a.rows == b.rows
    c = run_sweep(loaded(small_cnn()), data, tmp_path / "c", **{**kw, "codec_cache": None})
    assert [r["counts"] for r in c.rows] == [r["counts"] for r in a.rows]


def test_channels_last_and_nchw_batches_give_the_same_counts(tmp_path):
    data = toy_data(8)
    kw = dict(distortions=["contrast", "gaussian_blur"], batch_size=4, progress=False)
    a = run_sweep(loaded(small_cnn()), data, tmp_path / "cl", **kw)
    b = run_sweep(loaded(small_cnn()), data, tmp_path / "nchw", channels_last=False, **kw)
    assert [r["counts"]["top1"] for r in a.rows] == [r["counts"]["top1"] for r in b.rows]
    assert [r["counts"]["topk"] for r in a.rows] == [r["counts"]["topk"] for r in b.rows]


# -- counting and summaries -----------------------------------------------------------------------------------
def test_top1_top5_and_per_class_counts_by_hand():
    logits = torch.tensor([[9.0, 8, 7, 6, 5, 4],   # ranks 0,1,2,3,4,5
                           [0.0, 1, 2, 3, 4, 5],   # ranks 5,4,3,2,1,0
                           [1.0, 0, 0, 0, 0, 2]])  # ranks 5,0,...
    labels = torch.tensor([0, 0, 5])
    c = count_batch(logits, labels, top_k=5)
    assert (c.n, c.top1, c.topk) == (3, 2, 2)  # image 1: class 0 is ranked last (6th)
    assert c.tp.tolist() == [1, 0, 0, 0, 0, 1] and c.predicted.tolist() == [1, 0, 0, 0, 0, 2]
    assert c.support.tolist() == [2, 0, 0, 0, 0, 1]
    pc = per_class(c)
    assert pc["precision"][:1] + pc["precision"][5:] == [1.0, 0.5]
    assert pc["recall"][:1] + pc["recall"][5:] == [0.5, 1.0]
    assert pc["f1"][0] == pytest.approx(2 / 3) and pc["f1"][5] == pytest.approx(2 / 3)
    assert count_batch(logits[:, :3], torch.tensor([0, 0, 2]), top_k=5).topk == 3  # k capped at K


def _row(d, level, value, top1, top5=1.0):
    return {"distortion": d, "level": level, "value": value, "top1": top1, "top5": top5}


def test_auc_mce_and_relative_mce_by_hand():
    model = [_row(CLEAN, 0, None, 0.9), _row("a", 0, 1, 0.8), _row("a", 1, 2, 0.6),
             _row("b", 0, 10, 0.7), _row("b", 1, 20, 0.5), _row("b", 2, 30, 0.3)]
    base = [_row(CLEAN, 0, None, 0.8), _row("a", 0, 1, 0.6), _row("a", 1, 2, 0.4),
            _row("b", 0, 10, 0.5), _row("b", 1, 20, 0.3), _row("b", 2, 30, 0.1)]
    s = summarize(model, base, "alexnet")
    a, b = s["distortions"]["a"], s["distortions"]["b"]
    assert a["auc_top1"] == pytest.approx(0.7) and b["auc_top1"] == pytest.approx(0.5) and a["auc_top5"] == 1.0
    # CE = sum of errors / baseline's: a 0.6 / 1.0, b 1.5 / 2.1
    assert a["ce"] == pytest.approx(0.6) and b["ce"] == pytest.approx(1.5 / 2.1)
    assert s["mce"] == pytest.approx((0.6 + 1.5 / 2.1) / 2)
    # relative CE: errors minus clean error (0.1 vs the baseline's 0.2): a 0.4 / 0.6, b 1.2 / 1.5
    assert a["relative_ce"] == pytest.approx(0.4 / 0.6) and b["relative_ce"] == pytest.approx(0.8)
    assert s["relative_mce"] == pytest.approx((0.4 / 0.6 + 0.8) / 2) and s["baseline"] == "alexnet"
    assert "mce" not in summarize(model)
    with pytest.raises(RobustnessError, match="alexnet has no b level 2"):
        summarize(model, base[:-1], "alexnet")


def test_area_under_curve_of_decreasing_values_and_constant_accuracy():
    assert area_under_curve([20, 10, 2], [0.5, 0.5, 0.5]) == pytest.approx(0.5)
    # JPEG quality 20 -> 2: the x axis runs mild -> severe whatever the sign of the values
    assert area_under_curve([20, 11, 2], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert area_under_curve([3.0], [0.25]) == 0.25 and area_under_curve([1, 2], [0.5, None]) is None


# -- sweeps -----------------------------------------------------------------------------------------------------
def test_known_answers_for_an_image_blind_model_over_the_whole_dodge_protocol(tmp_path):
    labels = torch.tensor([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9])
    data = ArrayImages("toy", (torch.rand(12, 3, 12, 12) * 255).to(torch.uint8), labels)
    res = run_sweep(loaded(RankedLogits(10)), data, tmp_path, batch_size=5, progress=False).results
    assert res["complete"] and len(res["rows"]) == 52
    for row in res["rows"]:
        assert row["n"] == 12 and row["top1"] == pytest.approx(2 / 12) and row["top5"] == pytest.approx(6 / 12)
    clean = res["rows"][0]
    assert clean["ssim"] == 1.0 and clean["psnr"] == 100.0
    blur = [r for r in res["rows"] if r["distortion"] == "gaussian_blur"]
    assert all(r["ssim"] < 0.9 for r in blur) and blur[0]["ssim"] > blur[-1]["ssim"]
    assert [r["psnr"] for r in res["rows"] if r["distortion"] == "contrast"][0] == 100.0  # level 0 = identity
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0] == "distortion,level,value,level_set,n,top1,top5,ssim,psnr" and len(lines) == 53
    per_class_lines = (tmp_path / "per_class.csv").read_text().splitlines()
    assert len(per_class_lines) == 1 + 52 * 10
    assert per_class_lines[1].startswith("clean,0,,0,,2,0.166667,1,0.285714")


def test_a_grey_level_oracle_is_unharmed_by_contrast_and_blur(tmp_path):
    k = 4
    grey = torch.round(255 * (torch.arange(k) + 0.5) / k).to(torch.uint8)
    images = grey.repeat(3).view(-1, 1, 1, 1).expand(3 * k, 3, 10, 10).contiguous()
    data = ArrayImages("greys", images, torch.arange(3 * k) % k)
    res = run_sweep(loaded(NearestGrey(k)), data, tmp_path, distortions=["gaussian_blur", "contrast"],
                    progress=False).results
    for row in res["rows"]:
        assert row["top1"] == 1.0 and row["ssim"] == pytest.approx(1.0, abs=1e-4)


def test_interrupted_sweep_resumes_to_the_same_csv(tmp_path):
    data = toy_data(20)
    straight = run_sweep(loaded(small_cnn()), data, tmp_path / "a", distortions=FAST, batch_size=6,
                         progress=False)
    model = loaded(small_cnn())
    calls = {"n": 0}
    forward = model.module.forward

    def interrupted(x):
        calls["n"] += 1
        if calls["n"] == 2 * 30 + 5:  # 30 forwards per batch (contrast 0 reuses the clean logits): in batch 3
            raise KeyboardInterrupt
        return forward(x)

    model.module.forward = interrupted
    with pytest.raises(KeyboardInterrupt):
        run_sweep(model, data, tmp_path / "b", distortions=FAST, batch_size=6, progress=False)
    partial = load_results(tmp_path / "b")
    assert not partial["complete"] and partial["progress"]["cursor"] == 12
    assert partial["rows"][0]["n"] == 12  # only whole batches are committed
    resumed = run_sweep(loaded(small_cnn()), data, tmp_path / "b", distortions=FAST, batch_size=4, progress=False)
    assert resumed.resumed_from == 12 and resumed.results["protocol"]["batch_size"] == 6  # the stored batch size
    for name in ("results.csv", "per_class.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = run_sweep(loaded(small_cnn()), data, tmp_path / "c", distortions=FAST, batch_size=7, progress=False)
    counts = lambda res: [(r["counts"]["top1"], r["counts"]["topk"]) for r in res.rows]  # noqa: E731
    assert counts(other) == counts(straight)  # the noise of an image does not depend on the batch


def test_rerunning_a_complete_sweep_recomputes_nothing(tmp_path):
    data = toy_data(6)
    first = run_sweep(loaded(small_cnn()), data, tmp_path, distortions=["contrast"], progress=False)
    model = loaded(small_cnn())
    model.module.forward = lambda x: (_ for _ in ()).throw(AssertionError("no forward expected"))
    with pytest.raises(AssertionError):  # the probe runs one image to learn the number of classes
        run_sweep(model, data, tmp_path, distortions=["contrast"], progress=False)
    again = run_sweep(loaded(small_cnn()), data, tmp_path, distortions=["contrast"], progress=False)
    assert again.resumed_from == 6 and again.rows == first.rows


# -- errors -----------------------------------------------------------------------------------------------------
def _folder(root, classes, broken=()):
    for i, cls in enumerate(classes):
        for j in range(2):
            save_image(root / cls / f"{j}.png", torch.full((3, 8, 8), 30 * i + j, dtype=torch.uint8))
    for rel in broken:
        (root / rel).write_bytes(b"\x89PNG broken")
    return root


def test_error_model_and_data_disagree_on_the_number_of_classes(tmp_path):
    data = open_labelled(_folder(tmp_path / "imgs", ["a", "b", "c"]))
    with pytest.raises(DatasetError, match="data has 3 classes but the model outputs 5"):
        run_sweep(loaded(small_cnn(5)), data, tmp_path / "out", distortions=["contrast"], progress=False)


def test_error_labels_out_of_range(tmp_path):
    data = ArrayImages("toy.npz", torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 7, 2]))
    with pytest.raises(DatasetError, match=r"toy.npz: label 7 of 2 is outside the model's 5 classes \(0..4\)"):
        run_sweep(loaded(small_cnn(5)), data, tmp_path, distortions=["contrast"], progress=False)


def test_images_that_fail_to_load_are_skipped_and_listed(tmp_path):
    data = open_labelled(_folder(tmp_path / "imgs", ["a", "b"], broken=["b/2.png"]))
    res = run_sweep(loaded(small_cnn(2)), data, tmp_path / "out", distortions=["contrast"], batch_size=2,
                    progress=False)
    assert [s["name"] for s in res.skipped] == ["b/2.png"] and "cannot read image" in res.skipped[0]["reason"]
    assert all(r["n"] == 4 for r in res.rows)
    assert load_results(tmp_path / "out")["progress"]["skipped"] == res.skipped


def test_error_output_folder_holds_another_models_results(tmp_path):
    data = toy_data(4)
    run_sweep(loaded(small_cnn()), data, tmp_path, distortions=["contrast"], progress=False)
    other = small_cnn()
    with torch.no_grad():
        other[0].weight.add_(1.0)
    with pytest.raises(RobustnessError, match="holds results of another model \\('toy'\\); choose another --out"):
        run_sweep(loaded(other), data, tmp_path, distortions=["contrast"], progress=False)
    with pytest.raises(RobustnessError, match="other settings"):
        run_sweep(loaded(small_cnn()), data, tmp_path, distortions=["contrast"], seed=5, progress=False)
    with pytest.raises(RobustnessError, match="other data"):
        run_sweep(loaded(small_cnn()), toy_data(4, seed=1), tmp_path, distortions=["contrast"], progress=False)


# -- command line -----------------------------------------------------------------------------------------------
MODEL_PY = """
import torch
from torch import nn

def build(num_classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, num_classes))
"""


@pytest.fixture()
def cli_files(tmp_path):
    import numpy as np

    g = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=g.integers(0, 256, (9, 12, 12, 3), dtype=np.uint8), y=np.arange(9) % 3)
    (tmp_path / "model.py").write_text(MODEL_PY)
    return tmp_path


def test_cli_sweep_plot_and_baseline(cli_files):
    t = cli_files
    runner = CliRunner()
    base = ["robustness", "--data", str(t / "data.npz"), "--distortions", "contrast,gaussian_blur",
            "--levels", "gaussian_blur=ahn", "--quiet", "--batch-size", "4"]
    r1 = runner.invoke(main, base + ["--model", f"{t / 'model.py'}:build", "--out", str(t / "m1"), "--name", "m1"])
    assert r1.exit_code == 0, r1.output
    assert "| m1 | contrast |" in r1.output
    for name in ("results.csv", "results.json", "per_class.csv", "curves.png", "quality.png"):
        assert (t / "m1" / name).stat().st_size > 0
    r2 = runner.invoke(main, base + ["--model", f"{t / 'model.py'}:build", "--num-classes", "3", "--mean", "0.5,0.5,0.5",
                                     "--std", "0.2,0.2,0.2", "--out", str(t / "m2"), "--name", "m2",
                                     "--baseline", str(t / "m1" / "results.json"), "--json", "--no-plots"])
    assert r2.exit_code == 0, r2.output
    summary = json.loads(r2.output)["summary"]
    assert summary["baseline"] == "m1" and math.isfinite(summary["mce"])
    r3 = runner.invoke(main, ["robustness", "plot", str(t / "m1"), str(t / "m2" / "results.json"), "--out",
                              str(t / "figs"), "--labels", "clean,aug", "--baseline", str(t / "m1")])
    assert r3.exit_code == 0, r3.output
    assert (t / "figs" / "curves.png").stat().st_size > 0 and (t / "figs" / "quality.png").stat().st_size > 0
    assert "| aug | **mCE** (vs m1) |" in r3.output
    assert "| clean | **mCE** (vs m1) |  |  |  |  | 1.000 |" in r3.output  # the baseline against itself


@pytest.mark.parametrize("args,message", [
    (["--preset", "dodge-karma"], "unknown preset 'dodge-karma'; did you mean dodge-karam?"),
    (["--levels", "nope"], "no swept distortion has a level set 'nope'"),
    (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "tpu"], "--device"),
    (["--resize", "big"], "--resize must be a number of pixels or 'none'"),
])
def test_cli_errors_are_one_line(cli_files, args, message):
    t = cli_files
    r = CliRunner().invoke(main, ["robustness", "--model", f"{t / 'model.py'}:build", "--data", str(t / "data.npz"),
                                  "--out", str(t / "out"), "--quiet"] + args)
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_cli_refuses_another_models_folder_and_a_sweep_without_model(cli_files):
    t = cli_files
    runner = CliRunner()
    common = ["robustness", "--data", str(t / "data.npz"), "--out", str(t / "out"), "--quiet", "--no-plots",
              "--distortions", "contrast"]
    assert runner.invoke(main, common + ["--model", f"{t / 'model.py'}:build"]).exit_code == 0
    r = runner.invoke(main, common + ["--model", f"{t / 'model.py'}:build", "--num-classes", "4"])
    assert r.exit_code == 2 and "holds results of another model" in r.output
    r = runner.invoke(main, ["robustness", "--data", str(t / "data.npz")])
    assert r.exit_code == 2 and "needs --model SPEC and --data DATA" in r.output
