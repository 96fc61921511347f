"""The edge refiner's choices, on the val photos only: Ahn's basic and difficult detection protocols with the
refiner off and on, for several passes / strips along each side / lowest score refined. Prints one row per setting and writes JSON.

    python experiments/default_model/refine_eval.py --model runs/default-ynet-v2-refine/model.pt \
        --out runs/refine_val.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--photos", default=str(HERE / "photos_v2" / "val"))
    ap.add_argument("--settings", nargs="*", default=["off", "1x3", "2x3", "1x1", "1x5"],
                    help="'off' or PASSESxWINDOWS[@MIN_SCORE] (min score 0.1 by default)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from distortx.engine.evaluation.evaluate import evaluate
    from distortx.models.checkpoint import load_model

    model = load_model(args.model)
    head = model.heads["detection"]
    refiner = head.refiner
    rows = {}
    for setting in args.settings:
        if setting == "off":
            head.refiner = None
        else:
            shape, _, floor = setting.partition("@")
            passes, windows = (int(v) for v in shape.split("x"))
            head.refiner, refiner.passes, refiner.windows = refiner, passes, windows
            refiner.min_score = float(floor) if floor else 0.1
        row = {}
        for protocol in ("basic", "difficult"):
            t0 = time.perf_counter()
            rep = evaluate(model, str(HERE / f"det_{protocol}.toml"), images=args.photos, split="all", batch_size=16)
            det = rep.to_dict()["detection"]
            row[protocol] = {k: round(det[k], 4) for k in ("mAP@0.5", "mAP@0.75", "mAP@0.9", "mAP@[.5:.95]")}
            row[protocol]["seconds"] = round(time.perf_counter() - t0, 1)
        rows[setting] = row
        print(setting, json.dumps(row), flush=True)
    head.refiner = refiner
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
