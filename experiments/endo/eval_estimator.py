"""Measure an estimator on whole photos it never saw: per true value, the mean, S.D. and worst error of the
image-level estimate, and the share within the issue's tolerance (JPEG +-10, noise +-3).

    python experiments/endo/eval_estimator.py --what jpeg_quality --weights W.pt \
        [--photos /work/shared/data/photos --split experiments/default_model/split.json:test] [--crop 256] \
        [--real] [--json OUT.json]

Each photo is centre-cropped to --crop (0: whole) and degraded at every value by the training path
(``estimation.degrade``: JPEG bit-exact with Pillow 4:2:0, Gaussian noise), then estimated by
``distortx.estimate``. ``--real`` adds JPEGs not made by that path: the three JPEG files bundled with
scikit-image (truth: the quality their own quantisation tables give), and Pillow files the training never
produced (4:4:4 chroma; a second compression at q 90 of a q-50 image), decoded and estimated from pixels.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import distortx  # noqa: E402
from distortx.estimation import get_target  # noqa: E402
from distortx.estimation.degrade import degrade  # noqa: E402
from distortx.estimation.patches import load_photos  # noqa: E402
from distortx.estimation.qtables import quality_from_jpeg  # noqa: E402
from distortx.io import read_image  # noqa: E402



def split_names(spec: str) -> list:
    """File names listed in ``FILE.json`` under the comma-separated keys of ``FILE.json:KEY[,KEY]``."""
    path, _, keys = spec.rpartition(":")
    table = json.loads(Path(path).read_text())
    return [name for key in keys.split(",") for name in table[key]]


VALUES = {"jpeg_quality": [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100],
          "noise_sigma": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]}
TOLERANCE = {"jpeg_quality": 10.0, "noise_sigma": 3.0}


#: scikit-image photos that are neither embedded samples nor JPEG files ("other photos"; grey ones as RGB)
SKIMAGE_OTHERS = ("motorcycle_left.png", "camera.png", "moon.png", "coins.png", "grass.png", "gravel.png",
                  "brick.png", "ihc.png")


def skimage_photos() -> list:
    import skimage

    data = Path(os.path.dirname(skimage.__file__)) / "data"
    return [read_image(data / f) for f in SKIMAGE_OTHERS]


def centre(img: torch.Tensor, crop: int) -> torch.Tensor:
    h, w = img.shape[1:]
    if not crop or min(h, w) <= crop:
        return img
    y, x = (h - crop) // 2, (w - crop) // 2
    return img[:, y: y + crop, x: x + crop]


def synthetic(what: str, weights, photos, values) -> dict:
    target = get_target(what)
    rows = {}
    for v in values:
        ests = []
        for i, img in enumerate(photos):
            x = degrade(img[None].float() / 255, target.distortion, torch.tensor([float(v)]), torch.tensor([1000 + i]))
            ests.append(float(distortx.estimate(x, what=what, weights=weights)[0]))
        e = torch.tensor(ests)
        err = (e - v).abs()
        rows[v] = {"mean": float(e.mean()), "sd": float(e.std(unbiased=False)), "mae": float(err.mean()),
                   "max_err": float(err.max()), "within": float((err <= TOLERANCE[what]).float().mean())}
    return rows


def pil_jpeg(img: torch.Tensor, **save) -> torch.Tensor:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img.permute(1, 2, 0).numpy()).save(buf, format="JPEG", **save)
    buf.seek(0)
    return torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1).contiguous()


def real_jpegs(weights, photos) -> list:
    import skimage

    rows = []
    data = Path(os.path.dirname(skimage.__file__)) / "data"
    for f in ("hubble_deep_field.jpg", "retina.jpg", "rocket.jpg"):
        t = quality_from_jpeg(data / f)
        est = float(distortx.estimate(read_image(data / f), what="jpeg_quality", weights=weights)[0])
        rows.append({"image": f"skimage {f}", "truth": t.quality, "exact_tables": t.exact, "estimate": est})
    for q in (10, 50, 90):
        ests = [float(distortx.estimate(pil_jpeg(p, quality=q, subsampling="4:4:4"), what="jpeg_quality",
                                        weights=weights)[0]) for p in photos]
        rows.append({"image": f"{len(photos)} photos, Pillow 4:4:4", "truth": q, "estimate": sum(ests) / len(ests),
                     "min": min(ests), "max": max(ests)})
    ests = [float(distortx.estimate(pil_jpeg(pil_jpeg(p, quality=50), quality=90), what="jpeg_quality",
                                    weights=weights)[0]) for p in photos]
    rows.append({"image": f"{len(photos)} photos, q50 then q90", "truth": "50 then 90",
                 "estimate": sum(ests) / len(ests), "min": min(ests), "max": max(ests)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--what", choices=list(VALUES), required=True)
    ap.add_argument("--weights", default=None, help="estimator checkpoint (default: the shipped one)")
    ap.add_argument("--photos", default="/work/shared/data/photos",
                    help="a photo folder (with --split), or 'skimage' for scikit-image's other photos")
    ap.add_argument("--split", default="experiments/default_model/split.json:test")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.photos == "skimage":
        a.split = "scikit-image: " + ", ".join(SKIMAGE_OTHERS)
        photos = [centre(p, a.crop) for p in skimage_photos()]
    else:
        photos = [centre(p, a.crop) for p in load_photos(a.photos, names=split_names(a.split))]
    out = {"weights": a.weights or "shipped", "split": a.split, "photos": len(photos), "crop": a.crop,
           "synthetic": synthetic(a.what, a.weights, photos, VALUES[a.what])}
    print(f"{a.what} on {len(photos)} photos ({a.split}), centre {a.crop}px:")
    print("truth   mean     sd    mae  max_err  within")
    for v, r in out["synthetic"].items():
        print(f"{v:5}  {r['mean']:6.2f} {r['sd']:6.2f} {r['mae']:6.2f} {r['max_err']:7.2f}  {r['within']:.2f}")
    if a.real and a.what == "jpeg_quality":
        out["real"] = real_jpegs(a.weights, photos)
        for r in out["real"]:
            print(json.dumps(r))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
