"""Write a `distortx train` run of the noise estimator as the shipped weights (weights only, with its story).

    python experiments/estimator_v2/ship_noise.py runs/noise-awgn-ft-lr1e4 [--out distortx/estimation/weights/noise_sigma.pt]
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from distortx.estimation.checkpoint import load_estimator, read_checkpoint_meta, read_estimator_checkpoint, save_estimator

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--out", default=str(ROOT / "distortx" / "estimation" / "weights" / "noise_sigma.pt"))
    a = ap.parse_args()
    run = Path(a.run)
    state = read_estimator_checkpoint(run)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    done = next((r for r in reversed(log) if r.get("done")), {})
    evals = [r for r in log if "eval" in r]
    previous = read_checkpoint_meta("noise_sigma")
    meta = {
        "trained_on": "828 train photos of experiments/default_model/split_v2.json (photos + photos_v2), 96-px crops "
                      "(crop jitter 0.67-1), AWGN sigma ~ U[0, 60]",
        "steps": state["meta"].get("step"),  # the run folder's best.pt: the step of the best val MAE
        "run_steps": done.get("step"),
        "run_seconds": done.get("seconds"),
        "eval": next((r["eval"] for r in evals if r["step"] == state["meta"].get("step")), None),
        "config": (run / "config.toml").read_text(),
        "command": f"distortx train experiments/estimator_v2/noise_awgn_ft.toml (lr 1e-4, 3000 steps, 42 min cap) -> {run}",
        "continued_from": {"what": "the v1 noise estimator", "meta": previous},
        "device": "cpu",
        "machine": f"{platform.machine()} CPU, 1 thread, torch {torch.__version__}",
        "held_out": "split_v2.json val (choices) and test (final figures) photos: never trained on",
        "results": "docs/endo.md, 'Noise sigma: patch statistics and the CNN'",
    }
    save_estimator(load_estimator(run), a.out, meta)
    print(f"wrote {a.out} ({Path(a.out).stat().st_size / 1e6:.2f} MB) from {run} step {meta['steps']}")


if __name__ == "__main__":
    main()
