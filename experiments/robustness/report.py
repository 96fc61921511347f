"""Markdown tables of the worked example (docs/robustness.md) from two or more sweeps' results.json.

    python experiments/robustness/report.py experiments/robustness/results/clean experiments/robustness/results/dodge

Prints (1) the compact table of the docs: per distortion, the top-1 accuracy (%) at every level for each
model and the range of the inputs' mean SSIM; (2) the summary: clean top-1 / top-5, AUC of each top-1 curve,
mCE and relative mCE with the first model as the baseline; (3) CE and relative CE per distortion; with
``--full``, (4) every level's top-1 / top-5 / SSIM / PSNR.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from distortx.engine.robustness.protocol import CLEAN  # noqa: E402

from distortx.engine.robustness.results import load_results, summarize  # noqa: E402

LABELS = {"jpeg": "JPEG quality", "jpeg2000": "JPEG 2000 PSNR (dB)", "gaussian_noise_sigma": "noise sigma",
          "gaussian_blur": "blur sigma", "contrast": "contrast"}
SHORT = {"jpeg": "JPEG", "jpeg2000": "JPEG 2000", "gaussian_noise_sigma": "noise", "gaussian_blur": "blur",
         "contrast": "contrast"}


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _by_distortion(res):
    out = {}
    for r in res["rows"]:
        out.setdefault(r["distortion"], []).append(r)
    return out


def main(args) -> None:
    full = "--full" in args
    paths = [a for a in args if a != "--full"]
    results = [load_results(p) for p in paths]
    names = [r["name"] for r in results]
    tables = [_by_distortion(r) for r in results]
    print(f"{results[0]['data']['images']} test images; top-1 accuracy (%) mild -> severe.\n")
    print("| distortion | levels | " + " | ".join(f"{n} top-1" for n in names) + " | mean SSIM of the input |")
    print("|---|---|" + "---|" * len(names) + "---|")
    for d, rows in tables[0].items():
        levels = "-" if d == CLEAN else ", ".join(f"{r['value']:g}" for r in rows)
        cells = " | ".join(", ".join(f"{100 * r['top1']:.0f}" for r in t[d]) for t in tables)
        ssim = [r["ssim"] for r in rows]
        q = f"{ssim[0]:.2f}" if len(ssim) == 1 else f"{ssim[0]:.2f} ... {ssim[-1]:.2f}"
        print(f"| {LABELS.get(d, d)} | {levels} | {cells} | {q} |")
    print()
    base = results[0]
    summaries = [summarize(r["rows"], base["rows"], names[0]) for r in results]
    dists = [d for d in tables[0] if d != CLEAN]
    print("| model | clean top-1 / top-5 | AUC top-1: " + ", ".join(SHORT.get(d, d) for d in dists)
          + " | mCE | relative mCE |\n|---|---|---|---|---|")
    for res, t, s in zip(results, tables, summaries):
        c = t[CLEAN][0]
        aucs = ", ".join(f"{s['distortions'][d]['auc_top1']:.3f}" for d in dists)
        print(f"| {res['name']} | {_pct(c['top1'])} / {_pct(c['top5'])} | {aucs} | {s['mce']:.3f} | "
              f"{s['relative_mce']:.3f} |")
    print()
    for res, s in zip(results[1:], summaries[1:]):
        ce = ", ".join(f"{SHORT.get(d, d)} {s['distortions'][d]['ce']:.3f}" for d in dists)
        rce = ", ".join(f"{s['distortions'][d]['relative_ce']:.3f}" for d in dists)
        print(f"CE of {res['name']} (vs {names[0]}): {ce}; relative CE {rce}.")
    if full:
        for d in tables[0]:
            print(f"\n**{d}**\n\n| level | value | " + " | ".join(f"{n} top-1 | {n} top-5" for n in names)
                  + " | SSIM | PSNR |\n|" + "---|" * (4 + 2 * len(names)))
            for i, r0 in enumerate(tables[0][d]):
                cells = " | ".join(f"{_pct(t[d][i]['top1'])} | {_pct(t[d][i]['top5'])}" for t in tables)
                value = "" if r0["value"] is None else f"{r0['value']:g}"
                print(f"| {r0['level'] if d != CLEAN else ''} | {value} | {cells} | {r0['ssim']:.3f} | {r0['psnr']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
