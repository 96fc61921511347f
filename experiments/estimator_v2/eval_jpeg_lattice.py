"""JPEG quality read from decoded pixels (distortx.estimation.jpeg_lattice) on photos of one split.

    python experiments/estimator_v2/eval_jpeg_lattice.py --split val [--crop 128] [--draws 2] [--offset] [--json OUT]

Each photo of the split (experiments/default_model/split_v2.json, photos_v2 in ../shared/data) gives --draws
random --crop crops; each crop is saved by Pillow at q ~ U{1..100} (4:2:0; --subsampling 4:4:4 or grey too),
decoded, and read back. --offset crops the decoded image again by a random 1..7 pixels (the grid must be found).
Reports MAE, bias and S.D. per decile of q, and the evidence of a JPEG history on crops that have none (the same
photos reduced 4x by box averaging).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import distortx  # noqa: E402
from distortx.estimation.jpeg_lattice import EVIDENCE, read_jpeg_history  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def crops(paths, crop: int, draws: int, rng):
    for p in paths:
        a = np.asarray(Image.open(p).convert("RGB"))
        h, w = a.shape[:2]
        if min(h, w) < crop:
            continue
        for _ in range(draws):
            y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            yield f"{p.name}@{y},{x}", np.ascontiguousarray(a[y:y + crop, x:x + crop])


def jpeg_round_trip(a: np.ndarray, q: int, subsampling: str) -> np.ndarray:
    buf = io.BytesIO()
    if subsampling == "grey":
        Image.fromarray(a).convert("L").save(buf, format="JPEG", quality=q)
    else:
        Image.fromarray(a).save(buf, format="JPEG", quality=q, subsampling=subsampling)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())))


def to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a[..., None] if a.ndim == 2 else a)).permute(2, 0, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="val")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--subsampling", default="4:2:0", choices=["4:2:0", "4:4:4", "grey"])
    ap.add_argument("--offset", action="store_true")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--grid0", action="store_true", help="read on the (0, 0) grid (no search)")
    ap.add_argument("--double", action="store_true", help="compress twice (q1 then q ~ U{1..100}); truth: the last")
    ap.add_argument("--auto", action="store_true",
                    help="score distortx.estimate(method='auto'): the lattice where it reads a history, else the CNN")
    ap.add_argument("--json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    table = json.loads((Path(__file__).resolve().parents[1] / "default_model" / "split_v2.json").read_text())["photos"]
    names = sorted(n for n, v in table.items() if v["split"] == args.split and v.get("set", "photos_v2") == "photos_v2")
    paths = [SHARED / "photos_v2" / n for n in names if (SHARED / "photos_v2" / n).exists()]
    if args.limit:
        paths = paths[: args.limit]
    rows, t0 = [], time.perf_counter()
    for name, a in crops(paths, args.crop + (8 if args.offset else 0), args.draws, rng):
        q = int(rng.integers(1, 101))
        first = int(rng.integers(1, 101)) if args.double else None
        d = jpeg_round_trip(jpeg_round_trip(a, first, args.subsampling) if first else a, q, args.subsampling)
        dy = dx = 0
        if args.offset:
            dy, dx = (int(v) for v in rng.integers(1, 8, 2))
            d = d[dy:dy + args.crop, dx:dx + args.crop]
        r = read_jpeg_history(to_tensor(d), offset=(0, 0) if args.grid0 else None)
        est = float(distortx.estimate(to_tensor(d), what="jpeg_quality")[0]) if args.auto else r.quality
        rows.append({"photo": name, "q": q, "first": first, "est": est, "lattice": r.quality, "is_jpeg": r.is_jpeg, "spread": r.spread, "evidence": r.evidence,
                     "grid": [(8 - dy) % 8, (8 - dx) % 8], "found": list(r.offset)})
    dt = (time.perf_counter() - t0) / max(1, len(rows))
    q = np.array([r["q"] for r in rows])
    e = np.array([r["est"] for r in rows])
    err = e - q
    print(f"{len(rows)} crops of {len(paths)} {args.split} photos, {args.crop} px, {args.subsampling}, offset {args.offset}"
          f"{', estimate(auto)' if args.auto else ', lattice'}: "
          f"MAE {np.abs(err).mean():.2f}, bias {err.mean():+.2f}, exact {np.mean(err == 0):.2f}, {dt * 1e3:.0f} ms/crop")
    print("| q | n | MAE | bias | S.D. |\n|---|---:|---:|---:|---:|")
    deciles = []
    for lo in range(1, 101, 10):
        m = (q >= lo) & (q < lo + 10)
        if m.any():
            deciles.append({"q": f"{lo}-{lo + 9}", "n": int(m.sum()), "mae": float(np.abs(err[m]).mean()),
                            "bias": float(err[m].mean()), "sd": float(err[m].std())})
            print(f"| {lo}-{lo + 9} | {m.sum()} | {np.abs(err[m]).mean():.2f} | {err[m].mean():+.2f} | {err[m].std():.2f} |")
    worst = sorted(rows, key=lambda r: -abs(r["est"] - r["q"]))[:5]
    print("worst:", [(r["photo"], r["q"], r["est"], round(r["evidence"], 3)) for r in worst])
    # crops without a JPEG history: the same photos reduced 4x by box averaging (the 8 x 8 lattice does not survive)
    clean = []
    for p in paths:
        im = Image.open(p).convert("RGB")
        small = np.asarray(im.reduce(4))
        if min(small.shape[:2]) >= 64:
            r = read_jpeg_history(to_tensor(np.ascontiguousarray(small[:args.crop, :args.crop])))
            clean.append(r.evidence)
    jp = np.array([r["evidence"] for r in rows])
    ev = np.array(clean)
    print(f"evidence: {len(ev)} never-JPEG crops (photos reduced 4x) median {np.median(ev):.3f}, share > {EVIDENCE}: "
          f"{np.mean(ev > EVIDENCE):.3f}; JPEG crops median {np.median(jp):.3f}, share > {EVIDENCE}: {np.mean(jp > EVIDENCE):.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "deciles": deciles, "clean_evidence": ev.tolist()}, indent=1))


if __name__ == "__main__":
    main()
