"""Fix the default model's photo split (by reference photo) and cut its training crops.

    python experiments/default_model/prepare.py [--photos ../shared/data/photos] [--out experiments/default_model/photos]

split.json (committed) lists the photos of each split: a photo goes to test if the first byte of
sha256("distortx-default-split:" + name) is < 52 (~20 %), to val if < 77 (~10 %), else to train. The test
photos are never looked at while training or choosing the model.
Crops (PNG, not committed), at the photo's own scale (upscaled when its shorter side is below the crop):
  photos/{train,val,test}/   300 x 300 centre crops (Ahn's protocol: the test grid and detection tests);
  photos/train192/           five 192 x 192 crops per train photo (4 corners + centre): the CPU training set;
  photos/val192/             192 x 192 centre crops of the val photos;
  photos/train_full/         the train photos whole (byte copies): the source of the crop-jitter training run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
CROP = 300


def split_of(name: str) -> str:
    b = hashlib.sha256(f"distortx-default-split:{name}".encode()).digest()[0]
    return "test" if b < 52 else "val" if b < 77 else "train"


def centre(img: Image.Image, crop: int = CROP) -> Image.Image:
    w, h = img.size
    if min(w, h) < crop:
        s = crop / min(w, h)
        img = img.resize((max(crop, round(w * s)), max(crop, round(h * s))), Image.BICUBIC)
        w, h = img.size
    x0, y0 = (w - crop) // 2, (h - crop) // 2
    return img.crop((x0, y0, x0 + crop, y0 + crop))


def five_crops(img: Image.Image, crop: int):
    """Centre and four corner crops at the photo's own scale."""
    w, h = img.size
    if min(w, h) < crop:
        yield centre(img, crop)
        return
    for x0, y0 in (((w - crop) // 2, (h - crop) // 2), (0, 0), (w - crop, 0), (0, h - crop), (w - crop, h - crop)):
        yield img.crop((x0, y0, x0 + crop, y0 + crop))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default=str(HERE.parents[2] / "shared" / "data" / "photos"))
    ap.add_argument("--out", default=str(HERE / "photos"))
    ap.add_argument("--extra", type=int, default=2, help="extra downscaled crops per train photo (0..2)")
    args = ap.parse_args()
    names = sorted(p.name for p in Path(args.photos).glob("*.png"))
    split = {s: [n for n in names if split_of(n) == s] for s in ("train", "val", "test")}
    (HERE / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    out = Path(args.out)
    for s, files in split.items():
        (out / s).mkdir(parents=True, exist_ok=True)
        for n in files:
            img = Image.open(Path(args.photos) / n).convert("RGB")
            centre(img).save(out / s / n, compress_level=6)
            if s == "train" and args.extra:
                w, h = img.size
                small = img.resize((round(w * 0.8), round(h * 0.8)), Image.BOX)
                sw, sh = small.size
                if min(sw, sh) >= CROP:
                    corners = [(0, 0), (sw - CROP, sh - CROP)][: args.extra]
                    for k, (x0, y0) in enumerate(corners):
                        small.crop((x0, y0, x0 + CROP, y0 + CROP)).save(out / s / f"{Path(n).stem}_s{k}.png")
    (out / "train_full").mkdir(parents=True, exist_ok=True)
    for n in split["train"]:
        (out / "train_full" / n).write_bytes((Path(args.photos) / n).read_bytes())
    for s, folder in (("train", "train192"), ("val", "val192")):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for n in split[s]:
            img = Image.open(Path(args.photos) / n).convert("RGB")
            crops = list(five_crops(img, 192)) if s == "train" else [centre(img, 192)]
            for k, c in enumerate(crops):
                c.save(out / folder / f"{Path(n).stem}_{k}.png", compress_level=6)
    print({s: len(v) for s, v in split.items()}, "->", out)


if __name__ == "__main__":
    main()
