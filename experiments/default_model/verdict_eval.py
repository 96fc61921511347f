"""The verdict of `distortx.predict` on the held-out TEST photos: false findings on clean photos with a JPEG
history, agreement with Ahn's distortions (global and regional), calibration of the findings' scores.

    python experiments/default_model/verdict_eval.py [--model distortx/weights/ynet_dx_small.pt] [--out docs/model_card]

Measured through `distortx.predict` (the user's path: tiling, the estimators, the rule of distortx.verdict):
  1. clean photos (whole test photos) as stored and saved again by Pillow as JPEG q95, q75, q50 (4:2:0), q90 at
     4:4:4, and re-saved twice (q90 then q80): the share with a finding at Ahn level >= 1 (a finding below
     level 1 is a measurement, not a distortion; a type without an estimator counts as level >= 1), and with any,
     and the photos with such a finding per type;
  2. Ahn's basic detection protocol (det_basic.toml, one image per test photo): verdicts that contradict their
     own boxes (clean while a box >= region_score), and each finding right or wrong (its type is a distorted
     region's type and one of its boxes covers such a region with IoU >= 0.5);
  3. Ahn's classification protocol (cls_test.toml: 8 types x 3 levels + clean): the verdict's label (its
     strongest finding, or clean) against the truth; a finding is right when its type is the image's type; for
     the measured types (JPEG, noise, quantization, salt and pepper, Gaussian blur), how often the finding of the
     image's type has the image's Ahn level;
  4. calibration: reliability diagram and expected calibration error (10 equal-width bins) of the findings'
     scores over 1-3 (every finding of 1 is wrong).
Writes OUT/verdict.json and OUT/verdict_reliability.png.
"""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def jpeg_versions(u8: torch.Tensor) -> dict:
    """The photo as stored and with JPEG histories: {name: uint8 Tensor[3, H, W]}."""
    pil = Image.fromarray(u8.permute(1, 2, 0).contiguous().numpy())

    def save(img, q, sub="4:2:0"):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q, subsampling={"4:2:0": 2, "4:4:4": 0}[sub])
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    out = {"as stored": pil, "q95": save(pil, 95), "q75": save(pil, 75), "q50": save(pil, 50),
           "q90 4:4:4": save(pil, 90, "4:4:4"), "q90 then q80": save(save(pil, 90), 80)}
    return {k: torch.from_numpy(np.asarray(v).copy()).permute(2, 0, 1) for k, v in out.items()}


def serious(f) -> bool:
    return f.level is None or f.level >= 1


def ece(scores, right, bins: int = 10):
    scores, right = np.asarray(scores, float), np.asarray(right, float)
    edges = np.linspace(0, 1, bins + 1)
    rows, total = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (scores >= lo) & ((scores < hi) if hi < 1 else (scores <= hi))
        if m.any():
            conf, acc = float(scores[m].mean()), float(right[m].mean())
            total += m.mean() * abs(acc - conf)
            rows.append({"bin": [round(lo, 2), round(hi, 2)], "n": int(m.sum()), "confidence": conf, "accuracy": acc})
    return float(total), rows


def measure(model, rules, photos: Path, limit: int = 0):
    """Run the verdict over ``photos`` (items 1-3 of the module docstring). Returns (clean, det, cls, evidence,
    right, regional): the three reports, and every finding's raw evidence (before the rules' score calibration)
    with whether the finding is right and whether it is regional (its own score map)."""
    from dataclasses import replace

    import distortx
    from distortx.data.stream import SynthesisStream
    from distortx.detection import box_iou
    from distortx.io import IMAGE_EXTENSIONS, read_image

    rules = replace(rules, score_slope=1.0, score_offset=0.0, region_slope=None)   # raw evidence: calibrated afterwards
    files = sorted(f for f in Path(photos).iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
    if limit:
        files = files[:limit]
    scores, right, regional = [], [], []

    def record(finding, ok: bool) -> None:
        scores.append(finding.score)
        right.append(ok)
        regional.append(finding.where != "whole image")
    # 1. clean photos with JPEG histories
    clean = {}
    for f in files:
        for name, x in jpeg_versions(read_image(f)).items():
            v = distortx.predict(x, model=model, rules=rules)[0].verdict
            c = clean.setdefault(name, {"photos": 0, "serious": 0, "any": 0, "serious_by_type": {}})
            c["photos"] += 1
            c["serious"] += any(serious(g) for g in v.findings)
            c["any"] += bool(v.findings)
            for t in sorted({g.type for g in v.findings if serious(g)}):   # which types the false findings are
                c["serious_by_type"][t] = c["serious_by_type"].get(t, 0) + 1
            for g in v.findings:
                record(g, False)
    for c in clean.values():
        c["share_without_serious_finding"] = 1 - c["serious"] / c["photos"]

    # 2. Ahn basic detection
    det = {"images": 0, "contradictions": 0, "findings": 0, "right": 0, "regions": 0, "regions_found": 0}
    stream = SynthesisStream(str(HERE / "det_basic.toml"), images=str(photos), split=None, per_image=1,
                             batch_size=8, shuffle=False, seed=5)
    for batch in stream:
        for img, target in zip(batch["images"], batch["targets"]):
            if limit and det["images"] >= limit:
                break
            p = distortx.predict(img, model=model, rules=rules)[0]
            v = p.verdict
            det["images"] += 1
            det["contradictions"] += int(v.clean and any(r.score >= rules.region_score for r in p.regions))
            truth = [(model.det_classes[int(lab)], box) for box, lab in zip(target["boxes"], target["labels"])]
            det["regions"] += len(truth)
            found = set()
            for g in v.findings:
                boxes = torch.tensor(g.boxes) if g.boxes else None
                ok = False
                for k, (t, box) in enumerate(truth):
                    if t == g.type and (boxes is None or float(box_iou(boxes, box[None]).max()) >= 0.5):
                        ok = True
                        found.add(k)
                det["findings"] += 1
                det["right"] += ok
                record(g, ok)
            det["regions_found"] += len(found)

    # 3. Ahn classification
    cls = {"images": 0, "label_right": 0, "clean_images": 0, "clean_right": 0, "severity": {}}
    stream = SynthesisStream(str(HERE / "cls_test.toml"), images=str(photos), split=None, batch_size=16,
                             shuffle=False, seed=5)
    for batch in stream:
        for img, lab, level in zip(batch["images"], batch["labels"], batch["levels"]):
            if limit and cls["images"] >= 4 * limit:
                break
            k = int(lab) - int(stream.preset.include_reference)
            truth = "clean" if k < 0 else stream.preset.distortions[k]
            v = distortx.predict(img, model=model, rules=rules)[0].verdict
            cls["images"] += 1
            cls["label_right"] += v.label == truth
            named = next((g for g in v.findings if g.type == truth), None)
            if truth != "clean" and named is not None and named.level is not None:   # a measured type, found
                sev = cls["severity"].setdefault(truth, {"found": 0, "level_right": 0, "below_level_1": 0})
                sev["found"] += 1
                sev["level_right"] += named.level == int(level) + 1   # the stream's levels count from 0
                sev["below_level_1"] += named.level == 0
            if truth == "clean":
                cls["clean_images"] += 1
                cls["clean_right"] += v.clean
            for g in v.findings:
                record(g, g.type == truth)
    cls["accuracy"] = cls["label_right"] / max(cls["images"], 1)

    return clean, det, cls, scores, right, regional


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "distortx" / "weights" / "ynet_dx_small.pt"))
    ap.add_argument("--photos", default=str(HERE / "photos_v2" / "test"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "model_card")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="first N test photos only (a quick look)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from distortx.models.checkpoint import load_model
    from distortx.verdict import VerdictRules

    model = load_model(a.model)
    rules = VerdictRules.for_model(model)
    clean, det, cls, evidence, right, regional = measure(model, rules, Path(a.photos), a.limit)
    files = clean.get("as stored", {}).get("photos", 0)
    raw_error, _ = ece(evidence, right)
    scores = [rules.calibrated(e, r) for e, r in zip(evidence, regional)]
    error, bins = ece(scores, right)
    by_kind = {}
    for kind, want in (("whole image", False), ("regions", True)):
        pick = [k for k, r in enumerate(regional) if r == want]
        if pick:
            by_kind[kind] = {"findings": len(pick), "right": int(sum(right[k] for k in pick)),
                             "ece": ece([scores[k] for k in pick], [right[k] for k in pick])[0]}
    report = {"model": a.model, "rules": {"region_score": rules.region_score, "score_slope": rules.score_slope,
                                          "score_offset": rules.score_offset, "region_slope": rules.region_slope,
                                          "region_offset": rules.region_offset}, "test_photos": files,
              "clean_jpeg_history": clean, "ahn_basic_detection": det, "ahn_classification": cls,
              "calibration": {"ece": error, "ece_before_calibration": raw_error, "findings": len(scores), "bins": bins,
                              "by_kind": by_kind}}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "verdict.json").write_text(json.dumps(report, indent=1) + "\n")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-")
    ax.set(xlabel="finding score", ylabel="share of findings that are right", title=f"verdict: ECE {error:.3f}",
           xlim=(0, 1), ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(a.out / "verdict_reliability.png", dpi=120)
    print(json.dumps({k: report[k] for k in ("clean_jpeg_history", "ahn_basic_detection", "ahn_classification")}, indent=1))
    print(f"ECE {error:.3f} over {len(scores)} findings (before the score calibration: {raw_error:.3f}); by kind: "
          + ", ".join(f"{k} {v['ece']:.3f} over {v['findings']}" for k, v in by_kind.items()))


if __name__ == "__main__":
    main()
