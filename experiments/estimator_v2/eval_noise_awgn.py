"""Gaussian noise sigma read from pixels, on random crops of the photos of one split (the issue-26 protocol).

    python experiments/estimator_v2/eval_noise_awgn.py --split val [--crop 128] [--draws 2] [--candidate W] [--json OUT]
        [--figure calibration.png]

Each photo of the split (experiments/default_model/split_v2.json, photos_v2 in ../shared/data) gives --draws
random --crop crops; each gets sigma ~ U[0, 50] of white Gaussian noise added by numpy (not distortx's code),
rounded and clipped to 0..255 (as a PNG would keep it), and is read back: by the patch statistic ("pca",
distortx.estimation.noise_pca), by the shipped CNN ("cnn") and --candidate CNN weights, and by their blend as
``distortx.estimate(method="auto")`` makes it ("auto", "auto_candidate0", ...). Truth: the nominal sigma.
Reports MAE, bias and S.D. per bin of 5.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import distortx  # noqa: E402
from distortx.estimation.api import blend_noise  # noqa: E402
from distortx.estimation.noise_pca import read_noise_level  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
ROOT = Path(__file__).resolve().parents[2]


def split_paths(split: str, limit: int = 0):
    table = json.loads((ROOT / "experiments" / "default_model" / "split_v2.json").read_text())["photos"]
    names = sorted(n for n, v in table.items() if v["split"] == split and v.get("set", "photos_v2") == "photos_v2")
    paths = [SHARED / "photos_v2" / n for n in names if (SHARED / "photos_v2" / n).exists()]
    return paths[:limit] if limit else paths


def noisy_crops(paths, crop: int, draws: int, seed: int = 0):
    """Yields (name, clean uint8 Tensor[3, crop, crop], sigma, noisy uint8 Tensor[3, crop, crop])."""
    rng = np.random.default_rng(seed)
    for p in paths:
        a = np.asarray(Image.open(p).convert("RGB"))
        h, w = a.shape[:2]
        if min(h, w) < crop:
            continue
        for _ in range(draws):
            y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            c = np.ascontiguousarray(a[y:y + crop, x:x + crop])
            sigma = float(rng.uniform(0, 50))
            n = np.clip(np.rint(c + rng.normal(0.0, sigma, c.shape)), 0, 255).astype(np.uint8)
            t = lambda v: torch.from_numpy(np.ascontiguousarray(v)).permute(2, 0, 1)  # noqa: E731
            yield f"{p.name}@{y},{x}", t(c), sigma, t(n)


def summarise(truth: np.ndarray, est: np.ndarray, label: str) -> dict:
    err = est - truth
    bins = []
    for lo in range(0, 50, 5):
        m = (truth >= lo) & (truth < lo + 5)
        if m.any():
            bins.append({"sigma": f"{lo}-{lo + 5}", "n": int(m.sum()), "mae": float(np.abs(err[m]).mean()),
                         "bias": float(err[m].mean()), "sd": float(err[m].std())})
    out = {"mae": float(np.abs(err).mean()), "bias": float(err.mean()), "bins": bins,
           "worst_bin_bias": max(abs(b["bias"]) for b in bins)}
    print(f"{label}: MAE {out['mae']:.3f}, bias {out['bias']:+.3f}, worst |bin bias| {out['worst_bin_bias']:.3f}")
    print("| sigma | n | MAE | bias | S.D. |\n|---|---:|---:|---:|---:|")
    for b in bins:
        print(f"| {b['sigma']} | {b['n']} | {b['mae']:.3f} | {b['bias']:+.3f} | {b['sd']:.3f} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="val")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--candidate", action="append", default=[], help="estimator weights or run folder (repeatable)")
    ap.add_argument("--json")
    ap.add_argument("--figure", help="PNG: mean estimate vs truth (+-1 S.D. of the error) of every reading")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows, t0 = [], time.perf_counter()
    for name, _clean, sigma, noisy in noisy_crops(split_paths(args.split, args.limit), args.crop, args.draws):
        pca = read_noise_level(noisy).sigma
        cnn = float(distortx.estimate(noisy, what="noise_sigma", method="cnn")[0])
        row = {"photo": name, "sigma": sigma, "pca": pca, "cnn": cnn, "auto": blend_noise(pca, cnn)}
        for k, w in enumerate(args.candidate):
            row[f"candidate{k}"] = float(distortx.estimate(noisy, what="noise_sigma", weights=w, method="cnn")[0])
            row[f"auto_candidate{k}"] = blend_noise(pca, row[f"candidate{k}"])
        rows.append(row)
    dt = (time.perf_counter() - t0) / max(1, len(rows))
    print(f"{len(rows)} crops, {args.crop} px, split {args.split}, {dt * 1e3:.0f} ms/crop (all estimators)")
    truth = np.array([r["sigma"] for r in rows])
    report = {"args": vars(args), "rows": rows, "summary": {}}
    for key in [k for k in rows[0] if k not in ("photo", "sigma")]:
        report["summary"][key] = summarise(truth, np.array([r[key] for r in rows]), key)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.figure:
        from distortx.engine.evaluation.metrics import calibration_bins
        from distortx.engine.evaluation.plots import plot_calibration

        series = {k: calibration_bins(truth, np.array([r[k] for r in rows])) for k in report["summary"]
                  if not k.startswith("auto_")}
        plot_calibration(series, args.figure, parameter="noise sigma", residual=True,
                         title=f"Noise sigma on {len(rows)} {args.crop}-px crops of {args.split} photos")


if __name__ == "__main__":
    main()
