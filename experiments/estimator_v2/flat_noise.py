"""Fit and measure the flat-patch noise reading (distortx.estimation.noise_flat): noise of any spectrum, a camera's.

    python experiments/estimator_v2/flat_noise.py fit                      # VAL photos only: the two constants
    python experiments/estimator_v2/flat_noise.py measure --split test [--json OUT] [--others]

fit: (1) CORRELATION_GAIN, from flat grey fields (levels 60 / 120 / 180, 256 px) with distortx's camera noise
(shot share and channel correlation drawn; demosaic-like filter strength k = 0, 0.5, 1) at RMS 2, 4 and 8, its field
further blurred by a Gaussian of S.D. 0, 0.6, 1, 1.5 px (renormalised: correlated over up to ~3 px, as in-camera
denoising leaves it): sigma / sqrt(quantile) against the flattest patches' lag-1 correlation, one point per noise
design (k, blur; the mean over levels and sigmas), sorted by the correlation and made non-decreasing; a table for colour fields and one for grey (one channel). (2) TEXTURE_FACTOR: the median of truth / reading over the
val photos' camera noise rows of RMS >= 3, read with that gain.

measure: the centre 256 x 256 of every photo of the split (photos_v2), as stored and with
  camera noise (distortx's `camera_noise`) at RMS 1, 2, 3, 4, 6, 8, 12, alone and followed by a JPEG at quality 90
  and at 75 (a phone's pipeline);
  "camera, correlated": the same noise with its field blurred by a Gaussian of S.D. 1 px (renormalised) at RMS 2,
  4, 8: more correlated than anything camera_noise draws (never used to fit);
  Gaussian noise at sigma 2, 5, 15, 30.
Truth = the S.D. of (noisy - clean) on 0..255, as real-noise benchmarks measure it (after the JPEG where there is
one: that includes the JPEG's own error on the photo's content, which no reading of the noise sees; 0 for the photo
as stored, which has noise of its own). Readers: the flat reading ("flat", ``estimate(..., method="flat")``), and
with --others also ``distortx.estimate``'s default (the patch statistic blended with the CNN: "auto") and
scikit-image's ``estimate_sigma``. MAE and Pearson correlation per group of rows, and medians per level.
"""
from __future__ import annotations

import argparse
import io
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GROUPS = ("stored", "camera", "camera+q90", "camera+q75", "camera, correlated", "gaussian")


def jpeg(x: torch.Tensor, q: int) -> torch.Tensor:
    buf = io.BytesIO()
    Image.fromarray(x.permute(1, 2, 0).contiguous().numpy()).save(buf, "JPEG", quality=q)
    return torch.from_numpy(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy()).permute(2, 0, 1)


def correlated_camera_noise(clean: torch.Tensor, sigma: float, seed: int, sd: float, k=None) -> torch.Tensor:
    """uint8 Tensor[3, H, W]: ``clean`` with distortx's camera noise of RMS ``sigma``, its field blurred by ``sd``."""
    from distortx.distortions.noise import camera_noise

    gen = torch.Generator().manual_seed(seed)
    return camera_noise(clean.float(), sigma, gen, spatial=k, level=None, blur_sd=sd).round().clamp(0, 255).to(torch.uint8)


def photos(split: str, limit: int):
    from distortx.io import IMAGE_EXTENSIONS

    folder = ROOT / "experiments" / "default_model" / "photos_v2" / split
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    return files[:limit] if limit else files


def cases(clean: torch.Tensor, k: int):
    """(group, nominal sigma, uint8 image) for one clean crop; seeds from the photo's index ``k``."""
    import distortx

    out = [("stored", 0.0, clean)]
    for sigma in (1, 2, 3, 4, 6, 8, 12):
        noisy = distortx.distort(clean, "camera_noise", value=float(sigma), seed=k)
        out += [("camera", sigma, noisy), ("camera+q90", sigma, jpeg(noisy, 90)), ("camera+q75", sigma, jpeg(noisy, 75))]
    for sigma in (2, 4, 8):
        out.append(("camera, correlated", sigma, correlated_camera_noise(clean, float(sigma), 7919 * k + sigma, 1.0)))
    for sigma in (2, 5, 15, 30):
        out.append(("gaussian", sigma, distortx.distort(clean, "gaussian_noise_sigma", value=float(sigma), seed=k)))
    return out


def centre(img: torch.Tensor, side: int = 256) -> torch.Tensor:
    _, h, w = img.shape
    s = min(side, h, w)
    return img[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].contiguous()


def statistics(img: torch.Tensor):
    """(sqrt of the quantile, lag-1 correlation, channels read) of an image (grey as three equal channels: one)."""
    from distortx.estimation.noise_flat import flat_patch_statistics

    x = img.float()
    if x.shape[0] == 3 and bool((x[0] == x[1]).all()) and bool((x[0] == x[2]).all()):
        x = x[:1]
    q, rho, _ = flat_patch_statistics(x)
    return math.sqrt(q), rho, x.shape[0]


def fit(limit: int) -> None:
    from distortx.distortions.noise import camera_noise
    from distortx.estimation import noise_flat

    gen = torch.Generator().manual_seed(2026)
    tables = {}
    for channels in (3, 1):
        designs = []
        for k in (0.0, 0.5, 1.0):
            for sd in (0.0, 0.6, 1.0, 1.5):
                points = []
                for level in (60.0, 120.0, 180.0):
                    for sigma in (2.0, 4.0, 8.0):
                        base = torch.full((channels, 256, 256), level)
                        img = camera_noise(base, sigma, gen, spatial=k, level=None, blur_sd=sd).round().clamp(0, 255)
                        raw, rho, _ = statistics(img)
                        points.append((rho, float((img - base).std()) / raw))
                designs.append(tuple(np.mean(points, axis=0)))   # one point per noise design (k, blur)
        designs.sort()
        gains = np.maximum.accumulate([g for _, g in designs])
        table = {}
        for (r, _), g in zip(designs, gains):   # one gain per correlation (the largest): no vertical step
            table[round(float(r), 3)] = max(table.get(round(float(r), 3), 0.0), round(float(g), 3))
        tables[channels] = tuple(table.items())
    print("CORRELATION_GAIN = {")
    for cc, table in tables.items():
        print(f"    {cc}: {table},")
    print("}")
    noise_flat.CORRELATION_GAIN = tables
    ratios = []
    for i, f in enumerate(photos("val", limit)):
        from distortx.io import read_image

        for group, nominal, img in cases(centre(read_image(f)), i):
            if group == "camera" and nominal >= 3:
                truth = float((img.float() - centre(read_image(f)).float()).std())
                raw, rho, channels = statistics(img)
                ratios.append(truth / (raw * noise_flat.correlation_gain(rho, channels)))
    print(f"TEXTURE_FACTOR = {float(np.median(ratios)):.3f}  ({len(ratios)} val rows)")


def measure(split: str, limit: int, others: bool, json_out) -> None:
    import distortx
    from distortx.io import read_image

    rows = []
    for i, f in enumerate(photos(split, limit)):
        clean = centre(read_image(f))
        batch = cases(clean, i)
        imgs = torch.stack([c[2] for c in batch])
        est = {"flat": distortx.estimate(imgs, what="noise_sigma", method="flat").tolist()}
        if others:
            from skimage.restoration import estimate_sigma

            est["auto"] = distortx.estimate(imgs, what="noise_sigma").tolist()
            est["skimage"] = [float(np.mean(estimate_sigma(x.permute(1, 2, 0).numpy() / 255.0, channel_axis=-1)) * 255)
                              for x in imgs]
        for j, (group, nominal, img) in enumerate(batch):
            rows.append({"photo": f.name, "group": group, "nominal": nominal,
                         "truth": float((img.float() - clean.float()).std()), **{n: v[j] for n, v in est.items()}})
    names = [n for n in ("flat", "auto", "skimage") if n in rows[0]]
    summary = {}
    print(f"{split}: {len(rows) // len(cases(torch.zeros(3, 8, 8, dtype=torch.uint8), 0))} photos, {len(rows)} rows")
    print("| rows | " + " | ".join(f"{n}: MAE / corr" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for group in GROUPS + ("camera, all four",):
        sel = [r for r in rows if (r["group"].startswith("camera") if group == "camera, all four" else r["group"] == group)]
        t = np.array([r["truth"] for r in sel])
        summary[group] = {}
        cells = []
        for n in names:
            e = np.array([r[n] for r in sel])
            corr = float(np.corrcoef(t, e)[0, 1]) if t.std() > 0 else None
            summary[group][n] = {"mae": float(np.abs(e - t).mean()), "corr": corr, "n": len(sel)}
            cells.append(f"{summary[group][n]['mae']:.2f} / " + (f"{corr:.3f}" if corr is not None else "-"))
        print(f"| {group} ({len(sel)}) | " + " | ".join(cells) + " |")
    print("\nmedians per level (truth -> " + " / ".join(names) + "):")
    for group in GROUPS:
        levels = sorted({r["nominal"] for r in rows if r["group"] == group})
        parts = []
        for lv in levels:
            sel = [r for r in rows if r["group"] == group and r["nominal"] == lv]
            parts.append(f"{np.median([r['truth'] for r in sel]):.1f} -> "
                         + " / ".join(f"{np.median([r[n] for r in sel]):.1f}" for n in names))
        print(f"  {group}: " + "; ".join(parts))
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps({"split": split, "summary": summary, "rows": rows}, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["fit", "measure"])
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--others", action="store_true", help="also distortx.estimate's default and scikit-image")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.mode == "fit":
        fit(a.limit)
    else:
        measure(a.split, a.limit, a.others, a.json)


if __name__ == "__main__":
    main()
