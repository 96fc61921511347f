"""Noise estimators on held-out photos with realistic and Gaussian noise: distortx's shipped CNN, a candidate
(e.g. a run of noise_finetune.toml), the patch statistic (method "pca"), their blend (method "auto") and
scikit-image's estimate_sigma, side by side.

    python experiments/estimator_v2/eval_noise.py --candidate runs/noise-estimator-v2-ft [--split test] [--json OUT]

The centre 256 x 256 of every photo of the split (photos_v2; never trained on), as stored and with:
  camera noise (distortx's `camera_noise`: signal-dependent, channel- and pixel-correlated) at RMS sigma 1, 2, 3,
  4, 6, 8, 12, each also followed by a JPEG round trip at quality 90 (a phone's pipeline);
  Gaussian noise at sigma 5, 15, 30, 45.
Truth = the S.D. of (noisy - clean) on 0..255, measured the way real-noise benchmarks measure it (after the JPEG
where there is one; 0 for the photo as stored). Reports MAE and Pearson correlation per estimator, for the camera
noise rows, the Gaussian rows and all rows.
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


def jpeg(x: torch.Tensor, q: int) -> torch.Tensor:
    buf = io.BytesIO()
    Image.fromarray(x.permute(1, 2, 0).contiguous().numpy()).save(buf, "JPEG", quality=q)
    return torch.from_numpy(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy()).permute(2, 0, 1)


def skimage_sigma(x: torch.Tensor) -> float:
    from skimage.restoration import estimate_sigma

    return float(np.mean(estimate_sigma(x.permute(1, 2, 0).numpy() / 255.0, channel_axis=-1)) * 255.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidate", default=None, help="estimator checkpoint or distortx train run folder")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    import distortx
    from distortx.estimation.api import blend_noise
    from distortx.io import IMAGE_EXTENSIONS, read_image

    files = sorted(p for p in (ROOT / "experiments" / "default_model" / "photos_v2" / a.split).iterdir()
                   if p.suffix.lower() in IMAGE_EXTENSIONS)
    if a.limit:
        files = files[: a.limit]
    rows = []
    for k, f in enumerate(files):
        img = read_image(f)
        _, h, w = img.shape
        s = min(256, h, w)
        clean = img[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].contiguous()
        cases = [("stored", 0.0, clean)]
        for sigma in (1, 2, 3, 4, 6, 8, 12):
            noisy = distortx.distort(clean, "camera_noise", value=float(sigma), seed=k)
            cases += [("camera", sigma, noisy), ("camera+q90", sigma, jpeg(noisy, 90))]
        for sigma in (5, 15, 30, 45):
            cases.append(("gaussian", sigma, distortx.distort(clean, "gaussian_noise_sigma", value=float(sigma), seed=k)))
        batch = torch.stack([c[2] for c in cases])
        truth = (batch.float() - clean.float()).flatten(1).std(dim=1).tolist()
        est = {"shipped": distortx.estimate(batch, what="noise_sigma", method="cnn").tolist(),
               "pca": distortx.estimate(batch, what="noise_sigma", method="pca").tolist(),
               "skimage": [skimage_sigma(x) for x in batch]}
        est["auto"] = [blend_noise(p, c) for p, c in zip(est["pca"], est["shipped"])]
        if a.candidate:
            est["candidate"] = distortx.estimate(batch, what="noise_sigma", weights=a.candidate, method="cnn").tolist()
        for i, (kind, nominal, _) in enumerate(cases):
            rows.append({"photo": f.name, "kind": kind, "nominal": nominal, "truth": truth[i],
                         **{name: v[i] for name, v in est.items()}})
    names = [n for n in ("shipped", "candidate", "pca", "auto", "skimage") if n in rows[0]]
    report = {"photos": len(files), "split": a.split, "rows": len(rows), "summary": {}}
    for group, keep in (("camera noise (with and without q90)", lambda r: r["kind"].startswith("camera")),
                        ("gaussian", lambda r: r["kind"] == "gaussian"), ("photos as stored", lambda r: r["kind"] == "stored"),
                        ("all", lambda r: True)):
        sel = [r for r in rows if keep(r)]
        t = np.array([r["truth"] for r in sel])
        report["summary"][group] = {}
        for n in names:
            e = np.array([r[n] for r in sel])
            corr = float(np.corrcoef(t, e)[0, 1]) if t.std() > 0 else None
            report["summary"][group][n] = {"mae": float(np.abs(e - t).mean()), "corr": corr, "n": len(sel)}
    print(json.dumps(report["summary"], indent=1))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(dict(report, per_image=rows), indent=1) + "\n")


if __name__ == "__main__":
    main()
