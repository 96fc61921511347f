"""Train the worked example's two CIFAR-10 classifiers (docs/robustness.md): one on clean images, one with
Dodge & Karam's distortions as augmentation. A plain PyTorch loop.

Why not `distortx train`: it trains distortx's own distortion classifiers / detectors (labels = distortion
types, data = presets or `distortx generate` folders); it has no object-class data source (an .npz or an
ImageFolder of CIFAR-10 classes) yet. This script is the stand-in, on the same library pieces.

    python experiments/robustness/train_cifar.py --mode clean --out experiments/robustness/runs/clean.pth
    python experiments/robustness/train_cifar.py --mode dodge --out experiments/robustness/runs/dodge.pth

Data: ``../shared/data/cifar10/cifar10_train_20k.npz`` (20 000 images, 2 000 per class). Every step: a
batch of 128 in a seeded random order, random crop (4-pixel reflect padding) and horizontal flip, SGD
(momentum 0.9, Nesterov, weight decay 5e-4 except on BatchNorm and biases), one-cycle learning rate up
to 0.1, cross-entropy. ``--mode dodge`` additionally distorts each image with probability 0.5 by one of the
five Dodge & Karam distortions (uniform), at a level drawn uniformly from its ``dodge`` level set (JPEG q
2..20, JPEG 2000 20..40 dB, noise sigma 10..100, blur sigma 1..9, contrast 0..1), rendered by
``distortx.ops.distort_batch`` (one fused native call per batch; JPEG 2000 per image through Pillow).
Deterministic for a given --seed on one thread (``torch.set_num_threads(1)`` by default, so a shared
2-core machine stays usable). Writes the state dict (``--out``) and ``<out>.json`` (settings, times, loss).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import distortx  # noqa: E402
from distortx import Region  # noqa: E402
from distortx.ops import distort_batch  # noqa: E402
from distortx.data.presets import DODGE_TYPES  # noqa: E402

from cifar_models import build  # noqa: E402

DEFAULT_DATA = HERE.parents[1] / ".." / "shared" / "data" / "cifar10" / "cifar10_train_20k.npz"


def random_crop_flip(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """float Tensor[B, 3, H, W] -> the same shape: a random crop of the reflect-padded image, flipped with p 0.5."""
    B, _, H, W = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=g)
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=g)
    rows = (dy.view(B, 1) + torch.arange(H).view(1, H))  # B, H
    cols = (dx.view(B, 1) + torch.arange(W).view(1, W))  # B, W
    out = padded[torch.arange(B).view(B, 1, 1), :, rows.view(B, H, 1), cols.view(B, 1, W)]  # B, H, W, C
    out = out.permute(0, 3, 1, 2)
    flip = torch.rand(B, generator=g) < 0.5
    out[flip] = out[flip].flip(-1)
    return out.contiguous()


def dodge_regions(n: int, g: torch.Generator, prob: float):
    """Per image: [] (kept clean) or one whole-image Region of a random Dodge type at a random dodge level
    (parameters drawn by ``spec.sample`` once per type and batch)."""
    specs = [distortx.get_distortion(t) for t in DODGE_TYPES]
    pick = torch.rand(n, generator=g) < prob
    types = torch.randint(len(specs), (n,), generator=g)
    regions = [[] for _ in range(n)]
    for t, spec in enumerate(specs):
        idx = (pick & (types == t)).nonzero().flatten().tolist()
        if not idx:
            continue
        p = spec.sample(len(idx), generator=g, levels="dodge")
        for j, i in enumerate(idx):
            regions[i] = [Region(spec.name, tuple(p.values[j].tolist()), None, int(p.seed[j]), int(p.level[j]))]
    return regions


def param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["clean", "dodge"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=float, default=3.5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--aug-prob", type=float, default=0.5, help="share of images distorted in --mode dodge")
    ap.add_argument("--width", type=int, default=16, help="channels of the first conv (then x2, x4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    z = np.load(args.data)
    images = torch.from_numpy(z["x"]).permute(0, 3, 1, 2).contiguous()  # uint8 N,3,32,32
    labels = torch.from_numpy(z["y"].astype(np.int64))
    n = images.shape[0]
    steps_per_epoch = n // args.batch_size
    steps = int(round(args.epochs * steps_per_epoch))
    model = build(10, width=args.width)
    opt = torch.optim.SGD(param_groups(model, 5e-4), lr=args.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.25)
    g = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(n, generator=g)
    t0, last, running, seen, correct = time.perf_counter(), time.perf_counter(), 0.0, 0, 0
    log = []
    model.train()
    for step in range(steps):
        k = step % steps_per_epoch
        if k == 0 and step:
            order = torch.randperm(n, generator=g)
        idx = order[k * args.batch_size:(k + 1) * args.batch_size]
        x = random_crop_flip(images[idx].float().div_(255), g)
        if args.mode == "dodge":
            x = distort_batch(x, dodge_regions(x.shape[0], g, args.aug_prob))
        logits = model(x)
        loss = F.cross_entropy(logits, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach()) * len(idx)
        seen += len(idx)
        correct += int((logits.argmax(1) == labels[idx]).sum())
        if (step + 1) % steps_per_epoch == 0 or step + 1 == steps:
            entry = {"step": step + 1, "epoch": round((step + 1) / steps_per_epoch, 2), "loss": running / seen,
                     "train_top1": correct / seen, "seconds": round(time.perf_counter() - t0, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
            running, seen, correct = 0.0, 0, 0
        elif time.perf_counter() - last > 30:
            print(f"step {step + 1}/{steps} loss {float(loss.detach()):.3f} {time.perf_counter() - t0:.0f} s", flush=True)
            last = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    meta = {"mode": args.mode, "epochs": args.epochs, "steps": steps, "batch_size": args.batch_size, "lr": args.lr,
            "aug_prob": args.aug_prob if args.mode == "dodge" else 0.0, "width": args.width, "seed": args.seed, "threads": args.threads,
            "train_images": n, "seconds": round(time.perf_counter() - t0, 1), "log": log,
            "torch": torch.__version__}
    Path(str(args.out) + ".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {args.out} ({meta['seconds']} s)")


if __name__ == "__main__":
    main()
