"""The README's "Reading the verdict" examples, made again from scratch and run through `distortx predict`.

    python experiments/default_model/photos_v2.py        # once
    python experiments/default_model/verdict_examples.py [--model W.pt] [--out /tmp/verdict_examples]

Four photos: the first val photo of split_v2.json saved by Pillow at JPEG quality 80 (phone.jpg); a 300-px crop
of it blurred with distortx's gaussian_blur at sigma 3 (blurred.png); image 0 of the quick start's dataset
(ahn-detection-basic, --count 200 --seed 1: ahn_regions.png); the photo with distortx's camera noise at RMS sigma
8, then saved at quality 90 (high_iso.jpg). Prints one verdict line per photo, as the CLI does.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from PIL import Image

HERE = Path(__file__).resolve().parent


def jpeg(x: torch.Tensor, path: Path, quality: int) -> None:
    Image.fromarray(x.permute(1, 2, 0).contiguous().numpy()).save(path, "JPEG", quality=quality)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "verdict_examples")
    a = ap.parse_args()
    import distortx
    from distortx.data.generate import generate
    from distortx.io import IMAGE_EXTENSIONS, read_image

    a.out.mkdir(parents=True, exist_ok=True)
    val = sorted(p for p in (HERE / "photos_v2" / "val").iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    photo = read_image(val[0])
    jpeg(photo, a.out / "phone.jpg", 80)
    _, h, w = photo.shape
    crop = photo[:, (h - 300) // 2:(h - 300) // 2 + 300, (w - 300) // 2:(w - 300) // 2 + 300].contiguous()
    blurred = distortx.distort(crop.float() / 255, "gaussian_blur", value=3.0)
    Image.fromarray((blurred * 255).round().byte().permute(1, 2, 0).numpy()).save(a.out / "blurred.png")
    ds = a.out / "quickstart"
    generate("ahn-detection-basic", ds, count=200, seed=1, progress=False)
    first = sorted((ds / "images" / "train").glob("*.png"))[0]
    Image.open(first).save(a.out / "ahn_regions.png")
    noisy = distortx.distort(photo.float() / 255, "camera_noise", value=8.0, seed=1)
    jpeg((noisy * 255).round().byte(), a.out / "high_iso.jpg", 90)
    names = ["phone.jpg", "blurred.png", "ahn_regions.png", "high_iso.jpg"]
    for p in distortx.predict([str(a.out / n) for n in names], model=a.model):
        print(f"{Path(p.file).name}: {p.verdict.text()}")


if __name__ == "__main__":
    main()
