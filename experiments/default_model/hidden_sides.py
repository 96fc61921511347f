"""Where Ahn-protocol AP@0.75 / 0.9 is lost: box sides that the image shows, and sides that later regions hide.

Ahn's detection images are rendered with ``apply_regions`` semantics: every region is computed on the clean photo
and later regions win, so a region's side that lies under a later region is not in the pixels at all (the ground
truth keeps the whole drawn box). This script splits every ground-truth side into *shown* (at most half of its
length under later boxes) and *hidden*, and measures on one split's photos:

1. the visible-extent oracle: the IoU between each ground-truth box and the bounding box of its visible pixels
   (what a detector that finds every visible region perfectly would report);
2. the model's mAP@0.5 / 0.75 / 0.9 as it is, and with the sides of every matched detection (same type, IoU >=
   0.5) replaced by the truth: only its shown sides, only its hidden sides, all sides. The gap closed by each says
   where the loss is: shown sides are the model's to fix, hidden ones can only be guessed.

    python experiments/default_model/hidden_sides.py --split val [--model distortx/weights/ynet_dx_small.pt]
    python experiments/default_model/hidden_sides.py --split val --stack    # regions stacked, not occluding

With ``--stack`` the images come from det_{basic,difficult}_stack.toml (``overlap = "stack"``: each region distorts
the image the earlier ones left, so a side under a later region still shows, under both distortions); "hidden"
then means "under a later region".

Prints one line per protocol and setting and writes JSON (``--out``). ~3 min per protocol on one thread.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
FIXES = ("none", "shown", "hidden", "all")


def hidden_sides(boxes: np.ndarray, size: int) -> np.ndarray:
    """Which sides of each box are hidden: bool [K, 4] (left, top, right, bottom) for int xyxy boxes [K, 4] in
    drawing order on a ``size`` x ``size`` image: a side is hidden when more than half of its pixels (the box's
    first / last column or row) lie under later boxes."""
    k = len(boxes)
    out = np.zeros((k, 4), dtype=bool)
    covered = np.zeros((size, size), dtype=bool)
    for j in range(k - 1, -1, -1):
        x0, y0, x1, y1 = (int(v) for v in boxes[j])
        if x1 > x0 and y1 > y0:
            lines = (covered[y0:y1, x0], covered[y0, x0:x1], covered[y0:y1, x1 - 1], covered[y1 - 1, x0:x1])
            out[j] = [line.mean() > 0.5 for line in lines]
            covered[y0:y1, x0:x1] = True
    return out


def visible_extent(boxes: np.ndarray, size: int) -> np.ndarray:
    """The bounding box of each box's visible pixels, float [K, 4] (a fully hidden box keeps its own)."""
    out = np.asarray(boxes, dtype=np.float64).copy()
    for j in range(len(boxes)):
        mask = np.zeros((size, size), dtype=bool)
        x0, y0, x1, y1 = (int(v) for v in boxes[j])
        mask[y0:y1, x0:x1] = True
        for later in boxes[j + 1:]:
            a, b, c, d = (int(v) for v in later)
            mask[b:d, a:c] = False
        ys, xs = np.nonzero(mask)
        if xs.size:
            out[j] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return out


def with_true_sides(det: Dict[str, torch.Tensor], gt: Dict[str, torch.Tensor], hidden: np.ndarray,
                    fix: str) -> Dict[str, torch.Tensor]:
    """``det`` with the sides of each detection matched to a ground-truth box (same label, the best IoU, >= 0.5)
    set to that box's: the shown ones, the hidden ones or all (``fix``)."""
    from distortx.engine.evaluation.metrics.detection import box_iou_numpy

    out = {k: v.clone() for k, v in det.items()}
    if fix == "none" or not len(out["boxes"]) or not len(gt["boxes"]):
        return out
    gb, gl = gt["boxes"].numpy().astype(np.float64), gt["labels"].numpy()
    iou = box_iou_numpy(out["boxes"].numpy(), gb) * (out["labels"].numpy()[:, None] == gl[None, :])
    for i in range(len(out["boxes"])):
        j = int(iou[i].argmax())
        if iou[i, j] < 0.5:
            continue
        for s in range(4):
            if fix == "all" or (fix == "hidden") == bool(hidden[j, s]):
                out["boxes"][i, s] = float(gb[j, s])
    return out


def measure(model, protocol: str, photos: str, threads: int, stack: bool = False) -> Dict[str, object]:
    from distortx.engine.evaluation.metrics.detection import DetectionMetrics, box_iou_numpy
    from distortx.engine.training.batches import BatchStream
    from distortx.engine.training.config import SourceConfig

    src = SourceConfig(preset=str(HERE / f"det_{protocol}{'_stack' if stack else ''}.toml"), batch_size=16)
    stream = BatchStream("detection", src, model, photos, 0, "cpu", "all", shuffle=False, mix_units=1)
    dets: List[Dict[str, torch.Tensor]] = []
    gts: List[Dict[str, torch.Tensor]] = []
    with torch.no_grad():
        for batch in stream.epoch_batches(None):
            size = int(batch["images"].shape[-1])
            for d, t in zip(model(batch["images"]).detections, batch["targets"]):
                dets.append({k: v.float() if v.is_floating_point() else v for k, v in d.items()})
                gts.append({"boxes": t["boxes"].float(), "labels": t["labels"]})
    hidden = [hidden_sides(g["boxes"].numpy(), size) for g in gts]
    oracle = np.concatenate([np.diag(box_iou_numpy(g["boxes"].numpy(), visible_extent(g["boxes"].numpy(), size)))
                             for g in gts if len(g["boxes"])])
    row: Dict[str, object] = {
        "images": len(gts), "boxes": int(oracle.size),
        "hidden_side_share": round(float(np.concatenate(hidden).mean()), 4),
        "visible_extent_iou_at_least": {str(t): round(float(np.mean(oracle >= t)), 4) for t in (0.5, 0.75, 0.9)},
    }
    for fix in FIXES:
        m = DetectionMetrics()
        m.update([with_true_sides(d, g, h, fix) for d, g, h in zip(dets, gts, hidden)], gts,
                 image_sizes=[(size, size)] * len(gts))
        res = m.compute().to_dict()
        row[f"mAP_{fix}"] = [round(res[k], 4) for k in ("mAP@0.5", "mAP@0.75", "mAP@0.9")]
    return row


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stack", action="store_true", help="overlapping regions stacked (det_*_stack.toml)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from distortx import load_default_model
    from distortx.models.checkpoint import load_model

    model = (load_model(args.model) if args.model else load_default_model()).eval()
    rows = {}
    for protocol in ("basic", "difficult"):
        t0 = time.perf_counter()
        rows[protocol] = measure(model, protocol, str(HERE / "photos_v2" / args.split), args.threads, args.stack)
        print(protocol, json.dumps(rows[protocol]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"split": args.split, "overlap": "stack" if args.stack else "occlude",
                                              **rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
