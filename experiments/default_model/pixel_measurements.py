"""Check how the verdict measures quantization and salt-and-pepper findings from their pixels, on the VAL photos only.

    python experiments/default_model/pixel_measurements.py [--model distortx/weights/ynet_dx_small.pt] [--out FILE]
    python experiments/default_model/pixel_measurements.py --summary FILE     # the tables again from a saved run

The detector boxes flat or finely textured areas of clean JPEG photos as ``quantization`` (verdict_eval on the test
photos: 13 of 109 photos saved at q90 4:4:4). Quantization is measurable: Ahn's quantized pixels hold nothing but
the bin edges (distortx.estimation.value_lattice); so is salt and pepper, values at 0 and 255 among neighbours far
from them (distortx.estimation.impulses). This collects every candidate of the two types the verdict would see on
the val photos (a box of the type scored >= the model's region threshold, or the classifier's top class at >= the
rules' probability), with the 8-bit histogram of the pixels it covers and the salt-and-pepper amount read there:
  - clean: the val photos in verdict_eval's six JPEG histories (every candidate is false);
  - det: Ahn's basic detection protocol (det_basic.toml), a candidate right when one of its boxes covers a
    quantized region with IoU >= 0.5;
  - det then q90 / q95: the same images saved as JPEG afterwards (a posterized photo as users would keep it);
  - cls: Ahn's classification protocol (cls_test.toml), whole-image candidates, right when the image is quantized.
Then, for quantization, for tolerances 0..2 and min_share 0.02..0.2, the share of each group read as a finding (at
most VerdictRules.quantization_levels_max levels) is printed; the verdict's choice (VerdictRules.levels_tolerance,
levels_min_share) is the one that keeps the most right candidates of det and cls and no clean one. For salt and
pepper, each group's amounts and the share read at level >= 1 (VerdictRules.salt_pepper_amount_min).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def resaved(img: torch.Tensor, quality: int) -> torch.Tensor:
    buf = io.BytesIO()
    Image.fromarray(img.permute(1, 2, 0).contiguous().numpy()).save(buf, "JPEG", quality=quality)
    return torch.from_numpy(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy()).permute(2, 0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "distortx" / "weights" / "ynet_dx_small.pt"))
    ap.add_argument("--photos", default=str(HERE / "photos_v2" / "val"))
    ap.add_argument("--out", type=Path, default=Path("pixel_measurements_val.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from distortx.data.stream import SynthesisStream
    from distortx.detection import box_iou
    from distortx.engine.inference.predict import Predictor
    from distortx.estimation import read_impulse_amount
    from distortx.estimation.value_lattice import region_histogram
    from distortx.io import IMAGE_EXTENSIONS, read_image, to_uint8_image
    from distortx.models.checkpoint import load_model
    from distortx.verdict import VerdictRules
    from verdict_eval import jpeg_versions

    model = load_model(a.model)
    rules = VerdictRules.for_model(model)
    predictor = Predictor(model, score_threshold=rules.region_score)
    rows = []

    def candidates(x: torch.Tensor, group: str, truth=None, whole_truth=None) -> None:
        pred = predictor(x, group)
        top = max(pred.probabilities, key=lambda p: p[1])
        for kind in ("quantization", "salt_pepper"):
            boxes = [tuple(map(float, r.box)) for r in pred.regions if r.type == kind and r.score >= rules.region_score]
            named = top[0] == kind and top[1] >= rules.global_probability
            right = None if whole_truth is None else whole_truth == kind
            if boxes and truth is not None:
                b = torch.tensor(boxes)
                right = any(t == kind and float(box_iou(b, box[None]).max()) >= 0.5 for t, box in truth)
            if boxes or named:
                where = boxes or []
                rows.append({"group": group, "type": kind, "kind": "regions" if boxes else "whole image",
                             "right": right, "hist": region_histogram(x, where).tolist(),
                             "amount": read_impulse_amount(x, where).amount})

    files = sorted(f for f in Path(a.photos).iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)[: a.limit or None]
    for f in files:
        for name, x in jpeg_versions(read_image(f)).items():
            candidates(x, "clean " + name)
    stream = SynthesisStream(str(HERE / "det_basic.toml"), images=a.photos, split=None, per_image=1, batch_size=8,
                             shuffle=False, seed=11)
    for n, batch in enumerate(stream):
        if a.limit and n * 8 >= a.limit:
            break
        for img, target in zip(batch["images"], batch["targets"]):
            truth = [(model.det_classes[int(lab)], box) for box, lab in zip(target["boxes"], target["labels"])]
            u8 = to_uint8_image(img)
            candidates(u8, "det", truth)
            for q in (95, 90):
                candidates(resaved(u8, q), f"det then q{q}", truth)
    stream = SynthesisStream(str(HERE / "cls_test.toml"), images=a.photos, split=None, batch_size=16, shuffle=False,
                             seed=11)
    for n, batch in enumerate(stream):
        if a.limit and n * 16 >= 4 * a.limit:
            break
        for img, lab in zip(batch["images"], batch["labels"]):
            k = int(lab) - int(stream.preset.include_reference)
            truth = "clean" if k < 0 else stream.preset.distortions[k]
            candidates(to_uint8_image(img), "cls", whole_truth=truth)
    a.out.write_text(json.dumps({"model": a.model, "photos": len(files), "rows": rows}) + "\n")
    summarise(rows)


def summarise(rows) -> None:
    from distortx.estimation.value_lattice import read_levels_from_histogram
    from distortx.verdict import VerdictRules

    sp = [r for r in rows if r.get("type") == "salt_pepper"]
    rows = [r for r in rows if r.get("type", "quantization") == "quantization"]
    least = VerdictRules().salt_pepper_amount_min
    for g, rt in sorted({(r["group"], r["right"]) for r in sp}, key=str):
        a = [r["amount"] for r in sp if (r["group"], r["right"]) == (g, rt)]
        read = [v for v in a if v is not None]
        print(f"salt_pepper {g} right={rt}: {len(a)} candidates, amounts "
              + (f"{min(read):.4f} .. {max(read):.4f} (median {float(np.median(read)):.4f})" if read else "none read")
              + f", at level >= 1: {np.mean([v is not None and v >= least for v in a]):.2f}")
    groups = sorted({(r["group"], r["right"]) for r in rows}, key=str)
    print("candidates: " + ", ".join(f"{g} right={rt}: {sum(1 for r in rows if (r['group'], r['right']) == (g, rt))}"
                                     for g, rt in groups))
    most = VerdictRules().quantization_levels_max
    for tol in (0, 1, 2):
        for min_share in (0.02, 0.05, 0.1, 0.2):
            shares = []
            for g, rt in groups:
                sel = [r for r in rows if (r["group"], r["right"]) == (g, rt)]
                lv = [read_levels_from_histogram(torch.tensor(r["hist"]), tol, min_share).levels for r in sel]
                shares.append(f"{g[:14]}/{rt}: {np.mean([v is not None and v <= most for v in lv]):.2f}")
            print(f"tol {tol} min_share {min_share:.2f} | " + " | ".join(shares))
    for r in rows:   # every candidate but the classification protocol's: its share and levels at the defaults
        if r["group"] != "cls":
            reading = read_levels_from_histogram(torch.tensor(r["hist"]))
            print(f"  {r['group']:>18} {r['kind']:>11} right={r['right']}: share {reading.share:.3f}, levels {reading.levels}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    if len(sys.argv) > 1 and sys.argv[1] == "--summary":
        summarise(json.loads(Path(sys.argv[2]).read_text())["rows"])
    else:
        main()
