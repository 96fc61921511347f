"""Markdown tables of the worked example (docs/robustness.md) from two or more sweeps' results.json.

    python experiments/robustness/report.py experiments/robustness/results/clean experiments/robustness/results/dodge

Prints, per distortion, top-1 / top-5 / mean SSIM at every level for each model, then the summary (AUCs,
and CE / relative CE of every model with the first one as the baseline).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from distortx.engine.robustness import CLEAN, load_results, summarize  # noqa: E402


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def main(paths) -> None:
    results = [load_results(p) for p in paths]
    names = [r["name"] for r in results]
    base = results[0]
    print(f"Top-1 / top-5 accuracy (%) and mean SSIM of the input; {results[0]['data']['images']} test images.\n")
    distortions = list(dict.fromkeys(r["distortion"] for r in base["rows"]))
    for d in distortions:
        rows = [[r for r in res["rows"] if r["distortion"] == d] for res in results]
        head = "| level | value | " + " | ".join(f"{n} top-1 | {n} top-5" for n in names) + " | SSIM |"
        print(f"**{d}**\n\n{head}\n|" + "---|" * (3 + 2 * len(names)))
        for i, r0 in enumerate(rows[0]):
            cells = " | ".join(f"{_pct(rs[i]['top1'])} | {_pct(rs[i]['top5'])}" for rs in rows)
            value = "" if r0["value"] is None else f"{r0['value']:g}"
            print(f"| {r0['level'] if d != CLEAN else ''} | {value} | {cells} | {r0['ssim']:.3f} |")
        print()
    print("| model | distortion | AUC top-1 | AUC top-5 | CE (vs " + names[0] + ") | relative CE |\n|---|---|---|---|---|---|")
    for res in results:
        s = summarize(res["rows"], base["rows"], names[0])
        for d, e in s["distortions"].items():
            ce = "-" if e.get("ce") is None else f"{e['ce']:.3f}"
            rce = "-" if e.get("relative_ce") is None else f"{e['relative_ce']:.3f}"
            print(f"| {res['name']} | {d} | {e['auc_top1']:.3f} | {e['auc_top5']:.3f} | {ce} | {rce} |")
        mce = "-" if s.get("mce") is None else f"{s['mce']:.3f}"
        rmce = "-" if s.get("relative_mce") is None else f"{s['relative_mce']:.3f}"
        print(f"| {res['name']} | **mean (mCE)** | | | {mce} | {rmce} |")


if __name__ == "__main__":
    main(sys.argv[1:])
