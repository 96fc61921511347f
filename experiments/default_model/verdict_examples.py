"""The README's "Reading the verdict" examples, made again from scratch and run through `distortx predict`.

    python experiments/default_model/photos_v2.py        # once
    python experiments/default_model/verdict_examples.py [--model W.pt] [--out /tmp/verdict_examples]

Five photos: the first val photo of split_v2.json saved by Pillow at JPEG quality 80 (phone.jpg); a 300-px crop
of it blurred with distortx's gaussian_blur at sigma 3 (blurred.png); image 0 of the quick start's dataset
(ahn-detection-basic, --count 200 --seed 1: ahn_regions.png); the photo with distortx's camera noise at RMS sigma
8, then saved at quality 90 (high_iso.jpg); the crop with a 150 x 120 region quantized to 8 levels
(posterized.png). Prints one verdict line per photo, as the CLI does, and the IoU of
ahn_regions.png's and posterized.png's boxes with their truth.
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
    posterized = crop.clone()
    posterized[:, 80:200, 60:210] = distortx.distort(crop[:, 80:200, 60:210], "quantization", value=8.0)
    Image.fromarray(posterized.permute(1, 2, 0).numpy()).save(a.out / "posterized.png")
    names = ["phone.jpg", "blurred.png", "ahn_regions.png", "high_iso.jpg", "posterized.png"]
    truths = {"ahn_regions.png": truth_boxes(ds, first), "posterized.png": [((60, 80, 210, 200), "quantization")]}
    for p in distortx.predict([str(a.out / n) for n in names], model=a.model):
        print(f"{Path(p.file).name}: {p.verdict.text()}")
        truth = truths.get(Path(p.file).name)
        if truth:
            for f in p.verdict.findings:
                for box in f.boxes:
                    best = max((iou(box, t) for t, kind in truth if kind == f.type), default=0.0)
                    print(f"  {f.type} box {[round(v) for v in box]}: IoU {best:.2f} with the truth")


def truth_boxes(dataset: Path, image: Path):
    """[(xyxy box, type)] of ``image`` from the dataset's COCO annotations."""
    import json

    for part in sorted((dataset / "annotations").glob("*.json")):
        coco = json.loads(part.read_text())
        ids = [im["id"] for im in coco["images"] if Path(im["file_name"]).name == image.name]
        if ids:
            return [((x, y, x + w, y + h), a["distortion"]) for a in coco["annotations"] if a["image_id"] == ids[0]
                    for x, y, w, h in [a["bbox"]]]
    return []


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


if __name__ == "__main__":
    main()
