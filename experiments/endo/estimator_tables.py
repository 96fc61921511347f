"""Endo's Tables 2 and 5 alone: an estimator's mean and S.D. on the CIFAR-10 test images at the paper's truth
values, with the paper's numbers and the non-learned baseline beside them (no classifier is trained).

    python experiments/endo/estimator_tables.py --what jpeg|noise --weights W.pt [--cifar DIR] [--limit N] \
        [--baseline-limit 1000] [--json OUT.json]

Images are degraded as ``reproduce.py`` degrades them (seed = image index), so the numbers are comparable
with a full run's; this is the part of the experiment a CPU can do in minutes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from distortx.estimation import get_target, load_estimator  # noqa: E402
from distortx.estimation.degrade import degrade  # noqa: E402

import cifar  # noqa: E402
import paper  # noqa: E402
import report  # noqa: E402
from reproduce import EXPERIMENTS, baseline  # noqa: E402


@torch.no_grad()
def estimates(estimator, target, test_x: torch.Tensor, value: float, batch: int) -> torch.Tensor:
    """Image-level estimates Tensor[N] of the test images degraded at ``value``."""
    out = []
    for s in range(0, test_x.shape[0], batch):
        clean = test_x[s: s + batch].float().div_(255.0)
        x = degrade(clean, target.distortion, torch.full((clean.shape[0],), float(value)),
                    torch.arange(s, s + clean.shape[0]))
        out.append(estimator(x).float()[:, 0])
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--what", choices=["jpeg", "noise"], required=True)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--cifar", type=Path, default=Path("/work/shared/data/cifar10"))
    ap.add_argument("--limit", type=int, default=0, help="first N test images (0: all 10,000)")
    ap.add_argument("--baseline-limit", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    target = get_target(EXPERIMENTS[a.what]["target"])
    estimator = load_estimator(a.weights)
    test_x, _ = cifar.load_split(a.cifar, "test", a.limit)
    truths = sorted(paper.ESTIMATOR[a.what])
    res = {"est_mean": {}, "est_sd": {}}
    for t in truths:
        e = estimates(estimator, target, test_x, t, a.batch)
        res["est_mean"][t], res["est_sd"][t] = float(e.mean()), float(e.std(unbiased=False))
    res["baseline"] = baseline(a.what, test_x[: a.baseline_limit].float().div(255.0), truths)
    res["seconds"] = round(time.time() - t0, 1)
    res["images"] = int(test_x.shape[0])
    print(f"{a.what} estimator {a.weights} on {test_x.shape[0]} CIFAR-10 test images ({res['seconds']} s)\n")
    print(report.estimator_table(a.what, res))
    if a.json:
        a.json.write_text(json.dumps({str(k): v for k, v in res.items()}, indent=1, default=str))


if __name__ == "__main__":
    main()
