"""Benchmark of the SSD box ops: fused decode + NMS and batched NMS, distortx vs torchvision.

Usage: python benchmarks/bench_boxes.py [--quick] [--json OUT] [--device cpu|cuda]

Tasks (same thresholds everywhere: score 0.01, IoU 0.45, top-k 200 per class, 200 detections per image):
  ssd_postprocess  a batch of 32 x 8732 SSD300 priors x 9 classes (8 distortion types + background) of
                   random-but-realistic head outputs: background-heavy logits so that a few hundred priors
                   per class pass 0.01, plus ~8 objects per image whose neighbouring priors fire together
                   (so NMS has clusters to suppress). Implementations:
                     distortx-native   torch.ops.distortx.ssd_postprocess (C++/OpenMP or CUDA, one call)
                     distortx-python   distortx's vectorised pure-PyTorch reference
                     torchvision       per image: BoxCoder.decode_single + softmax + per-class threshold/top-k
                                       + torchvision.ops.batched_nms + cap (torchvision's SSD.postprocess_detections
                                       without the clip to the image)
  batched_nms      20000 boxes, 9 classes: distortx native / python vs torchvision.ops.batched_nms.

Prints a Markdown table (ms per batch, and torchvision's time divided by each: > 1 = faster than torchvision)
and writes JSON rows {"task", "impl", "device", "ms_per_batch"} with --json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.detection._utils import BoxCoder

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from distortx.detection import cxcywh_to_xyxy, default_boxes  # noqa: E402
from distortx.ops.nms import batched_nms  # noqa: E402
from distortx.ops.ssd_postprocess import ssd_postprocess  # noqa: E402

SCORE_THR, IOU_THR, TOPK, MAX_DET = 0.01, 0.45, 200, 200


def ssd_batch(B: int, K: int, priors: torch.Tensor, seed: int = 0):
    """Realistic SSD head outputs (loc [B, P, 4], logits [B, P, K]) for the priors (cx, cy, w, h)."""
    g = torch.Generator().manual_seed(seed)
    P = priors.shape[0]
    loc = torch.randn(B, P, 4, generator=g) * 0.3
    logits = torch.randn(B, P, K, generator=g)
    logits[..., 0] += 8.0  # background: ~2 % of priors per class above 0.01 from noise
    centres = priors[:, :2]
    for b in range(B):
        for _ in range(8):  # objects: priors near a centre agree on one class
            c = torch.rand(2, generator=g)
            size = 0.04 + 0.2 * float(torch.rand(1, generator=g))
            near = ((centres - c).abs() < size / 2).all(1) & ((priors[:, 2] - size).abs() < size)
            cls = int(torch.randint(1, K, (1,), generator=g))
            logits[b, near, cls] += 9.0 + 2.0 * torch.rand(int(near.sum()), generator=g)
            loc[b, near] *= 0.5
    return loc, logits


def torchvision_postprocess(loc, logits, anchors_xyxy, coder):
    """torchvision's SSD.postprocess_detections (minus the clip), one image at a time."""
    probs = F.softmax(logits, dim=-1)
    out = []
    for b in range(loc.shape[0]):
        boxes = coder.decode_single(loc[b], anchors_xyxy)
        scores = probs[b]
        bxs, scs, lbs = [], [], []
        for label in range(1, scores.shape[-1]):
            score = scores[:, label]
            keep = score > SCORE_THR
            score, box = score[keep], boxes[keep]
            score, idx = score.topk(min(TOPK, score.shape[0]))
            bxs.append(box[idx]), scs.append(score), lbs.append(torch.full_like(idx, label))
        bx, sc, lb = torch.cat(bxs), torch.cat(scs), torch.cat(lbs)
        keep = torchvision.ops.batched_nms(bx, sc, lb, IOU_THR)[:MAX_DET]
        out.append((bx[keep], sc[keep], lb[keep]))
    return out


def timed(fn, reps: int, device: str) -> float:
    """Median milliseconds of fn() over reps runs after one warm-up."""
    fn()
    times = []
    for _ in range(reps):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (under a minute)")
    ap.add_argument("--json", metavar="OUT", help="write the rows as JSON")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args(argv)
    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device")
    reps = 3 if args.quick else 10
    rows = []

    # -- fused SSD post-processing ----------------------------------------------------------------------------
    B, K = 32, 9
    priors = default_boxes()
    loc, logits = ssd_batch(B, K, priors)
    loc, logits, priors = loc.to(dev), logits.to(dev), priors.to(dev)
    anchors = cxcywh_to_xyxy(priors)
    coder = BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))
    cand = (F.softmax(logits, -1)[..., 1:] > SCORE_THR).sum(1).float()
    print(f"ssd_postprocess input: {B} x {priors.shape[0]} priors x {K} classes; candidates > {SCORE_THR} per "
          f"(image, class): mean {cand.mean():.0f}, min {cand.min():.0f}, max {cand.max():.0f}; "
          f"torch threads {torch.get_num_threads()}")
    kw = dict(score_threshold=SCORE_THR, iou_threshold=IOU_THR, topk_per_class=TOPK, max_detections=MAX_DET)
    task = f"ssd_postprocess B={B} P={priors.shape[0]} K={K}"
    impls = {
        "distortx-native": lambda: ssd_postprocess(loc, logits, priors, impl="native", **kw),
        "distortx-python": lambda: ssd_postprocess(loc, logits, priors, impl="python", **kw),
        "torchvision": lambda: torchvision_postprocess(loc, logits, anchors, coder),
    }
    for name, fn in impls.items():
        rows.append({"task": task, "impl": name, "device": dev, "ms_per_batch": timed(fn, reps, dev)})
    # agreement check (counts per image, top score)
    nat = impls["distortx-native"]()
    tv = impls["torchvision"]()
    same = sum(int(nat.counts[b]) == len(tv[b][1]) for b in range(B))
    print(f"check: detections per image equal to torchvision in {same}/{B} images "
          f"(mean {nat.counts.float().mean():.1f} per image)")

    # -- batched NMS --------------------------------------------------------------------------------------------
    n = 20000
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(n, 2, generator=g) * 600
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 50 + 10], 1).to(dev)
    scores = ((torch.randperm(n, generator=g) + 1).float() / n).to(dev)  # distinct: the keep order is unique
    idxs = torch.randint(0, 9, (n,), generator=g).to(dev)
    task = f"batched_nms N={n} classes=9"
    impls = {
        "distortx-native": lambda: batched_nms(boxes, scores, idxs, IOU_THR, impl="native"),
        "distortx-python": lambda: batched_nms(boxes, scores, idxs, IOU_THR, impl="python"),
        "torchvision": lambda: torchvision.ops.batched_nms(boxes, scores, idxs, IOU_THR),
    }
    for name, fn in impls.items():
        rows.append({"task": task, "impl": name, "device": dev,
                     "ms_per_batch": timed(fn, 1 if (args.quick and name == "distortx-python") else reps, dev)})
    keep, ref = impls["distortx-native"](), impls["torchvision"]()
    print(f"check: batched_nms keeps {len(keep)} of {n}, identical to torchvision: {torch.equal(keep, ref)}")

    # -- table -------------------------------------------------------------------------------------------------
    print("\n| task | impl | device | ms / batch | speed-up vs torchvision |\n|---|---|---|---:|---:|")
    for r in rows:
        base = next(x["ms_per_batch"] for x in rows if x["task"] == r["task"] and x["impl"] == "torchvision")
        print(f"| {r['task']} | {r['impl']} | {r['device']} | {r['ms_per_batch']:.1f} | {base / r['ms_per_batch']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
