"""Does the edge refiner's border sharpness tell real regions from boxes on clean areas? Val photos only.

Detections scored >= --min-score on Ahn basic val images (true when they match an unmatched region of their type at
IoU >= 0.5) and on clean val crops (as stored and saved as JPEG q90: every box is false). Prints the quantiles
of ``border`` for true and false boxes and the AUROC of score, border and score x border at telling them apart.

    python experiments/default_model/border_evidence.py --model runs/default-ynet-v2-refine/model.pt
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def auroc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """P(a true box's value > a false box's value), ties count half."""
    if not pos.numel() or not neg.numel():
        return float("nan")
    d = pos.view(-1, 1) - neg.view(1, -1)
    return float((d > 0).float().mean() + 0.5 * (d == 0).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--photos", default=str(HERE / "photos_v2" / "val"))
    ap.add_argument("--min-score", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from distortx.engine.training.batches import BatchStream
    from distortx.engine.training.config import SourceConfig
    from distortx.models.checkpoint import load_model
    from distortx.detection.matching import box_iou
    from finalize import _jpeg

    model = load_model(args.model).eval()
    true_s, true_b, false_s, false_b = [], [], [], []

    def boxes_of(images):
        with torch.no_grad():
            return model(images).detections

    stream = BatchStream("detection", SourceConfig(preset=str(HERE / "det_basic.toml"), batch_size=16), model,
                         args.photos, 11, "cpu", "all", shuffle=False, mix_units=1)
    for b in stream.epoch_batches():
        for det, tgt in zip(boxes_of(b["images"]), b["targets"]):
            keep = det["scores"] >= args.min_score
            boxes, scores, labels, border = (det[k][keep] for k in ("boxes", "scores", "labels", "border"))
            used = torch.zeros(tgt["boxes"].shape[0], dtype=torch.bool)
            iou = box_iou(boxes.float(), tgt["boxes"].float()) if boxes.numel() and tgt["boxes"].numel() else None
            for i in range(boxes.shape[0]):
                hit = False
                if iou is not None:
                    cand = (iou[i] >= 0.5) & (tgt["labels"] == labels[i]) & ~used
                    if bool(cand.any()):
                        j = int(torch.where(cand, iou[i], torch.zeros_like(iou[i])).argmax())
                        used[j], hit = True, True
                (true_s if hit else false_s).append(float(scores[i]))
                (true_b if hit else false_b).append(float(border[i]))
    clean_stream = BatchStream("classification", SourceConfig(preset=str(HERE / "cls_test.toml"), batch_size=32),
                               model, args.photos, 100, "cpu", "all", shuffle=False, mix_units=1)
    n_clean = 0
    for b in clean_stream.epoch_batches():
        clean = b["images"][b["labels"] == 0]
        for images in (clean, _jpeg(clean, 90)) if clean.shape[0] else ():
            n_clean += images.shape[0]
            for det in boxes_of(images):
                keep = det["scores"] >= args.min_score
                false_s += det["scores"][keep].tolist()
                false_b += det["border"][keep].tolist()
    ts, tb, fs, fb = (torch.tensor(v) for v in (true_s, true_b, false_s, false_b))
    q = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])
    result = {"true_boxes": int(ts.numel()), "false_boxes": int(fs.numel()), "clean_images": n_clean,
              "border_quantiles_true": [round(v, 3) for v in tb.quantile(q).tolist()] if tb.numel() else [],
              "border_quantiles_false": [round(v, 3) for v in fb.quantile(q).tolist()] if fb.numel() else [],
              "auroc_score": auroc(ts, fs), "auroc_border": auroc(tb, fb), "auroc_score_x_border": auroc(ts * tb, fs * fb)}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE))
    main()
