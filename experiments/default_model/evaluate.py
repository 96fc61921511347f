"""Measure the default model on the held-out test photos (the numbers of docs/model_card.md).

    python experiments/default_model/photos_v2.py          # once: experiments/default_model/photos_v2/{train,val,test}
    python experiments/default_model/evaluate.py [--model distortx/weights/ynet_dx_small.pt] [--out DIR]
    python experiments/default_model/evaluate.py --split v1 --photos experiments/default_model/photos/test   # v1's 28

The test photos are read whole; every measurement at 300 x 300 takes their centre crop (Ahn's protocol).

Writes DIR/results.json, DIR/tables.md and the figures (confusion matrix, PR curves, mAP vs IoU, AP vs region
size, accuracy per level, learning curve when --log is given):
  1. classification on the test photos: clean + Ahn's 8 types x Ahn's 3 levels (cls_test.toml);
  2. detection on the test photos: Ahn basic and difficult protocols (det_basic.toml / det_difficult.toml);
  3. false alarms on clean photos saved by Pillow as JPEG at quality 90 and 95 (a camera's own compression):
     300-px crops classified whole, and the whole test photos through `distortx.predict` (the user's path);
  4. other photos and independently made distortions: scikit-image's bundled sample photos (never used in
     training), clean and distorted by scikit-image / Pillow (random_noise, gaussian filter, Pillow JPEG);
  5. the test photos distorted by independent code (scikit-image / Pillow / numpy, not distortx) at Ahn's three
     levels of the types that have a standard implementation (noise, blur, s&p, quantization, JPEG, lowpass);
  6. CPU speed at 300 x 300 (batch 1 and 16, forward + decode + NMS).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _pillow_jpeg(u8: torch.Tensor, q: int) -> torch.Tensor:
    """uint8 Tensor[3, H, W] -> its Pillow JPEG round trip at quality ``q`` (4:2:0, as cameras save)."""
    from distortx.distortions.jpeg import pillow_jpeg

    return torch.from_numpy(pillow_jpeg(u8.permute(1, 2, 0).contiguous().numpy(), q).copy()).permute(2, 0, 1)


def classify(model, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Class probabilities [N, K] of 300 x 300 float images."""
    out = []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch):
            out.append(model(images[i:i + batch], postprocess=False).logits.float().softmax(1))
    return torch.cat(out)


def load_test_crops(folder: Path, size: int = 300) -> torch.Tensor:
    """uint8 [N, 3, size, size]: the centre crop of every photo in ``folder`` (no resizing)."""
    from distortx.data.sources import prepare_reference
    from distortx.io import IMAGE_EXTENSIONS
    from distortx.io import read_image

    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
    return torch.stack([prepare_reference(read_image(f), size, resize=False)[0] for f in files])


AHN_INDEPENDENT = {  # Ahn's three levels, computed by scikit-image / Pillow / numpy
    "gaussian_noise": (0.0125, 0.025, 0.05), "gaussian_blur": (1.5, 3.0, 6.0), "salt_pepper": (0.0125, 0.025, 0.05),
    "quantization": (16, 8, 4), "jpeg": (20, 10, 5), "lowpass": (0.3, 0.1, 0.03)}


def independent_levels(u8: torch.Tensor, name: str, level: float, seed: int = 0) -> torch.Tensor:
    """uint8 [N, 3, H, W] distorted by code outside distortx at ``level`` of type ``name``."""
    from skimage.filters import gaussian
    from skimage.transform import rescale, resize
    from skimage.util import random_noise

    x = u8.permute(0, 2, 3, 1).numpy()
    rng = np.random.default_rng(seed)
    if name == "jpeg":
        return torch.stack([_pillow_jpeg(t, int(level)) for t in u8])
    if name == "quantization":  # each 8-bit value to its bin's lower edge, ``level`` bins
        step = 256 // int(level)
        return torch.from_numpy((x // step * step).astype(np.uint8)).permute(0, 3, 1, 2)
    out = []
    for img in x:
        f = img / 255.0
        if name == "gaussian_noise":
            f = random_noise(f, mode="gaussian", var=level, rng=rng)
        elif name == "salt_pepper":
            f = random_noise(f, mode="s&p", amount=level, rng=rng)
        elif name == "gaussian_blur":
            f = gaussian(f, sigma=level, channel_axis=-1, truncate=2.0)
        elif name == "lowpass":
            small = rescale(f, level, channel_axis=-1, anti_aliasing=True)
            f = resize(small, f.shape, anti_aliasing=False)
        out.append(np.clip(f, 0, 1))
    return torch.from_numpy((np.stack(out) * 255).round().astype(np.uint8)).permute(0, 3, 1, 2)


def skimage_photos(size: int = 300) -> torch.Tensor:
    """scikit-image's bundled colour photos (not the three distortx embeds) as 300 x 300 centre crops."""
    from skimage import data

    from distortx.data.sources import prepare_reference

    names = ["rocket", "coffee", "chelsea", "astronaut", "hubble_deep_field", "immunohistochemistry",
             "retina", "colorwheel", "cat", "motorcycle_left", "logo"]
    crops = []
    for n in names:
        if n in ("coffee", "chelsea", "astronaut", "cat", "colorwheel", "logo"):  # embedded / not photos
            continue
        try:
            img = getattr(data, n)()
        except Exception:
            continue
        img = img[0] if isinstance(img, tuple) else img
        if img.ndim != 3 or img.shape[2] < 3:
            continue
        t = torch.from_numpy(np.ascontiguousarray(img[..., :3])).permute(2, 0, 1)
        crops.append(prepare_reference(t, size, resize=True)[0])
    return torch.stack(crops)


def independent_distortions(u8: torch.Tensor):
    """(name, uint8 images) made by scikit-image / Pillow, not distortx, at Ahn-like strengths."""
    from skimage.filters import gaussian
    from skimage.util import random_noise

    x = u8.permute(0, 2, 3, 1).numpy()
    rng = np.random.default_rng(0)
    to_t = (lambda a: torch.from_numpy((np.clip(a, 0, 1) * 255).round().astype(np.uint8)).permute(0, 3, 1, 2))
    yield "gaussian_noise", to_t(np.stack([random_noise(i, mode="gaussian", var=0.025, rng=rng) for i in x]))
    yield "gaussian_blur", to_t(np.stack([gaussian(i / 255.0, sigma=3, channel_axis=-1) for i in x]))
    yield "salt_pepper", to_t(np.stack([random_noise(i, mode="s&p", amount=0.025, rng=rng) for i in x]))
    yield "jpeg", torch.stack([_pillow_jpeg(t, 10) for t in u8])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "distortx" / "weights" / "ynet_dx_small.pt"))
    ap.add_argument("--split", default="v2", choices=("v1", "v2"), help="which split list names the test photos")
    ap.add_argument("--photos", default=str(HERE / "photos_v2" / "test"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "model_card"))
    ap.add_argument("--log", nargs="*", default=None,
                    help="the training runs' log.jsonl, stage by stage (learning curve; steps are chained)")
    ap.add_argument("--originals", default=None,
                    help="the whole test photos (false alarms through distortx.predict; default: --photos for v2, "
                         "shared/data/photos for v1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=300, choices=(192, 300),
                    help="test crop side: 300 = Ahn's protocol, 192 = the CPU model's training scale")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from distortx.models.checkpoint import load_model
    from distortx.engine.evaluation.evaluate import evaluate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.model)
    results, tables = {}, []

    # 1-2. classification grid and detection protocols on the held-out photos
    sfx = "" if args.size == 300 else str(args.size)
    for key, data in (("classification", f"cls_test{sfx}.toml"), ("detection_basic", f"det_basic{sfx}.toml"),
                      ("detection_difficult", f"det_difficult{sfx}.toml")):
        t0 = time.perf_counter()
        rep = evaluate(model, str(HERE / data), images=args.photos, split="all", batch_size=16,
                       out=out / key)
        results[key] = rep.to_dict()
        results[key]["seconds"] = round(time.perf_counter() - t0, 1)
        tables += [f"### {key}", "", rep.tables(), ""]

    # 3. clean test photos through Pillow JPEG at q 90 / 95: called distorted?
    clean = load_test_crops(Path(args.photos))
    far = {}
    for q in (None, 95, 90):
        imgs = clean if q is None else torch.stack([_pillow_jpeg(t, q) for t in clean])
        p = classify(model, imgs.float() / 255)
        label = p.argmax(1)
        with torch.no_grad():
            dets = model(imgs.float() / 255).detections
        regions = [int((d["scores"] >= 0.5).sum()) for d in dets]
        far["png" if q is None else f"jpeg{q}"] = {
            "called_distorted": float((label != 0).float().mean()),
            "called": {model.classes[k]: int((label == k).sum()) for k in label.unique().tolist()},
            "images_with_a_region": float(np.mean([r > 0 for r in regions])),
            "n": int(clean.shape[0])}
    results["clean_false_alarms"] = far
    originals = Path(args.originals or (args.photos if args.split == "v2" else ROOT.parent / "shared" / "data" / "photos"))
    results["clean_false_alarms_predict"] = predict_false_alarms(model, originals, args.split)

    # 4. other photos, independent distortions
    other = skimage_photos()
    rows = {"clean": classify(model, other.float() / 255).argmax(1)}
    for name, imgs in independent_distortions(other):
        rows[name] = classify(model, imgs.float() / 255).argmax(1)
    results["other_photos"] = {
        name: {"accuracy": float((pred == model.classes.index("clean" if name == "clean" else name)).float().mean()),
               "called": [model.classes[k] for k in pred.tolist()]} for name, pred in rows.items()}
    results["other_photos"]["n"] = int(other.shape[0])

    # 5. the test photos, distorted by independent code at Ahn's levels
    indep = {"clean": float((classify(model, clean.float() / 255).argmax(1) == 0).float().mean())}
    for name, levels in AHN_INDEPENDENT.items():
        for k, level in enumerate(levels, start=1):
            pred = classify(model, independent_levels(clean, name, level, seed=k).float() / 255).argmax(1)
            indep[f"{name}/L{k}"] = float((pred == model.classes.index(name)).float().mean())
    indep["mean_distorted"] = float(np.mean([v for k, v in indep.items() if k != "clean"]))
    results["independent_test"] = indep

    # 6. CPU speed
    speed = {}
    with torch.no_grad():
        for b in (1, 16):
            x = torch.rand(b, 3, 300, 300)
            model(x)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 5:
                model(x)
                n += b
            speed[f"batch{b}"] = round(n / (time.perf_counter() - t0), 1)
    results["cpu_images_per_s"] = speed
    results["threads"] = torch.get_num_threads()

    if args.log:
        plot_learning_curve([Path(p) for p in args.log], out / "learning_curve.png")
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "tables.md").write_text("\n".join(tables) + "\n")
    print("\n".join(tables))
    print(json.dumps({k: results[k] for k in ("clean_false_alarms", "clean_false_alarms_predict", "other_photos",
                                              "independent_test", "cpu_images_per_s")}, indent=1))


def predict_false_alarms(model, originals: Path, split: str = "v2") -> dict:
    """The whole held-out test photos (any size) through ``distortx.predict`` as PNG and as Pillow JPEG q95/q90:
    the share called distorted (the verdict's label is not clean: any finding, below level 1 included), the share
    with a finding at Ahn level >= 1 (a type nothing measures counts as such) and the share with any region (score
    >= the predictor's threshold)."""
    import distortx
    from distortx.io import read_image

    if split == "v2":
        listed = json.loads((HERE / "split_v2.json").read_text())["photos"]
        names = sorted(n for n, row in listed.items() if row["split"] == "test")
    else:
        names = json.loads((HERE / "split.json").read_text())["test"]
    photos = [read_image(originals / n) for n in names if (originals / n).exists()]
    res = {}
    for q in (None, 95, 90):
        imgs = photos if q is None else [_pillow_jpeg(t, q) for t in photos]
        preds = distortx.predict(imgs, model=model)
        labels = [p.label for p in preds]
        res["png" if q is None else f"jpeg{q}"] = {
            "called_distorted": float(np.mean([lab != "clean" for lab in labels])),
            "called": {k: labels.count(k) for k in sorted(set(labels))},
            "with_a_finding_at_level_1_or_more": float(np.mean([any(f.level is None or f.level >= 1
                                                                     for f in p.verdict.findings) for p in preds])),
            "images_with_a_region": float(np.mean([len(p.regions) > 0 for p in preds])),
            "n": len(photos)}
    return res


def plot_learning_curve(logs, path: Path) -> None:
    """Training loss and validation metrics of one run, or of stages run one after another (steps chained)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs, offset, starts = [], 0, []
    for log in logs:
        part = [json.loads(line) for line in Path(log).read_text().splitlines() if line.strip()]
        part = [dict(r, step=r["step"] + offset) for r in part if "step" in r]
        if part:
            starts.append(offset)
            offset = max(r["step"] for r in part)
        recs += part
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for task in ("detection", "classification"):
        pts = [(r["step"], r["loss"]) for r in recs if r.get("task") == task]
        if pts:
            a.plot(*zip(*pts), label=f"{task} loss", lw=0.8)
    a.set_xlabel("step"), a.set_ylabel("training loss"), a.set_yscale("log"), a.legend(), a.grid(alpha=0.3)
    ev = [r for r in recs if "eval" in r]
    for key in ("classification/accuracy", "classification/false_alarm", "detection/map50", "detection/map75",
                "detection/map90"):
        pts = [(r["step"], r["eval"][key]) for r in ev if key in r["eval"]]
        if pts:
            b.plot(*zip(*pts), marker="o", ms=3, label=key)
    for ax in (a, b):
        for x in starts[1:]:
            ax.axvline(x, color="gray", ls=":", lw=1)
    b.set_xlabel("step (dotted: next training stage)"), b.set_ylabel("validation (val photos)"), b.set_ylim(0, 1)
    b.legend(), b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
