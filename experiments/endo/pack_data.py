"""Pack the shared CIFAR-10 npz files and the photos into lossless WebP (about 40% smaller than the npz /
PNG originals), for machines whose upload limit the originals exceed (the GPU runner takes 64 MiB a call).

    python experiments/endo/pack_data.py --out DIR [--cifar /work/shared/data/cifar10] [--photos /work/shared/data/photos]

Writes DIR/cifar10/cifar10_{train_20k,test}.webp (100 images per mosaic row, row-major in the npz order)
with DIR/cifar10/cifar10_labels.npz, and DIR/photos/<name>.webp. Lossless: `reproduce.py --cifar DIR/cifar10
--photos DIR/photos` sees exactly the original pixels (checked after writing).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

COLS = 100
FILES = {"train": "cifar10_train_20k", "test": "cifar10_test"}


def mosaic(x: np.ndarray) -> np.ndarray:
    """uint8 [N, 32, 32, 3] (N a multiple of COLS) -> [N/COLS*32, COLS*32, 3]."""
    rows = x.shape[0] // COLS
    return x.reshape(rows, COLS, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(rows * 32, COLS * 32, 3)


def unmosaic(m: np.ndarray, n: int) -> np.ndarray:
    rows = m.shape[0] // 32
    return m.reshape(rows, 32, COLS, 32, 3).transpose(0, 2, 1, 3, 4).reshape(rows * COLS, 32, 32, 3)[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cifar", type=Path, default=Path("/work/shared/data/cifar10"))
    ap.add_argument("--photos", type=Path, default=Path("/work/shared/data/photos"))
    ap.add_argument("--skip-photos", action="store_true")
    a = ap.parse_args()
    (a.out / "cifar10").mkdir(parents=True, exist_ok=True)
    labels = {}
    for split, stem in FILES.items():
        with np.load(a.cifar / f"{stem}.npz") as z:
            x, y = z["x"], z["y"]
        n = x.shape[0]
        pad = (-n) % COLS
        xp = np.concatenate([x, np.zeros((pad, 32, 32, 3), np.uint8)]) if pad else x
        path = a.out / "cifar10" / f"{stem}.webp"
        Image.fromarray(mosaic(xp)).save(path, format="WEBP", lossless=True, quality=100, method=4)
        with Image.open(path) as im:
            assert np.array_equal(unmosaic(np.asarray(im.convert("RGB")), n), x), "WebP round trip is not lossless"
        labels[f"y_{split}"] = y
        print(f"{path}: {n} images, {path.stat().st_size / 1e6:.1f} MB")
    np.savez(a.out / "cifar10" / "cifar10_labels.npz", **labels)
    if a.skip_photos:
        return
    (a.out / "photos").mkdir(parents=True, exist_ok=True)
    total = 0
    for src in sorted(a.photos.glob("*.png")):
        with Image.open(src) as im:
            rgb = im.convert("RGB")
        dst = a.out / "photos" / (src.stem + ".webp")
        rgb.save(dst, format="WEBP", lossless=True, quality=100, method=4)
        with Image.open(dst) as back:
            assert np.array_equal(np.asarray(back.convert("RGB")), np.asarray(rgb)), f"{src.name}: not lossless"
        total += dst.stat().st_size
    print(f"{a.out / 'photos'}: {len(list(a.photos.glob('*.png')))} photos, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
