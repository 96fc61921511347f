"""The non-learned baselines of Endo's tables and the paper-layout report of experiments/endo."""
import sys
from pathlib import Path

import pytest
import torch

from distortx.estimation.baselines import jpeg_quality_pillow_tables, noise_sigma_skimage
from distortx.estimation.degrade import degrade

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "endo"))


def test_quantisation_table_baseline_is_exact(photos):
    for q in (3, 20, 77, 100):
        assert jpeg_quality_pillow_tables(photos, q).tolist() == [q] * 3


def test_skimage_noise_baseline_reads_sigma_on_a_flat_image():
    pytest.importorskip("pywt")  # scikit-image's estimate_sigma needs PyWavelets (in the test extras)
    x = torch.full((2, 3, 96, 96), 100 / 255)
    noisy = degrade(x, "gaussian_noise_sigma", torch.tensor([5.0, 20.0]), torch.tensor([1, 2]))
    assert noise_sigma_skimage(noisy).tolist() == pytest.approx([5.0, 20.0], abs=1.0)


def _fake_results(what):
    import paper

    values = range(1, 101) if what == "jpeg" else range(0, 51)
    acc = {"org": {v: 0.5 for v in values}, "deg": {v: 0.6 for v in values}, "est": {v: 0.7 for v in values},
           "est_known": {v: 0.71 for v in values}}
    lo, hi = next(iter(paper.INTERVALS[what]))
    for v in range(lo, hi + 1):
        acc["est"][v] = 0.55  # below "deg": breaks the ordering in the first interval only
    return {"acc": acc, "est_mean": {v: v + 1.0 for v in values}, "est_sd": {v: 2.0 for v in values},
            "baseline": {str(t): {"mean": float(t), "sd": 0.0} for t in paper.ESTIMATOR[what]}}


@pytest.mark.parametrize("what", ["jpeg", "noise"])
def test_report_tables_put_the_papers_numbers_beside_ours(what):
    import paper
    import report

    res = _fake_results(what)
    est = report.estimator_table(what, res)
    truth = sorted(paper.ESTIMATOR[what])
    assert est.splitlines()[0] == "| Truth | " + " | ".join(map(str, truth)) + " |"
    assert f"| {paper.ESTIMATOR[what][truth[0]][0]:.2f} |" in est.splitlines()[2] + " |"
    assert f"{truth[0] + 1.0:.2f}" in est.splitlines()[3]
    rows = report.interval_table(what, res).splitlines()[2:]
    assert len(rows) == 5
    first_paper = paper.INTERVALS[what][next(iter(paper.INTERVALS[what]))]
    assert f"({first_paper[0]:.3f})" in rows[0] and rows[0].endswith("| no |")
    assert all(r.endswith("| yes |") for r in rows[1:])
    assert "0.710" in rows[1]  # the parameter-aware network fed the true value
