"""Training throughput: streaming synthesis alone, training steps alone, and both together (the real loop).

Usage: python benchmarks/bench_train.py [--device cuda] [--backbone atrous_vgg16] [--batch 32] [--seconds 15]
       [--images DIR] [--preset ahn-detection-basic] [--json OUT]

- synthesis: images/s of ``SynthesisStream`` batches (rendered on --device, labels built), nothing else;
- training: images/s of Y-net SGD steps (forward, MultiBoxLoss, backward, step) on one pre-rendered batch
  repeated (bf16 autocast + channels_last on CUDA);
- together: images/s of the engine's own loop (``distortx.engine.training.train.Trainer``) fed by the stream.
"together" ~ min(synthesis, training) when they do not overlap (one process, one CUDA stream).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import distortx  # noqa: E402
from distortx.data.stream import SynthesisStream  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def synthesis_rate(args) -> float:
    stream = SynthesisStream(args.preset, images=args.images, split="train", batch_size=args.batch,
                             device=args.device, deterministic=False)
    n, t0, epoch = 0, None, 0
    while True:
        stream.set_epoch(epoch)
        for batch in stream:
            if t0 is None:  # first batch: warm-up
                sync(args.device)
                t0 = time.perf_counter()
                continue
            n += batch["images"].shape[0]
            if time.perf_counter() - t0 > args.seconds:
                sync(args.device)
                return n / (time.perf_counter() - t0)
        epoch += 1


def training_rate(args) -> float:
    model = distortx.create_model("ynet", backbone=args.backbone).to(args.device)
    cuda = args.device.startswith("cuda")
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    stream = SynthesisStream(args.preset, images=args.images, split="train", batch_size=args.batch,
                             device=args.device)
    batch = next(iter(stream))
    images = batch["images"].contiguous(memory_format=torch.channels_last) if cuda else batch["images"]
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
    model.train()
    n, t0 = 0, None
    while True:
        with ctx:
            out = model(images)
        loss, _ = model.loss(out, {"targets": batch["targets"]})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if t0 is None:
            sync(args.device)
            t0 = time.perf_counter()
            continue
        n += images.shape[0]
        if time.perf_counter() - t0 > args.seconds:
            sync(args.device)
            return n / (time.perf_counter() - t0)


def together_rate(args) -> float:
    from distortx.engine.training.config import load_config
    from distortx.engine.training.train import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(base={
            "model": {"arch": "ynet", "backbone": args.backbone},
            "data": {"images": args.images, "detection": {"preset": args.preset, "batch_size": args.batch}},
            "optim": {"name": "sgd", "lr": 1e-3}, "schedule": {"name": "constant"},
            "train": {"steps": 100000, "out": os.path.join(tmp, "run"), "device": args.device, "log_every": 5,
                      "checkpoint_every": 100000, "max_minutes": args.seconds / 60 + 0.05},
        })
        trainer = Trainer(cfg, progress=False)
        trainer.train_step("detection")  # warm-up
        sync(args.device)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            n += trainer.train_step("detection")["images"]
            trainer.step += 1
        sync(args.device)
        return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--backbone", default="atrous_vgg16")
    ap.add_argument("--preset", default="ahn-detection-basic")
    ap.add_argument("--images", default=None, help="reference photos (default: embedded samples)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    rows = []
    for what, fn in (("synthesis", synthesis_rate), ("training", training_rate), ("together", together_rate)):
        ips = fn(args)
        rows.append({"what": what, "device": args.device, "backbone": args.backbone, "batch": args.batch,
                     "images_per_s": round(ips, 1)})
        print(f"  {what:10s} {ips:10.1f} img/s", flush=True)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"\n{args.preset}, Y-net {args.backbone}, batch {args.batch}, {name}, torch {torch.__version__}")
    print("| what | images/s |\n|---|---:|")
    for r in rows:
        print(f"| {r['what']} | {r['images_per_s']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
