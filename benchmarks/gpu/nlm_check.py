"""NL-means on CUDA against the CPU, and the CUDA kernels against the scalar CPU op, with timings (one GPU run).

Usage (on a CUDA machine, from the repository root, after building distortx._C there):
    python benchmarks/gpu/nlm_check.py [--batch 64] [--json out.json]
    python benchmarks/gpu/nlm_check.py --device cpu --batch 2 --pointwise-batch 8   # a dry run of the script

1. NL-means, 300 x 300 RGB (noisy photo crops): CUDA vs the CPU fast path (float64 row bands) on a few images,
   max |diff| (bound: 1e-5, nlm.h; test_nlm.py's GPU test asks 1e-6), and CUDA vs the scalar CPU op
   (distortx::distort_scalar, the same tile body) on a 64 x 64 crop: expected bit-identical (-fmad=false).
2. NL-means throughput on the GPU, images/s for the whole 300 x 300 image, with DISTORTX_CUDA_NLM_BLOCK=4
   (default) and =2 (same values, half the unrolled loop), and the previous direct kernel's 49 img/s.
3. Every native code: max |CUDA - scalar CPU op| on small odd-sized images (expected 0 except contrast and
   fnoise, ATen's device reductions/FFT, and marble, CUDA's cosf/sinf), and the main kernel's throughput and
   memory bandwidth for two pointwise codes at batch 1024 (one read + one write of the image).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

import distortx  # noqa: F401  (registers the ops)
import distortx._C  # noqa: F401
from distortx.distortions.native_codes import NATIVE_CODES


def noisy_photos(n: int, size: int = 300, sigma: float = 0.05) -> torch.Tensor:
    """(n, 3, size, size) crops of the embedded photos plus Gaussian noise, in [0, 1]."""
    from distortx.data.samples import load_sample, sample_names

    g = torch.Generator().manual_seed(0)
    out = []
    names = list(sample_names())
    for i in range(n):
        img = load_sample(names[i % len(names)]).float().div(255.0)
        _, h, w = img.shape
        y = int(torch.randint(0, max(1, h - size + 1), (1,), generator=g))
        x = int(torch.randint(0, max(1, w - size + 1), (1,), generator=g))
        crop = img[:, y:y + size, x:x + size]
        crop = torch.nn.functional.pad(crop, (0, size - crop.shape[2], 0, size - crop.shape[1]), mode="replicate")
        out.append((crop + sigma * torch.randn(crop.shape, generator=g)).clamp(0, 1))
    return torch.stack(out)


def whole_image_case(images: torch.Tensor, code: int, value: float):
    n, _, h, w = images.shape
    codes = torch.full((n, 1), code, dtype=torch.int32)
    values = torch.zeros(n, 1, 4)
    values[:, 0, 0] = value
    boxes = torch.tensor([0, 0, w, h], dtype=torch.int32).repeat(n, 1, 1)
    return images.contiguous(), codes, values, boxes, torch.arange(n, dtype=torch.int64).view(n, 1)


def timed(fn, reps: int, device: torch.device) -> float:
    """Seconds per call (median of reps, after a warm-up)."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64, help="images per NL-means timing batch (300 x 300)")
    ap.add_argument("--pointwise-batch", type=int, default=1024, help="images per pointwise timing batch")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu for a dry run of the script")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    dev = torch.device(args.device)
    assert dev.type == "cpu" or torch.cuda.is_available(), "needs a CUDA device (or --device cpu for a dry run)"
    op, scalar = torch.ops.distortx.distort, torch.ops.distortx.distort_scalar
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    report = {"device": name, "torch": torch.__version__, "batch": args.batch}
    nlm = NATIVE_CODES["nlm_denoise"]

    # 1. NL-means values
    photos = noisy_photos(max(args.batch, 4))
    case = whole_image_case(photos[:4], nlm, 0.06)
    gpu = op(case[0].to(dev), *case[1:]).cpu()
    t0 = time.perf_counter()
    cpu = op(*case)
    report["nlm_cpu_s_per_image"] = (time.perf_counter() - t0) / 4
    report["nlm_max_diff_cuda_vs_cpu"] = (gpu - cpu).abs().max().item()
    crop = whole_image_case(photos[:2, :, :64, :64], nlm, 0.04)
    report["nlm_max_diff_cuda_vs_scalar_64px"] = (op(crop[0].to(dev), *crop[1:]).cpu() - scalar(*crop)).abs().max().item()
    print(f"NL-means 300x300 x4: max |CUDA - CPU| = {report['nlm_max_diff_cuda_vs_cpu']:.3g} (bound 1e-5); "
          f"64x64: max |CUDA - scalar CPU op| = {report['nlm_max_diff_cuda_vs_scalar_64px']:.3g} (expected 0)")

    # 2. NL-means throughput
    big = whole_image_case(photos[: args.batch], nlm, 0.06)
    big = (big[0].to(dev),) + big[1:]
    for block in ("4", "2"):
        os.environ["DISTORTX_CUDA_NLM_BLOCK"] = block
        s = timed(lambda: op(*big), reps=3, device=dev)
        report[f"nlm_img_per_s_block{block}"] = args.batch / s
        print(f"NL-means 300x300, batch {args.batch}, DISTORTX_CUDA_NLM_BLOCK={block}: {args.batch / s:,.0f} img/s "
              f"({args.batch / s / 49:.0f}x the direct kernel's 49 img/s)")
    os.environ.pop("DISTORTX_CUDA_NLM_BLOCK")

    # 3. every code: CUDA vs the scalar CPU op; pointwise throughput
    g = torch.Generator().manual_seed(1)
    diffs = {}
    for name, code in sorted(NATIVE_CODES.items(), key=lambda kv: kv[1]):
        spec = distortx.get_distortion(name)
        worst = 0.0
        for c, h, w in ((3, 45, 37), (1, 17, 9), (3, 1, 1)):
            n, r = 3, 3
            images = torch.rand(n, c, h, w, generator=g)
            codes = torch.full((n, r), code, dtype=torch.int32)
            values = torch.zeros(n, r, 4)
            for j, p in enumerate(spec.parameters):
                col = p.low + (p.high - p.low) * torch.rand(n, r, generator=g)
                values[:, :, j] = col.round() if p.integer else col
            x0 = torch.randint(-w // 4, w, (n, r), generator=g)
            y0 = torch.randint(-h // 4, h, (n, r), generator=g)
            boxes = torch.stack([x0, y0, x0 + torch.randint(1, w + 2, (n, r), generator=g),
                                 y0 + torch.randint(1, h + 2, (n, r), generator=g)], dim=2).int()
            seeds = torch.randint(0, 2**40, (n, r), generator=g)
            ref = scalar(images, codes, values, boxes, seeds)
            out = op(images.to(dev), codes, values, boxes, seeds).cpu()
            worst = max(worst, (out - ref).abs().max().item())
        diffs[name] = worst
    report["max_diff_cuda_vs_scalar"] = diffs
    print("max |CUDA - scalar CPU op|: " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items()))

    nb = args.pointwise_batch
    images = torch.rand(nb, 3, 300, 300, device=dev)
    for name, value in (("contrast", 0.5), ("quantization", 8.0), ("gaussian_noise", 0.01)):
        c = whole_image_case(images, NATIVE_CODES[name], value)
        s = timed(lambda: op(*c), reps=5, device=dev)
        gbs = 2 * images.numel() * 4 / s / 1e9
        report[f"{name}_img_per_s"] = nb / s
        report[f"{name}_GB_per_s"] = gbs
        print(f"{name} {nb} x 3 x 300 x 300: {nb / s:,.0f} img/s, {gbs:,.0f} GB/s (one read + one write)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
