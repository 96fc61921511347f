"""Figure of ``eval_estimator.py`` results: estimate (mean +- S.D. over photos) against the truth, one panel per
estimator, one line per photo set.

    python experiments/endo/plot_eval.py --out docs/endo/fig_shipped_estimators.png \
        jpeg_quality:"test photos"=jpeg_test.json jpeg_quality:"scikit-image photos"=jpeg_skimage.json \
        noise_sigma:"test photos"=noise_test.json ...
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("runs", nargs="+", help="WHAT:LABEL=RESULTS.json")
    a = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = defaultdict(list)
    for spec in a.runs:
        head, _, path = spec.partition("=")
        what, _, label = head.partition(":")
        panels[what].append((label, json.loads(Path(path).read_text())))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    for ax, (what, runs) in zip(axes[0], panels.items()):
        top = 0.0
        for label, res in runs:
            rows = res["synthetic"]
            t = [float(v) for v in rows]
            m = [rows[v]["mean"] for v in rows]
            s = [rows[v]["sd"] for v in rows]
            ax.errorbar(t, m, yerr=s, marker="o", ms=3, capsize=2, label=f"{label} ({res['photos']})")
            top = max(top, max(t))
        ax.plot([0, top], [0, top], "k:", lw=1, label="truth")
        unit = {"jpeg_quality": "JPEG quality", "noise_sigma": "noise sigma (0..255)"}.get(what, what)
        ax.set_xlabel(f"true {unit}")
        ax.set_ylabel(f"estimated {unit} (mean +- S.D.)")
        ax.set_title(f"shipped {what} estimator, held-out photos")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
