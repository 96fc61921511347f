"""distortx's ImageNet-C family beside imagecorruptions 1.1.2, corruption by corruption and severity by severity.

    python experiments/imagenet_c/fidelity.py [--draws 10] [--json tests/data/imagenet_c_reference.json]
        [--md docs/imagenet_c_fidelity.md]

On 128 x 128 crops of the two embedded photos (astronaut, coffee): for every corruption and severity, the PSNR
to the clean crop (mean over --draws random draws of each side) and, for the deterministic corruptions, the
largest difference in grey levels. imagecorruptions runs with a two-line shim for numpy 2 / scikit-image 0.26
(``np.float_``; ``gaussian(multichannel=)`` -> ``channel_axis``), without which fog, glass_blur and gaussian_blur
raise in this environment. The JSON is what tests/test_corruptions.py holds our PSNR to when imagecorruptions is
not installed."""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from distortx.corruptions import NAMES, corrupt  # noqa: E402
from distortx.data.samples import sample_images  # noqa: E402

DETERMINISTIC = ("defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
                 "gaussian_blur", "saturate")


def crops(size: int = 128):
    """uint8 H x W x 3 crops of the embedded photos (the same in the tests)."""
    out = []
    for name, img in sample_images():
        if name in ("astronaut", "coffee"):
            a = img.permute(1, 2, 0).numpy()
            out.append(np.ascontiguousarray(a[100: 100 + size, 150: 150 + size]))
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def imagecorruptions_with_shim():
    warnings.filterwarnings("ignore")
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    import imagecorruptions
    import imagecorruptions.corruptions as icc
    from skimage.filters import gaussian as sk_gaussian

    def gaussian(image, sigma=1, multichannel=None, **kw):
        if multichannel:
            kw["channel_axis"] = -1
        return sk_gaussian(image, sigma=sigma, **kw)

    icc.gaussian = gaussian
    return imagecorruptions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--md", type=Path, default=None)
    a = ap.parse_args()
    ic = imagecorruptions_with_shim()
    np.random.seed(0)
    images = crops()
    table = {}
    for name in NAMES:
        for s in range(1, 6):
            ref, ours, diff = [], [], 0
            for k in range(a.draws):
                img = images[k % len(images)]
                r = ic.corrupt(img, corruption_name=name, severity=s)
                o = corrupt(img, corruption_name=name, severity=s, seed=k)
                ref.append(psnr(r, img))
                ours.append(psnr(o, img))
                if name in DETERMINISTIC:
                    diff = max(diff, int(np.abs(r.astype(int) - o.astype(int)).max()))
            row = {"ref_psnr": round(float(np.mean(ref)), 3), "ref_psnr_sd": round(float(np.std(ref)), 3),
                   "ours_psnr": round(float(np.mean(ours)), 3), "ours_psnr_sd": round(float(np.std(ours)), 3)}
            if name in DETERMINISTIC:
                row["max_grey_level_difference"] = diff
            table[f"{name}/{s}"] = row
            print(name, s, row, flush=True)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"imagecorruptions": "1.1.2", "draws": a.draws, "crop": 128,
                                      "photos": ["astronaut", "coffee"], "rows": table}, indent=1) + "\n")
    if a.md:
        lines = ["| corruption | severity | imagecorruptions PSNR (dB) | distortx PSNR (dB) | difference | max grey-level diff |",
                 "|---|---|---|---|---|---|"]
        for key, row in table.items():
            name, s = key.split("/")
            lines.append(f"| {name} | {s} | {row['ref_psnr']:.2f} +- {row['ref_psnr_sd']:.2f} | {row['ours_psnr']:.2f} +- "
                         f"{row['ours_psnr_sd']:.2f} | {row['ours_psnr'] - row['ref_psnr']:+.2f} | "
                         f"{row.get('max_grey_level_difference', '')} |")
        a.md.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
