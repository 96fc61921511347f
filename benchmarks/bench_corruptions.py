"""Speed of the ImageNet-C family beside imagecorruptions 1.1.2, side by side in one run.

    python benchmarks/bench_corruptions.py [--size 224] [--batch 16] [--repeat 3] [--threads 1] [--clock wall|cpu]
        [--json OUT]

Per corruption at severity 3 on --size x --size crops of the embedded photos: imagecorruptions' per-image time
(its own `corrupt`, uint8 H x W x 3; with the numpy 2 / scikit-image 0.26 shim of
experiments/imagenet_c/fidelity.py), and distortx's per-image time through the same face for one image and for a
batch of --batch (N, C, H, W) images. Ratios = imagecorruptions time / distortx time (> 1: distortx is faster).
The three are timed in turn within each of --repeat rounds, three calls back to back each (the best kept), so that
both sides see the same load; OpenCV (imagecorruptions' filters) runs on --threads threads as torch does. ``--clock cpu`` times the
process's CPU time instead of the wall clock: on a machine shared with other jobs it leaves out the time this
process waited for a core (the single-threaded times are then what a quiet core would give)."""
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


def best_in_turn(fns, repeat: int, clock=time.perf_counter, back_to_back: int = 3) -> list:
    """The best time of each function over ``repeat`` rounds; each round times every function in turn,
    ``back_to_back`` calls each (a loop over images: the later calls find the caches and the allocator warm)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            for _ in range(back_to_back):
                t = clock()
                fn()
                best[i] = min(best[i], clock() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall clock, or this process's CPU time (for a machine shared with other jobs)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only", default="", help="comma-separated corruption names (default: all 19)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    try:
        import cv2

        cv2.setNumThreads(a.threads)
    except ImportError:
        pass
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
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
        fns = [lambda: corrupt(img, corruption_name=name, severity=3),
               lambda: corrupt(batch, corruption_name=name, severity=3)]
        if ic:
            fns.append(lambda: ic.corrupt(img, corruption_name=name, severity=3))
        times = best_in_turn(fns, a.repeat, clock)
        one, many, ref = times[0], times[1] / a.batch, (times[2] if ic else None)
        row = {"corruption": name, "imagecorruptions_ms": ref and 1e3 * ref, "distortx_one_ms": 1e3 * one,
               "distortx_batch_ms": 1e3 * many}
        rows.append(row)
        r1 = f"{ref / one:.2f}x" if ref else "-"
        rb = f"{ref / many:.2f}x" if ref else "-"
        print(f"| {name} | {row['imagecorruptions_ms'] or float('nan'):.1f} | {row['distortx_one_ms']:.1f} | {r1} | "
              f"{row['distortx_batch_ms']:.1f} | {rb} |", flush=True)
    if a.json:
        a.json.write_text(json.dumps({"size": s, "batch": a.batch, "threads": a.threads, "clock": a.clock, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
