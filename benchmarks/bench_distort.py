"""Throughput of the fused distortion op: our python path, our native kernel, and peer libraries.

Usage: python benchmarks/bench_distort.py [--quick] [--json OUT] [--device cpu|cuda] [--ops a,b] [--batch N]

Each row distorts a batch of 300x300 RGB images (batch 64; --quick: 8) with one distortion over the whole
image at a mid level, and reports images/s (best of a few timed repeats after a warm-up). Our float paths take
the float32 batch Tensor[N, 3, 300, 300]; "native uint8" takes the uint8 N x 300 x 300 x 3 batch (numpy's
layout, seen as NCHW without a copy) and returns uint8; peers take their natural input (albumentations / imagecorruptions /
scikit-image / opencv: one HxWx3 uint8 or float image at a time; kornia: the float batch), prepared outside the
timed region. Peers do *their* version of the operation (same family, comparable strength), not our exact
formula. Slow paths are timed on a smaller probe batch (column ``n``) and reported per image all the same.

The "mixed (ahn-detection-basic)" row is the detection-dataset recipe: per image 1..4 regions of random Ahn
types, side ratio 0.3..0.7 of the image, level uniform between the type's min and max ("variable").

Peers are benchmark-only dependencies (pip install albumentations kornia; imagecorruptions via
``pip install --no-deps imagecorruptions``; it imports ``pkg_resources``, gone from setuptools >= 81, which we
shim here). A peer op that fails to run is skipped with a note.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
import types
from typing import Callable, Dict, List, Optional

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import torch

import distortx
from distortx import Region
from distortx.ops.fused import distort_codes, distort_batch, pack_regions

SIZE = 300
MID = {  # (values...) of each distortion for the per-op rows: a mid/typical level
    "gaussian_noise": (0.025,), "gaussian_noise_sigma": (25.0,), "mono_gaussian_noise": (25.0,),
    "salt_pepper": (0.025,), "quantization": (8.0,), "contrast": (0.5,), "fnoise": (5.0,),
    "gaussian_blur": (3.0,), "motion_blur": (15.0, 45.0), "lowpass": (0.1,), "twirl": (180.0, 0.8, 0.5, 0.5),
    "marble": (1.0, 8.0), "jpeg": (10.0,), "nlm_denoise": (0.06,),
}
AHN_TYPES = ("gaussian_noise", "gaussian_blur", "salt_pepper", "quantization", "jpeg", "lowpass", "nlm_denoise", "fnoise")
NOTES: List[str] = []


# -- timing ---------------------------------------------------------------------------------------------------
def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def rate(fn: Callable[[int], object], n: int, device: str, budget: float, probe: int = 2) -> tuple[float, int]:
    """Images/s of ``fn(k)`` (distorts k images). After a warm-up call, a probe call on ``probe`` images decides
    whether the full batch ``n`` fits in ``budget`` seconds; if not, the probe batch is timed instead."""
    probe = min(probe, n)
    fn(probe)  # first call: lazy imports (the JPEG codec ops), cuFFT plans, allocator growth - not the op's speed
    sync(device)
    t0 = time.perf_counter()
    fn(probe)
    sync(device)
    per_img = (time.perf_counter() - t0) / probe
    k = n if per_img * n <= budget else probe
    if k == n:
        fn(n)  # warm-up at full size
    best, spent, reps = math.inf, 0.0, 0
    while reps < 1 or (reps < 5 and spent < budget):
        sync(device)
        t0 = time.perf_counter()
        fn(k)
        sync(device)
        dt = time.perf_counter() - t0
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    return k / best, k


# -- our paths --------------------------------------------------------------------------------------------------
def ours(images: torch.Tensor, name: str, impl: str) -> Callable[[int], object]:
    """Our path on the batch ``images`` (float32 NCHW, or uint8 NHWC seen as NCHW: the uint8 path)."""
    spec = distortx.get_distortion(name)
    n = images.shape[0]
    codes = torch.full((n, 1), spec.native_code, dtype=torch.int32)
    values = torch.zeros(n, 1, 4)
    values[:, 0, : spec.num_params] = torch.tensor(MID[name])
    boxes = torch.tensor([0, 0, SIZE, SIZE], dtype=torch.int32).repeat(n, 1, 1)
    seeds = torch.arange(n, dtype=torch.int64).view(n, 1)
    return lambda k: distort_codes(images[:k], codes[:k], values[:k], boxes[:k], seeds[:k], impl=impl)


def pillow_reference(images: torch.Tensor) -> Callable[[int], object]:
    spec = distortx.get_distortion("jpeg")
    return lambda k: spec.apply(images[:k], spec.params(MID["jpeg"][0], n=k), impl="python")


def mixed_regions(n: int, seed: int = 0) -> List[List[Region]]:
    """ahn-detection-basic: 1..4 regions per image, side ratio 0.3..0.7, random Ahn type, variable level."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        regs = []
        for _ in range(int(torch.randint(1, 5, (1,), generator=g))):
            name = AHN_TYPES[int(torch.randint(len(AHN_TYPES), (1,), generator=g))]
            spec = distortx.get_distortion(name)
            p = spec.sample(1, generator=g, variable=True)
            bw, bh = (int(SIZE * (0.3 + 0.4 * float(torch.rand(1, generator=g)))) for _ in range(2))
            x0 = int(torch.randint(0, SIZE - bw + 1, (1,), generator=g))
            y0 = int(torch.randint(0, SIZE - bh + 1, (1,), generator=g))
            regs.append(Region(name, tuple(p.values[0].tolist()), (x0, y0, x0 + bw, y0 + bh), seed=int(p.seed[0])))
        out.append(regs)
    return out


# -- peers ----------------------------------------------------------------------------------------------------
def _shim_pkg_resources() -> None:
    """imagecorruptions 1.1.2 imports pkg_resources.resource_filename (removed from setuptools >= 81)."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda pkg, name: os.path.join(os.path.dirname(importlib.import_module(pkg).__file__), name)
        sys.modules["pkg_resources"] = shim


def per_image(fn: Callable[[np.ndarray], object], arrays: List[np.ndarray]) -> Callable[[int], object]:
    return lambda k: [fn(a) for a in arrays[:k]]


def peers(name: str, images: torch.Tensor, u8: List[np.ndarray], f32: List[np.ndarray], device: str) -> Dict[str, Callable]:
    """Peer implementations of ``name`` that exist: {library: fn(k)}."""
    out: Dict[str, Callable] = {}
    if device == "cpu":
        try:
            import albumentations as A

            aug = {
                "gaussian_noise": lambda: A.GaussNoise(std_range=(0.158, 0.158), p=1.0),
                "mono_gaussian_noise": lambda: A.GaussNoise(std_range=(0.098, 0.098), per_channel=False, p=1.0),
                "salt_pepper": lambda: A.SaltAndPepper(amount=(0.025, 0.025), p=1.0),
                "quantization": lambda: A.Posterize(num_bits=3, p=1.0),
                "contrast": lambda: A.RandomBrightnessContrast(brightness_limit=(0, 0), contrast_limit=(-0.5, -0.5), p=1.0),
                "gaussian_blur": lambda: A.GaussianBlur(blur_limit=(13, 13), sigma_limit=(3.0, 3.0), p=1.0),
                "motion_blur": lambda: A.MotionBlur(blur_limit=(15, 15), p=1.0),
                "lowpass": lambda: A.Downscale(scale_range=(0.1, 0.1), p=1.0),
                "jpeg": lambda: A.ImageCompression(quality_range=(10, 10), p=1.0),
            }.get(name)
            if aug is not None:
                out["albumentations"] = per_image(lambda a, t=aug(): t(image=a)["image"], u8)
        except Exception as exc:  # pragma: no cover - optional dependency
            NOTES.append(f"albumentations unavailable: {exc}")
        try:
            _shim_pkg_resources()
            import imagecorruptions as ic

            corr = {"gaussian_noise": "gaussian_noise", "salt_pepper": "impulse_noise", "contrast": "contrast",
                    "gaussian_blur": "gaussian_blur", "motion_blur": "motion_blur", "lowpass": "pixelate",
                    "jpeg": "jpeg_compression"}.get(name)
            if corr is not None:
                fn = per_image(lambda a: ic.corrupt(a, corruption_name=corr, severity=3), u8)
                try:
                    fn(1)
                    out["imagecorruptions"] = fn
                except Exception as exc:
                    NOTES.append(f"imagecorruptions {corr} skipped: {type(exc).__name__}: {exc}")
        except Exception as exc:  # pragma: no cover
            NOTES.append(f"imagecorruptions unavailable: {exc}")
        if name == "twirl":
            from skimage.transform import swirl

            out["scikit-image"] = per_image(lambda a: swirl(a, strength=3.0, radius=120), f32)
        if name == "nlm_denoise":
            from skimage.restoration import denoise_nl_means

            out["scikit-image"] = per_image(lambda a: denoise_nl_means(a, patch_size=7, patch_distance=11, h=0.06,
                                                                       fast_mode=True, channel_axis=-1), f32)
            try:
                import cv2

                out["opencv"] = per_image(lambda a: cv2.fastNlMeansDenoisingColored(a, None, 15, 15, 7, 21), u8)
            except Exception as exc:  # pragma: no cover
                NOTES.append(f"opencv unavailable: {exc}")
    try:
        import kornia
        import kornia.augmentation as K

        kfn = {
            "gaussian_noise": lambda: K.RandomGaussianNoise(std=0.158, p=1.0),
            "salt_pepper": lambda: K.RandomSaltAndPepperNoise(amount=(0.025, 0.025), salt_vs_pepper=(0.5, 0.5), p=1.0),
            "quantization": lambda: (lambda x: kornia.enhance.posterize(x, torch.tensor(3.0, device=x.device))),
            "contrast": lambda: (lambda x: kornia.enhance.adjust_contrast_with_mean_subtraction(x, 0.5)),
            "gaussian_blur": lambda: (lambda x: kornia.filters.gaussian_blur2d(x, (13, 13), (3.0, 3.0))),
            "motion_blur": lambda: (lambda x: kornia.filters.motion_blur(x, 15, 45.0, 0.0)),
            "lowpass": lambda: (lambda x: kornia.geometry.rescale(kornia.geometry.rescale(x, 0.1, antialias=True), 10.0)),
            "jpeg": lambda: K.RandomJPEG(jpeg_quality=(10.0, 10.0), p=1.0),
        }.get(name)
        if kfn is not None:
            out["kornia"] = lambda k, t=kfn(): t(images[:k])
    except Exception as exc:  # pragma: no cover
        NOTES.append(f"kornia unavailable: {exc}")
    return out


# -- main -----------------------------------------------------------------------------------------------------
def main(argv: Optional[List[str]] = None) -> List[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="batch 8, short budgets, no peers for slow ops (< 1 min)")
    ap.add_argument("--json", help="write the rows to this JSON file")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--ops", help="comma-separated subset of distortions (default: all native ones + mixed)")
    ap.add_argument("--batch", type=int, help="images per batch (default 64, --quick 8)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--threads", type=int, help="CPU threads for torch, our OpenMP kernels and OpenCV (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)  # also sets OpenMP's thread count, which our kernels use
        try:
            import cv2

            cv2.setNumThreads(args.threads)
        except Exception:
            pass

    device = args.device
    n = args.batch or (8 if args.quick else 64)
    budget = 1.0 if args.quick else 6.0
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, SIZE), torch.linspace(0, 1, SIZE), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(9 * xx + 4 * yy) * torch.cos(7 * yy)
    images = (base + 0.2 * torch.rand(n, 3, SIZE, SIZE, generator=g)).clamp(0, 1).contiguous()
    u8 = [np.ascontiguousarray((im.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)) for im in images]
    u8_batch = torch.from_numpy(np.stack(u8)).permute(0, 3, 1, 2)  # N x H x W x 3 uint8, as numpy users hold it
    f32 = [np.ascontiguousarray(im.permute(1, 2, 0).numpy()) for im in images]
    images = images.to(device)

    names = [s for s in (args.ops.split(",") if args.ops else list(MID) + ["mixed"])]
    rows: List[dict] = []
    print(f"# distortx.distort, {n} x 3 x {SIZE} x {SIZE}, device {device}, torch threads {torch.get_num_threads()}",
          flush=True)
    for name in names:
        impls: Dict[str, Callable] = {}
        if name == "mixed":
            regions = mixed_regions(n)
            impls["python"] = lambda k: distort_batch(images[:k], regions[:k], impl="python")
            impls["native"] = lambda k: distort_batch(images[:k], regions[:k], impl="native")
            # the op alone, regions packed once outside the timing (as SynthesisStream batches arrive)
            packed = [t.to(device) for t in pack_regions(regions, SIZE, SIZE)[:4]]
            impls["native (packed)"] = lambda k: distort_codes(images[:k], *(t[:k] for t in packed), impl="native")
            if device == "cpu":
                impls["native uint8"] = lambda k: distort_codes(u8_batch[:k], *(t[:k] for t in packed), impl="native")
            label = "mixed (ahn-detection-basic)"
        else:
            impls["python"] = ours(images, name, "python")
            impls["native"] = ours(images, name, "native")
            if device == "cpu":
                impls["native uint8"] = ours(u8_batch, name, "native")
                if name == "jpeg":  # the real codec on uint8, on torch.get_num_threads() worker threads: what
                    # impl="auto" takes (libjpeg-turbo through torchvision's ops), and Pillow's round trip
                    from distortx.distortions.jpeg import jpeg_pillow_u8

                    spec, q = distortx.get_distortion("jpeg"), MID["jpeg"][0]
                    impls["codec uint8"] = lambda k: spec.apply_batch(u8_batch[:k], spec.params(q, n=k), "python")
                    impls["codec uint8 (Pillow)"] = lambda k: jpeg_pillow_u8(u8_batch[:k], spec.params(q, n=k).values)
            if name == "jpeg" and device == "cpu":
                impls["reference (Pillow)"] = pillow_reference(images)
            if not args.no_peers and not (args.quick and name == "nlm_denoise"):
                impls.update(peers(name, images, u8, f32, device))
            label = name
        for impl, fn in impls.items():
            try:
                ips, k = rate(fn, n, device, budget)
            except Exception as exc:
                NOTES.append(f"{label} / {impl} failed: {type(exc).__name__}: {exc}")
                continue
            row = {"op": label, "impl": impl, "device": device, "images_per_s": round(ips, 2), "n": k,
                   # bytes of one read + one write of the float32 image: the floor of any pass over it
                   "gb_per_s": round(ips * 2 * 3 * SIZE * SIZE * 4 / 1e9, 1)}
            rows.append(row)
            print(f"  {label:28s} {impl:20s} {ips:10.1f} img/s  (n={k})", flush=True)

    print()
    print(markdown(rows))
    if not args.no_peers and device == "cpu" and not any(r["impl"] not in OURS for r in rows):
        NOTES.append("no peer library ran: pip install -e .[bench] (and pip install --no-deps imagecorruptions)")
    for note in dict.fromkeys(NOTES):
        print(f"note: {note}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "notes": list(dict.fromkeys(NOTES)), "batch": n, "size": SIZE,
                       "torch_threads": torch.get_num_threads()}, f, indent=1)
    return rows


OURS = ("python", "native", "native (packed)", "native uint8", "codec uint8", "codec uint8 (Pillow)", "reference (Pillow)")


def markdown(rows: List[dict]) -> str:
    """One line per op: python, native (float32), native uint8, native/python, the fastest peer and
    native/peer for both native paths. ``-`` in a peer column: no peer installed (pip install -e .[bench])."""
    ops = list(dict.fromkeys(r["op"] for r in rows))
    lines = ["| op | python img/s | native f32 img/s | native uint8 img/s | native f32 / python | peers img/s "
             "| f32 / best peer | uint8 / best peer |", "|---|---:|---:|---:|---:|---|---:|---:|"]
    for op in ops:
        by = {r["impl"]: r["images_per_s"] for r in rows if r["op"] == op}
        py, nat = by.get("python"), by.get("native (packed)", by.get("native"))
        u8 = max([v for k, v in by.items() if k in ("native uint8", "codec uint8", "codec uint8 (Pillow)")], default=None)
        peer = {k: v for k, v in by.items() if k not in OURS}
        best = max(peer.values()) if peer else None
        fmt = lambda v: "-" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")
        ratio = lambda a, b: "-" if a is None or not b else f"{a / b:.2f}x"
        peers_txt = ", ".join(f"{k} {fmt(v)}" for k, v in sorted(peer.items(), key=lambda kv: -kv[1])) or "-"
        lines.append(f"| {op} | {fmt(py)} | {fmt(nat)} | {fmt(u8)} | {ratio(nat, py)} | {peers_txt} | {ratio(nat, best)} "
                     f"| {ratio(u8, best)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
