"""Call every CUDA op of distortx._C once on small and odd inputs, for `compute-sanitizer --tool memcheck`.

Usage: compute-sanitizer --tool memcheck --error-exitcode 9 python benchmarks/gpu/memcheck_ops.py

Inputs: 1x1, 1xN, odd-sized and 300x300 images with boxes touching or crossing the border, empty region
lists; NMS with empty, single and border-touching boxes; SSD post-processing with B=1, P=1 and no
candidate above the threshold. Each result is copied back (which surfaces asynchronous errors) and checked
against the CPU kernel, so a wrong value fails here too, not only an out-of-bounds access.
"""
from __future__ import annotations

import sys

import torch

import distortx  # noqa: F401  (loads the extension)
import distortx._C  # noqa: F401


def distort_cases():
    codes_all = list(torch.ops.distortx.distort_native_codes())
    g = torch.Generator().manual_seed(0)
    for (h, w) in [(1, 1), (1, 7), (7, 1), (5, 9), (33, 17), (300, 300)]:
        for code in codes_all:
            n, r = 2, 3
            images = torch.rand(n, 3, h, w, generator=g)
            codes = torch.zeros(n, r, dtype=torch.int32)
            codes[0, 0] = code           # whole image
            codes[1, 1] = code           # a box crossing the border
            codes[1, 2] = codes_all[(codes_all.index(code) + 1) % len(codes_all)]
            values = torch.rand(n, r, 4, generator=g) * 0.5 + 0.25
            boxes = torch.tensor([[0, 0, w, h], [-3, -3, w // 2 + 1, h // 2 + 1], [w // 3, h // 3, w + 5, h + 5]],
                                 dtype=torch.int32).repeat(n, 1, 1)
            seeds = torch.arange(n * r, dtype=torch.int64).view(n, r)
            yield f"distort code={code} {h}x{w}", (images, codes, values, boxes, seeds)


def main() -> int:
    assert torch.cuda.is_available(), "needs a CUDA device"
    bad = 0
    from distortx.ops.fused import _spec_by_code

    specs = _spec_by_code()
    for label, (images, codes, values, boxes, seeds) in distort_cases():
        # values must lie in each code's parameter range: map [0,1) onto it
        for (i, j) in (codes != 0).nonzero().tolist():
            spec = specs[int(codes[i, j])]
            for p, par in enumerate(spec.parameters):
                values[i, j, p] = par.low + float(values[i, j, p]) * (par.high - par.low)
        cpu = torch.ops.distortx.distort(images, codes, values, boxes, seeds)
        gpu = torch.ops.distortx.distort(images.cuda(), codes.cuda(), values.cuda(), boxes.cuda(), seeds.cuda())
        torch.cuda.synchronize()
        err = (gpu.cpu() - cpu).abs().max().item() if cpu.numel() else 0.0
        if not err <= 1e-3:
            print(f"MISMATCH {label}: max abs diff {err}")
            bad += 1
    # empty region list: identity
    x = torch.rand(1, 3, 4, 4)
    e = torch.ops.distortx.distort(x.cuda(), torch.zeros(1, 0, dtype=torch.int32, device="cuda"),
                                   torch.zeros(1, 0, 4, device="cuda"), torch.zeros(1, 0, 4, dtype=torch.int32, device="cuda"),
                                   torch.zeros(1, 0, dtype=torch.int64, device="cuda"))
    bad += int(not torch.equal(e.cpu(), x))

    # NMS: empty, single, border boxes, many classes
    for n in (0, 1, 2, 65, 1000):
        boxes = torch.rand(n, 4) * 300
        boxes[:, 2:] = boxes[:, :2] + torch.rand(n, 2) * 100
        if n:
            boxes[0] = torch.tensor([0.0, 0.0, 300.0, 300.0])
        scores = torch.rand(n)
        idxs = torch.randint(0, 9, (n,))
        cpu = torch.ops.distortx.batched_nms(boxes, scores, idxs, 0.45)
        gpu = torch.ops.distortx.batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(), 0.45).cpu()
        if not torch.equal(cpu, gpu):
            print(f"MISMATCH batched_nms n={n}: {cpu.tolist()[:10]} vs {gpu.tolist()[:10]}")
            bad += 1

    from distortx.detection import default_boxes

    priors = default_boxes()
    for B, P, K, thr in [(1, 1, 2, 0.01), (2, priors.shape[0], 9, 0.01), (1, priors.shape[0], 9, 0.999)]:
        loc = torch.randn(B, P, 4) * 0.5
        logits = torch.randn(B, P, K) * 3
        pr = priors[:P] if P > 1 else torch.tensor([[0.5, 0.5, 1.0, 1.0]])
        args = ((0.1, 0.2), thr, 0.45, 200, 200, True, 0)
        cpu = torch.ops.distortx.ssd_postprocess(loc, logits, pr, *args)
        gpu = torch.ops.distortx.ssd_postprocess(loc.cuda(), logits.cuda(), pr.cuda(), *args)
        torch.cuda.synchronize()
        same = torch.equal(cpu[3], gpu[3].cpu()) and torch.allclose(cpu[0], gpu[0].cpu(), atol=1e-4)
        if not same:
            print(f"MISMATCH ssd_postprocess B={B} P={P} K={K} thr={thr}: counts {cpu[3].tolist()} vs {gpu[3].tolist()}")
            bad += 1
    print(f"memcheck_ops: {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
