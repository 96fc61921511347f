"""A full Dodge & Karam robustness sweep: distortx's batched sweep vs the usual per-image loop, side by side.

Usage: python benchmarks/bench_robustness.py [--quick] [--device cpu|cuda] [--workload cifar|photos|all]
                                             [--model tiny|small|resnet50] [--threads T] [--repeat R] [--json OUT]

Both sides do the same work: every image of the workload x the 52 conditions of the ``dodge-karam`` preset
(clean; JPEG q 20..2; JPEG 2000 40..20 dB; Gaussian noise sigma 10..100; blur sigma 1..9 with a 4-sigma
window; contrast 0..1), the model on each distorted batch, top-1 / top-5 counted.

* ``distortx``: :func:`distortx.engine.robustness.sweep.run_sweep` (what ``distortx robustness`` runs): a batch is
  decoded once, moved to ``--device``, every condition rendered in one batched call there (the fused
  native kernel; JPEG 2000 per image through Pillow/OpenJPEG, over ``--threads`` codec processes) and
  classified (channels-last batches on a CPU; an input identical to the clean batch, contrast 0, reuses
  the clean logits); SSIM/PSNR off (``quality=False``) unless stated.
* ``per-image``: the loop a robustness researcher writes today: for each condition, for each image, the
  distortion with Pillow / NumPy / SciPy on one HxWx3 image (JPEG: Pillow ``save(quality=q)``; noise:
  ``numpy.random.Generator.normal``; blur: ``scipy.ndimage.gaussian_filter(sigma, truncate=2)``, i.e. a
  4-sigma window; contrast: blend with the mean luminance; JPEG 2000: the very same per-image
  Pillow/OpenJPEG PSNR search as distortx, single-threaded), then the images of a batch stacked into a
  tensor and classified (the model is batched on both sides). imagecorruptions is not used: its functions
  take their own 1..5 severities, not Dodge's parameters.

Workloads: ``cifar``: 32x32 CIFAR-10 test images (``../shared/data/cifar10`` when present, else 32x32 crops
of the embedded photos), the worked example's classifier (``small``: distortx's simple_cnn, width 16);
``photos``: 224x224 crops of the embedded photos, ``--model tiny`` (a ~6 M multiply-add CNN: the distortions dominate), ``small`` (the same
CNN as cifar) or ``resnet50`` (torchvision, random weights; for GPUs). Also
timed per distortion family (each family's sweep includes the clean row) and, for the distortx side, the
model alone on the same number of inputs (``model only``: how close the sweep is to being model-bound), fed
plain NCHW batches (as the per-image loop does) and channels-last batches (as distortx's sweep does on a CPU).

Prints Markdown tables; ``--json OUT`` writes the rows. Throughput = image x condition evaluations per second.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import distortx  # noqa: E402
from distortx.distortions.jpeg2000 import jpeg2000_to_target  # noqa: E402
from distortx.distortions.tone import LUMA  # noqa: E402
from distortx.engine.training.labelled_data import ArrayImages  # noqa: E402
from distortx.engine.robustness.model_spec import ClassifierAdapter, LoadedModel, Preprocess, fingerprint  # noqa: E402
from distortx.engine.robustness.protocol import plan_conditions  # noqa: E402
from distortx.engine.robustness.sweep import run_sweep  # noqa: E402

CIFAR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10" / "cifar10_test.npz"


def small_cnn(num_classes: int = 10, w: int = 16) -> nn.Module:
    """The worked example's CIFAR-10 classifier (experiments/robustness/cifar_*.toml): distortx's ``classifier``
    on the ``simple_cnn`` backbone of width 16 (97 k parameters, ~4 M multiply-adds at 32 px; it normalises its
    input itself and returns ``.logits`` over "clean" + the classes)."""
    from distortx.models import create_model

    return create_model("classifier", backbone="simple_cnn", classes=[f"class_{i}" for i in range(num_classes)],
                        image_size=32, backbone_kwargs={"width": w})


def tiny_cnn(num_classes: int = 10) -> nn.Module:
    """A deliberately cheap model for 224-px inputs (~6 M multiply-adds): a 4x4 stride-4 stem, two convs."""
    return nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), nn.ReLU(inplace=True), nn.Conv2d(16, 32, 3, stride=2),
                         nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes))


def build_model(name: str, device: str) -> LoadedModel:
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision

        net = torchvision.models.resnet50(num_classes=1000)
        pre = Preprocess(None, None, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    else:
        net = tiny_cnn() if name == "tiny" else small_cnn()
        pre = (Preprocess(None, None, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)) if name == "tiny"
               else Preprocess())  # the distortx model normalises inside
    adapter = ClassifierAdapter(net, pre.mean, pre.std).to(device).eval()
    return LoadedModel(adapter, f"bench:{name}", pre, fingerprint(net))


def workload(kind: str, n: int, classes: int) -> ArrayImages:
    """uint8 images Tensor[n, 3, S, S] with labels in 0..classes-1."""
    if kind == "cifar" and CIFAR.exists():
        z = np.load(CIFAR)
        x = torch.from_numpy(z["x"][:n]).permute(0, 3, 1, 2).contiguous()
        return ArrayImages(str(CIFAR), x, torch.from_numpy(z["y"][:n].astype(np.int64)))
    from distortx.data.samples import sample_images

    size = 32 if kind == "cifar" else 224
    g = torch.Generator().manual_seed(0)
    photos = [img for _, img in sample_images()]
    crops = []
    for i in range(n):
        img = photos[i % len(photos)]
        y0 = int(torch.randint(0, img.shape[1] - size + 1, (1,), generator=g))
        x0 = int(torch.randint(0, img.shape[2] - size + 1, (1,), generator=g))
        crops.append(img[:, y0:y0 + size, x0:x0 + size])
    return ArrayImages(f"embedded {size}px crops", torch.stack(crops), torch.arange(n) % classes)


# -- the per-image way ---------------------------------------------------------------------------------------------
def per_image(arr: np.ndarray, name: str, value: float, rng: np.random.Generator) -> np.ndarray:
    """One HxWx3 uint8 image -> float32 HxWx3 in [0, 1], as a Pillow/NumPy/SciPy user writes it."""
    if name == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=int(value))
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
    if name == "jpeg2000":
        return jpeg2000_to_target(arr, float(value))[0].astype(np.float32) / 255.0
    x = arr.astype(np.float32) / 255.0
    if name == "gaussian_noise_sigma":
        return np.clip(x + rng.normal(0.0, value / 255.0, x.shape).astype(np.float32), 0.0, 1.0)
    if name == "gaussian_blur":
        from scipy.ndimage import gaussian_filter

        return gaussian_filter(x, sigma=(value, value, 0), truncate=2.0, mode="reflect")
    if name == "contrast":
        grey = float((x * np.asarray(LUMA, dtype=np.float32)).sum(axis=2).mean())
        return (1.0 - value) * x + value * grey
    raise ValueError(name)


def per_image_sweep(model: LoadedModel, data: ArrayImages, conditions, batch_size: int, device: str) -> dict:
    """The usual loop; returns {"seconds", "top1"} (top-1 hits over every condition)."""
    rng = np.random.default_rng(0)
    images = data.images.permute(0, 2, 3, 1).numpy()
    labels = data.labels
    hits = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for c in conditions:
            for s in range(0, len(images), batch_size):
                chunk = images[s:s + batch_size]
                if c.is_clean:
                    batch = [a.astype(np.float32) / 255.0 for a in chunk]
                else:
                    batch = [per_image(a, c.distortion, c.value, rng) for a in chunk]
                x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).to(device)
                pred = model.module(x).argmax(1).cpu()
                hits += int((pred == labels[s:s + batch_size]).sum())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - t0, "top1": hits}


def distortx_sweep(model, data, conds, batch_size, threads, quality=False, channels_last=True) -> dict:
    names = list(dict.fromkeys(c.distortion for c in conds if not c.is_clean))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_sweep(model, data, tmp, distortions=names, batch_size=batch_size, quality=quality,
                        codec_workers=threads, progress=False, channels_last=channels_last)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "top1": sum(r["counts"]["top1"] for r in res.rows)}


def compare(model, data, conds, label, batch_size, args) -> dict:
    """Both sides on the same conditions: one table row."""
    n = len(data)
    evals = len(conds) * n
    ours, theirs = None, None
    for _ in range(args.repeat):  # alternate the two sides; the fastest run of each counts (a shared CPU drifts)
        o = distortx_sweep(model, data, conds, batch_size, args.threads, channels_last=not args.nchw)
        t = per_image_sweep(model, data, conds, batch_size, args.device)
        ours = o if ours is None or o["seconds"] < ours["seconds"] else ours
        theirs = t if theirs is None or t["seconds"] < theirs["seconds"] else theirs
    return {"workload": f"{args.kind} {data.images.shape[-1]}px", "model": args.model_name, "device": args.device,
            "task": label, "images": n, "evaluations": evals,
            "distortx_per_s": evals / ours["seconds"], "per_image_per_s": evals / theirs["seconds"],
            "speedup": theirs["seconds"] / ours["seconds"],
            "distortx_top1": ours["top1"] / evals, "per_image_top1": theirs["top1"] / evals,
            "distortx_quality_per_s": None, "model_only_per_s": None}


def model_only(model, data, n_conditions, batch_size, device, channels_last=False) -> float:
    """Seconds of the model alone on n_conditions x the images (plain NCHW batches as the per-image loop
    feeds it, or channels-last as distortx's sweep does on the CPU)."""
    x_all = data.images
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, x_all.shape[0], batch_size):
            x = x_all[s:s + batch_size].to(device).float().div_(255)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            for _ in range(n_conditions):
                model.module(x).argmax(1).cpu()
    return time.perf_counter() - t0


def run(args) -> list:
    rows = []
    kinds = ["cifar", "photos"] if args.workload == "all" else [args.workload]
    for kind in kinds:
        model_name = "small" if kind == "cifar" else args.model
        args.kind, args.model_name = kind, model_name
        n = {"cifar": 256 if args.quick else 1000, "photos": 16 if args.quick else 64}[kind]
        if args.n:
            n = args.n
        batch = args.batch_size or (256 if kind == "cifar" else 32)
        model = build_model(model_name, args.device)
        data = workload(kind, n, 1000 if model_name == "resnet50" else 10)
        _, conditions = plan_conditions("dodge-karam")
        families = [None] + ([] if args.no_families else list(dict.fromkeys(c.distortion for c in conditions[1:])))
        with torch.inference_mode():  # warm-up: kernels, allocator, the lazy imports of both sides
            model.module(data.images[:batch].to(args.device).float())
        for fam in families:
            conds = conditions if fam is None else [c for c in conditions if c.is_clean or c.distortion == fam]
            label = "full Dodge sweep (52 conditions)" if fam is None else f"{fam} (+ clean)"
            row = compare(model, data, conds, label, batch, args)
            if fam is None:
                evals = row["evaluations"]
                row["distortx_quality_per_s"] = evals / distortx_sweep(model, data, conds, batch, args.threads,
                                                                       quality=True, channels_last=not args.nchw)["seconds"]
                row["model_only_per_s"] = evals / model_only(model, data, len(conds), batch, args.device)
                row["model_only_cl_per_s"] = evals / model_only(model, data, len(conds), batch, args.device,
                                                                channels_last=True)
            rows.append(row)
            print(_table_row(row), flush=True)
            if fam is None:
                no_j2k = [c for c in conditions if c.distortion != "jpeg2000"]
                rows.append(compare(model, data, no_j2k, f"without JPEG 2000 ({len(no_j2k)} conditions)", batch, args))
                print(_table_row(rows[-1]), flush=True)
    return rows


HEADER = ("| workload | model | device | sweep | distortx img/s | per-image img/s | speed-up | "
          "distortx + SSIM/PSNR img/s | model only img/s (NCHW / channels-last) | top-1 (distortx / per-image) |\n"
          "|---|---|---|---|---:|---:|---:|---:|---:|---|")


def _fmt(x, d=0):
    return "-" if x is None else (f"{x:.{d}f}" if d else f"{x:,.0f}")


def _table_row(r) -> str:
    return (f"| {r['workload']} | {r['model']} | {r['device']} | {r['task']} | {_fmt(r['distortx_per_s'])} | "
            f"{_fmt(r['per_image_per_s'])} | {r['speedup']:.1f}x | {_fmt(r.get('distortx_quality_per_s'))} | "
            f"{_fmt(r.get('model_only_per_s'))} / {_fmt(r.get('model_only_cl_per_s'))} | "
            f"{r['distortx_top1']:.3f} / {r['per_image_top1']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="256 CIFAR images / 16 photos instead of 1000 / 64")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workload", choices=["cifar", "photos", "all"], default="all")
    ap.add_argument("--model", choices=["tiny", "small", "resnet50"], default="tiny",
                    help="model of the photos workload (the cifar workload always runs the small CNN)")
    ap.add_argument("--n", type=int, default=None, help="number of images (overrides --quick)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads and distortx codec threads")
    ap.add_argument("--no-families", action="store_true", help="only the full sweep, not each distortion")
    ap.add_argument("--nchw", action="store_true", help="distortx side: plain NCHW model batches (--no-channels-last)")
    ap.add_argument("--repeat", type=int, default=1, help="time each side R times, alternating; report the fastest")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# bench_robustness: torch {torch.__version__}, distortx {distortx.__version__}, device {args.device}, "
          f"threads {torch.get_num_threads()}", flush=True)
    print(HEADER, flush=True)
    rows = run(args)
    print("\n" + HEADER)
    for r in rows:
        print(_table_row(r))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
