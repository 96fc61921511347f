"""Train one degradation-parameter estimator on photo patches and save it as a checkpoint.

    python experiments/endo/train_estimator.py --what jpeg_quality --out jpeg_quality.pt \
        [--photos /work/shared/data/photos] [--split experiments/default_model/split.json:train] \
        [--device cpu|cuda] [--steps N] [--seconds S] [--width 64] [--pool 32] [--snapshot-every 500] [--init W.pt]

(`reproduce.py` trains both estimators as part of the full experiment; this script is the estimator alone,
e.g. for the small CPU-trained weights shipped in distortx/estimation/weights/.)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a source checkout without installing

from distortx.estimation.checkpoint import load_estimator, save_estimator  # noqa: E402
from distortx.estimation.patches import PatchBank, load_photos  # noqa: E402
from distortx.estimation.train import EstimatorTraining, train_estimator  # noqa: E402


def split_names(spec: str) -> list:
    """File names listed in ``FILE.json`` under the comma-separated keys of ``FILE.json:KEY[,KEY]``."""
    path, _, keys = spec.rpartition(":")
    table = json.loads(Path(path).read_text())
    return [name for key in keys.split(",") for name in table[key]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--what", choices=["jpeg_quality", "noise_sigma"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--photos", type=Path, default=Path("/work/shared/data/photos"))
    ap.add_argument("--split", default=None, metavar="FILE.json:KEY[,KEY]",
                    help="train only on the photos a split file lists under these keys (the held-out ones never)")
    ap.add_argument("--init", type=Path, default=None, help="continue from these estimator weights")
    ap.add_argument("--snapshot-every", type=int, default=0, help="write --out every N steps during the run")
    ap.add_argument("--no-amp", action="store_true", help="float32 throughout (default: bf16 where native)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=None, help="wall-clock budget (re-plans the step count)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--pool", type=int, default=1, help="degrade this many batches at once (32 on a GPU)")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--residual-gain", type=float, default=None, help="high-pass residual input (default 8; 0: none)")
    ap.add_argument("--grid", type=int, default=None, help="block-grid marks (default 8 for JPEG, 0 for noise)")
    ap.add_argument("--plain", action="store_true", help="Endo's plain input: --residual-gain 0 --grid 0")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.device == "cpu":
        torch.set_num_threads(a.threads)
    if a.plain:
        a.residual_gain, a.grid = 0.0, 0
    names = split_names(a.split) if a.split else None
    photos = load_photos(a.photos, names=names)
    bank = PatchBank(photos, a.patch, a.device)
    cfg = EstimatorTraining(steps=a.steps, batch_size=a.batch, lr=a.lr, warmup=min(100, a.steps // 10),
                            width=a.width, max_seconds=a.seconds, seed=a.seed, log_every=a.log_every,
                            pool_batches=a.pool, amp=not a.no_amp, residual_gain=a.residual_gain, grid=a.grid, snapshot_every=a.snapshot_every)
    init = load_estimator(a.init, a.device).train() if a.init else None
    t0 = time.time()

    def meta(steps: int, rmse=None) -> dict:
        return {"trained_on": f"{len(photos)} photos of {a.photos.name}"
                              f"{' (' + a.split + ')' if a.split else ''}, {a.patch}x{a.patch} patches",
                "steps": steps, "batch_size": a.batch, "lr": a.lr, "device": a.device,
                "seconds": round(time.time() - t0, 1), "final_pixel_rmse": rmse,
                "continued_from": str(a.init) if a.init else None, "script": "experiments/endo/train_estimator.py"}

    res = train_estimator(a.what, bank, cfg, log=lambda m: print(m, flush=True), model=init,
                          snapshot=lambda model, step: save_estimator(model, a.out, meta(step)))
    meta = meta(res.steps, res.history[-1]["pixel_rmse"] if res.history else None)
    save_estimator(res.model, a.out, meta)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
