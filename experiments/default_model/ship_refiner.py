"""Put a trained edge refiner (ynet_v2_refine.toml) into the shipped default model, keeping everything else.

    python experiments/default_model/ship_refiner.py --trained runs/default-ynet-v2-refine/model.pt \
        --windows 3 --passes 1 --out distortx/weights/ynet_dx_small.pt

The refiner stage trained on the frozen shipped network, so every tensor outside ``heads.detection.refiner`` must
equal the shipped one (checked: the script refuses otherwise). The shipped file's calibration record and meta are
kept; the refiner's inference settings (chosen on val with refine_eval.py) go into the model config, and a
``calibration["refiner"]`` note says how it was made.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PREFIX = "heads.detection.refiner."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trained", required=True)
    ap.add_argument("--shipped", default=str(ROOT / "distortx" / "weights" / "ynet_dx_small.pt"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--min-score", type=float, default=0.1)
    ap.add_argument("--val", default=None, help="refine_eval.py's JSON, recorded in the calibration note")
    args = ap.parse_args()
    from distortx.models.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint

    shipped, trained = read_checkpoint(args.shipped), read_checkpoint(args.trained)
    old, new = shipped["model"], trained["model"]
    outside = sorted(k for k in new if not k.startswith(PREFIX))
    if outside != sorted(k for k in old if not k.startswith(PREFIX)) or any(not torch.equal(old[k], new[k]) for k in outside):
        raise SystemExit("the trained model differs from the shipped one outside the refiner: not the frozen stage")
    config = json.loads(json.dumps(trained["model_config"]))
    refine = config["det_head_kwargs"]["refine"]
    refine.update(windows=args.windows, passes=args.passes, min_score=args.min_score)
    out = {k: v for k, v in shipped.items() if k not in ("format", "version")}
    out["model"] = new
    out["model_config"] = config
    calibration = dict(out.get("calibration") or {})
    calibration["refiner"] = {"config": "experiments/default_model/ynet_v2_refine.toml", "step": trained.get("step"),
                              "settings": {k: refine[k] for k in ("windows", "passes", "min_score")},
                              "chosen_on": "val (experiments/default_model/refine_eval.py)",
                              "val": json.loads(Path(args.val).read_text()) if args.val else None,
                              "script": "experiments/default_model/ship_refiner.py"}
    out["calibration"] = calibration
    model_from_checkpoint(out)                      # rebuilds: the config and the weights fit
    save_checkpoint(out, args.out)
    print(json.dumps(calibration["refiner"]["settings"]), "->", args.out)


if __name__ == "__main__":
    main()
