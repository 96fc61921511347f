"""Benchmark of the assembled Y-net (distortx.create_model("ynet", backbone=...)) at 300x300.

Usage: python benchmarks/bench_models.py [--quick] [--device cpu|cuda] [--json OUT] [--backbones a,b,dx_small@1.25]
                                         [--batches 1,64] [--train-batch B] [--threads T] [--clock wall|cpu]
                                         [--no-amp] [--no-channels-last]

For every backbone and batch size, images/s of
  forward         the model's raw outputs (classifier logits + SSD loc/conf), no decoding;
  + fused NMS     forward + distortx.ops.ssd_postprocess (decode, softmax, per-class threshold 0.01 / top-200 /
                  NMS 0.45, 200 per image; the native C++/CUDA op when the extension has it) + pixel boxes;
  + torchvision   forward + torchvision's SSD.postprocess_detections recipe (BoxCoder.decode_single, clip,
                  softmax, per-class threshold/top-k, torchvision.ops.batched_nms, cap), one image at a time;
and per backbone the training step (forward, MultiBoxLoss + cross-entropy, backward, SGD step) in images/s
on random images with 1..4 boxes each.

CUDA: bf16 autocast and channels_last (the model's output is cast to float32 for the post-processing),
cudnn.benchmark. CPU: float32, channels_last, torch's default thread count unless --threads; on a busy shared
machine ``--threads 1 --clock cpu`` times the process's CPU time, which is its run time on an idle core.
Batches: CUDA 1 and 64 (train 64); CPU 1 and 16 (train 8) - 64 on a CPU takes minutes per backbone.
--quick: CUDA every backbone with fewer repeats; CPU only dx_small, iqa_cnn, resnet18 at batches 1 and 8.
Prints a Markdown table; --json writes the rows.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import distortx  # noqa: E402
from distortx.detection import cxcywh_to_xyxy  # noqa: E402
from distortx._ext import has_kernel  # noqa: E402

SIZE = 300
BUILTIN = ["dx_small", "iqa_cnn", "resnet18", "resnet50", "resnet101", "vgg16", "atrous_vgg16", "simple_cnn"]
SCORE_THR, IOU_THR, TOPK, MAX_DET = 0.01, 0.45, 200, 200


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


CLOCK = time.perf_counter


def timed(fn, device: str, warmup: int, repeats: int, iters: int) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` runs of ``iters`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = CLOCK()
        for _ in range(iters):
            fn()
        sync(device)
        best = min(best, (CLOCK() - t0) / iters)
    return best


def torchvision_postprocess(loc, conf, priors, image_size):
    """torchvision's SSD.postprocess_detections on our raw outputs, one image at a time."""
    import torchvision
    from torchvision.models.detection._utils import BoxCoder
    from torchvision.ops import boxes as box_ops

    coder = BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))  # = SSD variances (0.1, 0.2)
    anchors = cxcywh_to_xyxy(priors) * image_size
    probs = F.softmax(conf, dim=-1)
    out = []
    for b in range(loc.shape[0]):
        boxes = box_ops.clip_boxes_to_image(coder.decode_single(loc[b], anchors), (image_size, image_size))
        bxs, scs, lbs = [], [], []
        for label in range(1, probs.shape[-1]):
            score = probs[b, :, label]
            keep = score > SCORE_THR
            score, box = score[keep], boxes[keep]
            score, idx = score.topk(min(TOPK, score.shape[0]))
            bxs.append(box[idx]), scs.append(score), lbs.append(torch.full_like(idx, label))
        bx, sc, lb = torch.cat(bxs), torch.cat(scs), torch.cat(lbs)
        keep = torchvision.ops.batched_nms(bx, sc, lb, IOU_THR)[:MAX_DET]
        out.append({"boxes": bx[keep], "scores": sc[keep], "labels": lb[keep]})
    return out


def random_targets(n: int, num_types: int, device: str, g: torch.Generator):
    targets = []
    for _ in range(n):
        k = int(torch.randint(1, 5, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * SIZE * 0.6
        wh = SIZE * (0.1 + 0.3 * torch.rand(k, 2, generator=g))
        targets.append({"boxes": torch.cat([xy, (xy + wh).clamp(max=SIZE)], 1).to(device),
                        "labels": torch.randint(1, num_types + 1, (k,), generator=g).to(device)})
    return targets


def bench_backbone(name: str, args, batches, train_batch: int, reps) -> list:
    device = args.device
    amp = device == "cuda" and not args.no_amp
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    fmt = torch.channels_last if not args.no_channels_last else torch.contiguous_format
    torch.manual_seed(0)
    backbone, _, width = name.partition("@")   # "dx_small@1.25": a width multiplier (the default model v2's backbone)
    kwargs = {"backbone_kwargs": {"width": float(width)}} if width else {}
    model = distortx.create_model("ynet", backbone=backbone, image_size=SIZE, **kwargs).to(device).to(memory_format=fmt)
    params = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(0)
    rows = []
    model.eval()
    for batch in batches:
        x = torch.rand(batch, 3, SIZE, SIZE, generator=g).to(device).contiguous(memory_format=fmt)
        warm, rep, iters = reps(batch)

        @torch.inference_mode()
        def forward():
            with autocast():
                return model(x, postprocess=False)

        @torch.inference_mode()
        def fused():
            with autocast():
                out = model(x, postprocess=False)
            return model.heads["detection"].postprocess(out.loc.float(), out.conf.float(), out.priors, (SIZE, SIZE))

        @torch.inference_mode()
        def tv():
            with autocast():
                out = model(x, postprocess=False)
            return torchvision_postprocess(out.loc.float(), out.conf.float(), out.priors, SIZE)

        t_fwd = timed(forward, device, warm, rep, iters)
        t_fused = timed(fused, device, warm, rep, iters)
        t_tv = timed(tv, device, 1, rep, max(1, iters // 2))
        counts = (sum(len(d["boxes"]) for d in fused()), sum(len(d["boxes"]) for d in tv()))
        rows.append({"backbone": name, "batch": batch, "device": device, "amp": amp, "params_m": round(params / 1e6, 2),
                     "forward_img_s": batch / t_fwd, "fused_img_s": batch / t_fused, "torchvision_img_s": batch / t_tv,
                     "detections_fused_vs_tv": counts})
        print(f"  {name} batch {batch}: forward {batch / t_fwd:.1f}, +fused {batch / t_fused:.1f}, "
              f"+torchvision {batch / t_tv:.1f} img/s (detections {counts[0]} vs {counts[1]})", flush=True)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.rand(train_batch, 3, SIZE, SIZE, generator=g).to(device).contiguous(memory_format=fmt)
    batch = {"labels": torch.randint(0, len(model.classes), (train_batch,), generator=g).to(device),
             "targets": random_targets(train_batch, len(model.types), device, g)}

    def step():
        with autocast():
            out = model(x)
        loss, _ = model.loss(out, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    warm, rep, iters = reps(train_batch)
    t_train = timed(step, device, warm, rep, iters)
    for r in rows:
        r.update(train_batch=train_batch, train_img_s=train_batch / t_train)
    print(f"  {name} train batch {train_batch}: {train_batch / t_train:.1f} img/s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--backbones", default=None, help="comma-separated (default: every built-in)")
    ap.add_argument("--batches", default=None, help="comma-separated inference batch sizes")
    ap.add_argument("--train-batch", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-amp", action="store_true", help="CUDA: float32 instead of bf16 autocast")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="cpu: this process's CPU time (time.process_time), for --threads 1 on a shared machine")
    args = ap.parse_args()
    if args.clock == "cpu":
        if args.device != "cpu" or args.threads != 1:
            sys.exit("--clock cpu needs --device cpu --threads 1 (CPU time equals run time only for one thread)")
        global CLOCK
        CLOCK = time.process_time
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    if args.backbones:
        names = args.backbones.split(",")
    else:
        names = ["dx_small", "iqa_cnn", "resnet18"] if (args.quick and not cuda) else BUILTIN
    if args.batches:
        batches = [int(b) for b in args.batches.split(",")]
    else:
        batches = [1, 64] if cuda else ([1, 8] if args.quick else [1, 16])
    train_batch = args.train_batch or (64 if cuda else (4 if args.quick else 8))

    def reps(batch):  # (warm-up calls, repeats, calls per repeat)
        if cuda:
            return (3, 2, 5) if args.quick else (5, 3, 10 if batch > 1 else 30)
        return (1, 1, 1) if args.quick else (1, 3, 1 if batch > 1 else 5)

    native = has_kernel("ssd_postprocess", args.device)
    dev_name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"bench_models: {dev_name}, torch {torch.__version__}, {SIZE}x{SIZE}, fused NMS "
          f"{'native' if native else 'python (no native kernel)'}", flush=True)
    rows = []
    for name in names:
        rows += bench_backbone(name, args, batches, train_batch, reps)
        if cuda:
            torch.cuda.empty_cache()  # the last backbone's model and optimiser state are gone

    amp = "bf16 autocast, " if cuda and not args.no_amp else ""
    layout = "channels_last" if not args.no_channels_last else "NCHW"
    clock = "; CPU-time clock" if args.clock == "cpu" else ""
    print(f"\nY-net (classifier + SSD) at {SIZE}x{SIZE}, {args.device} ({dev_name}; {amp}{layout}{clock}), images/s:\n")
    print("| backbone | params (M) | batch | forward | + fused decode+NMS | + torchvision post | train step (batch) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backbone']} | {r['params_m']} | {r['batch']} | {r['forward_img_s']:.1f} | {r['fused_img_s']:.1f} | "
              f"{r['torchvision_img_s']:.1f} | {r['train_img_s']:.1f} ({r['train_batch']}) |")
    if args.json:
        meta = {"device": dev_name, "torch": torch.__version__, "native_postprocess": native, "size": SIZE,
                "clock": args.clock,
                "amp": cuda and not args.no_amp, "channels_last": not args.no_channels_last}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
