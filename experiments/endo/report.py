"""Markdown tables in the paper's layout (ours beside the paper's) and the figures."""
from __future__ import annotations

from pathlib import Path
from typing import List

from distortx.estimation.metrics import interval_mean_accuracy

import paper

KEYS = ("org", "deg", "est")


def estimator_table(what: str, res: dict) -> str:
    """Table 2 / 5: mean and S.D. of the estimates at each truth value, paper / ours / baseline."""
    truths = sorted(paper.ESTIMATOR[what])
    base = res.get("baseline", {})
    bname = {"jpeg": "quantisation tables of the Pillow file", "noise": "skimage estimate_sigma"}[what]
    head = "| Truth | " + " | ".join(str(t) for t in truths) + " |\n|---|" + "---|" * len(truths) + "\n"
    rows = [
        ("Mean, paper", [paper.ESTIMATOR[what][t][0] for t in truths]),
        ("Mean, ours (estimator)", [res["est_mean"].get(t) for t in truths]),
        (f"Mean, {bname}", [base.get(str(t), base.get(t, {})).get("mean") for t in truths]),
        ("S.D., paper", [paper.ESTIMATOR[what][t][1] for t in truths]),
        ("S.D., ours (estimator)", [res["est_sd"].get(t) for t in truths]),
        (f"S.D., {bname}", [base.get(str(t), base.get(t, {})).get("sd") for t in truths]),
    ]
    body = "".join(f"| {name} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in vals) + " |\n"
                   for name, vals in rows)
    return head + body


def interval_accuracy(acc: dict, lo: int, hi: int) -> float:
    """Endo's Eq. 1 over [lo, hi]; with ``--values-step`` (some values not evaluated) the mean of those that were."""
    if all(v in acc for v in range(lo, hi + 1)):
        return interval_mean_accuracy(acc, lo, hi)
    got = [acc[v] for v in range(lo, hi + 1) if v in acc]
    return sum(got) / len(got) if got else float("nan")


def interval_rows(what: str, res: dict) -> List[dict]:
    out = []
    for (lo, hi), ref in paper.INTERVALS[what].items():
        row = {"interval": [lo, hi], "paper": list(ref)}
        for k in KEYS + ("est_known",):
            if k in res["acc"]:
                row[k] = interval_accuracy(res["acc"][k], lo, hi)
        out.append(row)
    return out


def interval_table(what: str, res: dict) -> str:
    """Table 3 / 6: interval mean accuracy, ours (paper) per network, plus the ordering check."""
    names = paper.NETWORKS[what]
    head = ("| Interval | " + " | ".join(f"{n}: ours (paper)" for n in names)
            + " | param-aware fed the true value (ours) | Org < deg < +Est? |\n|---|---|---|---|---|---|\n")
    body = ""
    for row in interval_rows(what, res):
        lo, hi = row["interval"]
        cells = [f"{row[k]:.3f} ({p:.3f})" for k, p in zip(KEYS, row["paper"])]
        known = f"{row['est_known']:.3f}" if "est_known" in row else "-"
        order = "yes" if row["org"] < row["deg"] < row["est"] else "no"
        body += f"| Acc({lo}, {hi}) | " + " | ".join(cells) + f" | {known} | {order} |\n"
    return head + body


def figures(what: str, res: dict, out: Path) -> List[str]:
    """fig_accuracy_<what>.png (Fig. 5 / 8) and fig_estimator_<what>.png (Fig. 4 / 7); [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    names = paper.NETWORKS[what]
    xlabel = {"jpeg": "JPEG quality factor", "noise": "Gaussian noise sigma (0..255)"}[what]
    files = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, label, style in zip(KEYS + ("est_known",), names + (f"{names[2]} (true value given)",),
                               ("-", "-", "-", ":")):
        if k in res["acc"]:
            xs = sorted(res["acc"][k])
            ax.plot(xs, [res["acc"][k][x] for x in xs], style, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (CIFAR-10 test)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out / f"fig_accuracy_{what}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path.name)

    fig, ax = plt.subplots(figsize=(5, 4))
    xs = sorted(res["est_mean"])
    mean = [res["est_mean"][x] for x in xs]
    sd = [res["est_sd"][x] for x in xs]
    ax.plot(xs, xs, "k:", lw=1, label="truth")
    ax.plot(xs, mean, label="estimated mean")
    ax.fill_between(xs, [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)], alpha=0.3, label="+-1 S.D.")
    ref = paper.ESTIMATOR[what]
    ax.errorbar(sorted(ref), [ref[t][0] for t in sorted(ref)], yerr=[ref[t][1] for t in sorted(ref)], fmt="o",
                color="C3", capsize=3, label="paper")
    ax.set_xlabel(f"true {xlabel}")
    ax.set_ylabel("estimate")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out / f"fig_estimator_{what}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path.name)
    return files
