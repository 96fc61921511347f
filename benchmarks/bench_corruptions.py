"""Speed of the ImageNet-C family beside imagecorruptions 1.1.2, side by side in one run.

    python benchmarks/bench_corruptions.py [--size 224] [--batch 16] [--repeat 3] [--threads 1] [--json OUT]

Per corruption at severity 3 on --size x --size crops of the embedded photos: imagecorruptions' per-image time
(its own `corrupt`, uint8 H x W x 3; with the numpy 2 / scikit-image 0.26 shim of
experiments/imagenet_c/fidelity.py), and distortx's per-image time through the same face for one image and for a
batch of --batch (N, C, H, W) images. Ratios = imagecorruptions time / distortx time (> 1: distortx is faster)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments" / "imagenet_c"))

from distortx.corruptions import NAMES, corrupt  # noqa: E402
from distortx.data.samples import sample_images  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only", default="", help="comma-separated corruption names (default: all 19)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    s = a.size
    img = next(i for n, i in sample_images() if n == "astronaut").permute(1, 2, 0).numpy()[:s, :s].copy()
    batch = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).repeat(a.batch, 1, 1, 1)
    try:
        from fidelity import imagecorruptions_with_shim

        ic = imagecorruptions_with_shim()
    except ImportError as exc:
        ic = None
        print(f"imagecorruptions not available ({exc}): distortx columns only", file=sys.stderr)
    rows = []
    print(f"| corruption | imagecorruptions ms/img | distortx ms/img (1 image) | ratio | distortx ms/img (batch {a.batch}) | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    names = [n for n in a.only.split(",") if n] or NAMES
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        ap.error(f"unknown corruption(s) {unknown}; choose from {list(NAMES)}")
    for name in names:
        corrupt(img, corruption_name=name, severity=3)  # warm-up
        ref = best_of(lambda: ic.corrupt(img, corruption_name=name, severity=3), a.repeat) if ic else None
        one = best_of(lambda: corrupt(img, corruption_name=name, severity=3), a.repeat)
        many = best_of(lambda: corrupt(batch, corruption_name=name, severity=3), a.repeat) / a.batch
        row = {"corruption": name, "imagecorruptions_ms": ref and 1e3 * ref, "distortx_one_ms": 1e3 * one,
               "distortx_batch_ms": 1e3 * many}
        rows.append(row)
        r1 = f"{ref / one:.2f}x" if ref else "-"
        rb = f"{ref / many:.2f}x" if ref else "-"
        print(f"| {name} | {row['imagecorruptions_ms'] or float('nan'):.1f} | {row['distortx_one_ms']:.1f} | {r1} | "
              f"{row['distortx_batch_ms']:.1f} | {rb} |", flush=True)
    if a.json:
        a.json.write_text(json.dumps({"size": s, "batch": a.batch, "threads": a.threads, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
