"""Check how the verdict measures quantization, salt-and-pepper and blur findings from their pixels, on the VAL photos only.

    python experiments/default_model/pixel_measurements.py [--model distortx/weights/ynet_dx_small.pt] [--out FILE]
    python experiments/default_model/pixel_measurements.py --summary FILE     # the tables again from a saved run
    python experiments/default_model/pixel_measurements.py --fit-blur         # read_blur_sigma's GAIN (no model)
    python experiments/default_model/pixel_measurements.py --fit-fnoise       # read_fnoise_strength's SIGMA_PER_F

The detector boxes flat or finely textured areas of clean JPEG photos as ``quantization`` (verdict_eval on the test
photos: 13 of 109 photos saved at q90 4:4:4). Quantization is measurable: Ahn's quantized pixels hold nothing but
the bin edges (distortx.estimation.value_lattice); so is salt and pepper, values at 0 and 255 among neighbours far
from them (distortx.estimation.impulses); so is a Gaussian blur, by the sigma its edges show
(distortx.estimation.blur_width). This collects every candidate of the three types the verdict would see on
the val photos (a box of the type scored >= the model's region threshold, or the classifier's top class at >= the
rules' probability), with the 8-bit histogram of the pixels it covers and the salt-and-pepper amount read there:
  - clean: the val photos in verdict_eval's six JPEG histories (every candidate is false);
  - det: Ahn's basic detection protocol (det_basic.toml), a candidate right when one of its boxes covers a
    region of its type with IoU >= 0.5;
  - det then q90 / q95: the same images saved as JPEG afterwards (a posterized photo as users would keep it);
  - cls: Ahn's classification protocol (cls_test.toml), whole-image candidates, right when the image has the type.
--fit-blur: the 300-px centre crops of the val photos blurred by distortx's gaussian_blur at Ahn's sigmas 1.5, 3, 6
and as stored in verdict_eval's six JPEG histories; prints the median of truth / reading (read_blur_sigma's GAIN,
with GAIN = 1 while fitting) and each group's readings after it.
--fit-fnoise: the same crops with Ahn's fnoise at f = 2.5, 5, 10, over the whole crop and in a centred 100-px
region, and as stored in the six JPEG histories (the whole crop and the centred 100 px); prints the median of flat
sigma / f (read_fnoise_strength's SIGMA_PER_F), the 1st percentile of level 1's readings after it (the verdict's
fnoise_f_min, rounded down to 0.05: 99 % of level-1 regions stay findings), each group's f read after it, and the
share of each group read at or above VerdictRules.fnoise_f_min.
For Gaussian blur (the verdict's reading, other types' boxes left out), each group's sigmas, the share at or above
VerdictRules.blur_sigma_min and, on the classification grid, how often the Ahn level read is the image's. Then, for
quantization, for tolerances 0..2 and min_share 0.02..0.2, the share of each group read as a finding (at
most VerdictRules.quantization_levels_max levels) is printed; the verdict's choice (VerdictRules.levels_tolerance,
levels_min_share) is the one that keeps the most right candidates of det and cls and no clean one. For salt and
pepper, each group's amounts, the share read at level >= 1 (VerdictRules.salt_pepper_amount_min), the salt bias
(distortx.estimation.impulses), and the share at level >= 1 once a bias >= VerdictRules.impulse_bias_max counts as
clipped noise (val, 2026-12-08: the 253 right candidates read -3..37, all kept; val has no wrong salt-and-pepper
candidate; the quick start's dataset, where strong Gaussian noise made 11, is in the model card).
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
    from distortx.estimation import read_blur_sigma, read_impulse_amount
    from distortx.estimation.value_lattice import region_histogram
    from distortx.io import IMAGE_EXTENSIONS, read_image, to_uint8_image
    from distortx.models.checkpoint import load_model
    from distortx.verdict import VerdictRules
    from verdict_eval import jpeg_versions

    model = load_model(a.model)
    rules = VerdictRules.for_model(model)
    predictor = Predictor(model, score_threshold=rules.region_score)
    rows = []

    def candidates(x: torch.Tensor, group: str, truth=None, whole_truth=None, whole_level=None) -> None:
        pred = predictor(x, group)
        top = max(pred.probabilities, key=lambda p: p[1])
        for kind in ("quantization", "salt_pepper", "gaussian_blur"):
            boxes = [tuple(map(float, r.box)) for r in pred.regions if r.type == kind and r.score >= rules.region_score]
            named = top[0] == kind and top[1] >= rules.global_probability
            right = None if whole_truth is None else whole_truth == kind
            if boxes and truth is not None:
                b = torch.tensor(boxes)
                right = any(t == kind and float(box_iou(b, box[None]).max()) >= 0.5 for t, box in truth)
            if boxes or named:
                where = boxes or []
                impulses = read_impulse_amount(x, where)
                rows.append({"group": group, "type": kind, "kind": "regions" if boxes else "whole image",
                             "right": right, "hist": region_histogram(x, where).tolist(),
                             "amount": impulses.amount, "salt_bias": impulses.salt_bias,
                             "blur": read_blur_sigma(x, where, exclude=[tuple(map(float, r.box)) for r in pred.regions
                                                                        if r.type != kind and r.score >= rules.region_score]).sigma,
                             "level": whole_level if right else None})

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
        for img, lab, level in zip(batch["images"], batch["labels"], batch["levels"]):
            k = int(lab) - int(stream.preset.include_reference)
            truth = "clean" if k < 0 else stream.preset.distortions[k]
            candidates(to_uint8_image(img), "cls", whole_truth=truth, whole_level=int(level) + 1)  # levels: 0-based
    a.out.write_text(json.dumps({"model": a.model, "photos": len(files), "rows": rows}) + "\n")
    summarise(rows)


def summarise(rows) -> None:
    from distortx.estimation.value_lattice import read_levels_from_histogram
    from distortx.verdict import VerdictRules

    blur = [r for r in rows if r.get("type") == "gaussian_blur"]
    least_blur = VerdictRules().blur_sigma_min
    for g, rt in sorted({(r["group"], r["right"]) for r in blur}, key=str):
        a = [r["blur"] for r in blur if (r["group"], r["right"]) == (g, rt)]
        read = [v for v in a if v is not None]
        print(f"gaussian_blur {g} right={rt}: {len(a)} candidates, sigma "
              + (f"{min(read):.2f} .. {max(read):.2f} (median {float(np.median(read)):.2f})" if read else "none read")
              + f", at >= {least_blur}: {np.mean([v is not None and v >= least_blur for v in a]):.2f}")
    from distortx.verdict import AHN_BLUR_SIGMA, ahn_level
    graded = [r for r in blur if r["group"] == "cls" and r["right"] and r["blur"] is not None and r.get("level")]
    if graded:
        hits = [ahn_level(r["blur"], AHN_BLUR_SIGMA) == r["level"] for r in graded]
        print(f"gaussian_blur cls, right whole-image findings: Ahn level read right {np.mean(hits):.3f} of {len(hits)}")
    sp = [r for r in rows if r.get("type") == "salt_pepper"]
    rows = [r for r in rows if r.get("type", "quantization") == "quantization"]
    least, bias_max = VerdictRules().salt_pepper_amount_min, VerdictRules().impulse_bias_max
    for g, rt in sorted({(r["group"], r["right"]) for r in sp}, key=str):
        group = [r for r in sp if (r["group"], r["right"]) == (g, rt)]
        a = [r["amount"] for r in group]
        read = [v for v in a if v is not None]
        bias = [r["salt_bias"] for r in group if r.get("salt_bias") is not None]
        kept = [r["amount"] is not None and r["amount"] >= least and (r.get("salt_bias") is None or r["salt_bias"] < bias_max)
                for r in group]
        print(f"salt_pepper {g} right={rt}: {len(a)} candidates, amounts "
              + (f"{min(read):.4f} .. {max(read):.4f} (median {float(np.median(read)):.4f})" if read else "none read")
              + f", at level >= 1: {np.mean([v is not None and v >= least for v in a]):.2f}"
              + (f"; salt bias {min(bias):.0f} .. {max(bias):.0f} (median {float(np.median(bias)):.0f})" if bias else "")
              + f", at level >= 1 with the bias rule (< {bias_max:.0f}): {np.mean(kept):.2f}")
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


def fit_blur(photos: Path) -> None:
    import distortx
    from distortx.estimation import blur_width
    from distortx.io import IMAGE_EXTENSIONS, read_image
    from verdict_eval import jpeg_versions

    blur_width.GAIN = 1.0
    readings = {}
    for i, f in enumerate(sorted(p for p in photos.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)):
        img = read_image(f)
        _, h, w = img.shape
        s = min(300, h, w)
        crop = img[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].contiguous()
        for name, x in jpeg_versions(crop).items():
            readings.setdefault("clean " + name, []).append((0.0, blur_width.read_blur_sigma(x).sigma))
        for sigma in (1.5, 3.0, 6.0):
            x = distortx.distort(crop, "gaussian_blur", value=sigma, seed=i)
            readings.setdefault(f"sigma {sigma}", []).append((sigma, blur_width.read_blur_sigma(x).sigma))
    ratios = [t / r for k, v in readings.items() if k.startswith("sigma") for t, r in v if r]
    gain = float(np.median(ratios))
    print(f"GAIN = {gain:.3f} (median of truth / reading over {len(ratios)} blurred crops)")
    for k, v in readings.items():
        read = np.array([gain * r for _, r in v if r is not None])
        print(f"  {k}: {len(v)} crops, {len(v) - len(read)} unread, sigma median {np.median(read):.2f}, "
              f"5-95 % {np.percentile(read, 5):.2f} .. {np.percentile(read, 95):.2f}")


def fit_fnoise(photos: Path) -> None:
    import distortx
    from distortx.estimation import pink_noise
    from distortx.io import IMAGE_EXTENSIONS, read_image
    from distortx.verdict import VerdictRules
    from verdict_eval import jpeg_versions

    pink_noise.SIGMA_PER_F = 1.0
    readings = {}
    for i, f in enumerate(sorted(p for p in photos.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)):
        img = read_image(f)
        _, h, w = img.shape
        s = min(300, h, w)
        crop = img[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].contiguous()
        c0 = (s - 100) // 2
        box = [(c0, c0, c0 + 100, c0 + 100)]
        for name, x in jpeg_versions(crop).items():
            readings.setdefault("clean " + name + ", whole", []).append((0.0, pink_noise.read_fnoise_strength(x)))
            readings.setdefault("clean " + name + ", 100 px", []).append((0.0, pink_noise.read_fnoise_strength(x, box)))
        for fv in (2.5, 5.0, 10.0):
            x = distortx.distort(crop, "fnoise", value=fv, seed=i)
            readings.setdefault(f"f {fv}, whole", []).append((fv, pink_noise.read_fnoise_strength(x)))
            region = crop.clone()
            region[:, c0:c0 + 100, c0:c0 + 100] = x[:, c0:c0 + 100, c0:c0 + 100]
            readings.setdefault(f"f {fv}, 100 px", []).append((fv, pink_noise.read_fnoise_strength(region, box)))
    ratios = [r / t for k, v in readings.items() if k.startswith("f ") for t, r in v if r]
    per_f = float(np.median(ratios))
    floor = VerdictRules().fnoise_f_min
    print(f"SIGMA_PER_F = {per_f:.3f} (median of flat sigma / f over {len(ratios)} crops and regions)")
    level1 = np.array([r / per_f for k, v in readings.items() if k.startswith("f 2.5") for _, r in v if r])
    print(f"1st percentile of level 1 (f 2.5) read: {np.percentile(level1, 1):.3f} (VerdictRules.fnoise_f_min: "
          f"that, rounded down to 0.05)")
    for k, v in readings.items():
        read = np.array([r / per_f for _, r in v if r is not None])
        print(f"  {k}: {len(read)} read, f median {np.median(read):.2f}, 5-95 % {np.percentile(read, 5):.2f} .. "
              f"{np.percentile(read, 95):.2f}, at or above {floor}: {np.mean(read >= floor):.3f}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    if len(sys.argv) > 1 and sys.argv[1] == "--fit-blur":
        torch.set_num_threads(2)
        fit_blur(HERE / "photos_v2" / "val")
    elif len(sys.argv) > 1 and sys.argv[1] == "--fit-fnoise":
        torch.set_num_threads(1)
        fit_fnoise(HERE / "photos_v2" / "val")
    elif len(sys.argv) > 1 and sys.argv[1] == "--summary":
        summarise(json.loads(Path(sys.argv[2]).read_text())["rows"])
    else:
        main()
