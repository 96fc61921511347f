"""End-to-end dataset synthesis speed: ahn-detection-basic, distortx vs an albumentations pipeline.

Usage: python benchmarks/bench_generate.py [--quick] [--json OUT] [--device cpu|cuda] [--workers N] [--formats]

Both pipelines do the same regional work: the same references (300x300 centre crops written as PNGs to a
temporary folder first, so neither pays for the procedural dead-leaves images), the same recipes (regions,
types, parameters from distortx's sampler: sampling is not what is measured), each region's distortion
computed on the clean image and pasted inside its box, later boxes winning.

Tasks:
  to-disk    images/s of a complete dataset on disk: distortx = ``distortx.data.generate.generate`` (PNG,
             COCO JSON, parts, manifest) with ``--workers`` processes of one intra-op thread each;
             albumentations = the same number of processes of one OpenCV thread each, each reading a reference, applying one albumentations transform per region on the
             full image, pasting the box and writing a PNG (zlib level 6, as distortx) with Pillow.
  streaming  images/s of in-memory batches (float tensors), one process with the libraries' default
             threads: distortx = ``SynthesisStream`` (batches of 20 on ``--device``); albumentations = the
             same loop without the disk writes, images converted to a float tensor batch.

albumentations mapping (NO_ALBUMENTATIONS_UPDATE=1): gaussian_noise -> GaussNoise(std = sqrt(variance)),
gaussian_blur -> GaussianBlur(sigma), salt_pepper -> SaltAndPepper(amount), quantization -> Posterize
(bits = round(log2 levels)), jpeg -> ImageCompression(quality), lowpass -> Downscale(scale, area/linear).
No albumentations equivalent: nlm_denoise -> cv2.fastNlMeansDenoisingColored(h), fnoise -> numpy FFT 1/f noise.

Prints a Markdown table and writes JSON rows {"task", "impl", "device", "images_per_s"} with --json.
``--quick`` (2 references x 20 images) runs in well under a minute on a laptop CPU.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import distortx  # noqa: E402
from distortx.data import writers  # noqa: E402
from distortx.data.generate import generate, plan_dataset  # noqa: E402
from distortx.data.sources import EmbeddedSource, prepare_reference  # noqa: E402
from distortx.data.stream import SynthesisStream  # noqa: E402

PRESET = "ahn-detection-basic"


# -- the peer pipeline ------------------------------------------------------------------------------------------
def _fnoise(img: np.ndarray, f: float, seed: int) -> np.ndarray:
    """1/f noise (amplitude ~ 1/|k|) scaled to std f/255, added: what a user would write with numpy."""
    h, w = img.shape[:2]
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((h, w, 3))
    ky, kx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    k = np.sqrt(kx * kx + ky * ky)
    k[0, 0] = 1.0
    shaped = np.real(np.fft.ifft2(np.fft.fft2(white, axes=(0, 1)) / k[..., None], axes=(0, 1)))
    shaped *= (f / 255.0) / (shaped.std() + 1e-12)
    return np.clip(img / 255.0 + shaped, 0, 1).__mul__(255).round().astype(np.uint8)


def peer_apply(img: np.ndarray, name: str, values, seed: int) -> np.ndarray:
    """One region's distortion of the whole uint8 HxWx3 image with albumentations (or cv2/numpy)."""
    import albumentations as A
    import cv2

    v = float(values[0])
    if name == "gaussian_noise":
        t = A.GaussNoise(std_range=(math.sqrt(v), math.sqrt(v)), per_channel=True, p=1.0)
    elif name == "gaussian_blur":
        t = A.GaussianBlur(blur_limit=0, sigma_limit=(v, v), p=1.0)
    elif name == "salt_pepper":
        t = A.SaltAndPepper(amount=(v, v), p=1.0)
    elif name == "quantization":
        t = A.Posterize(num_bits=int(min(8, max(1, round(math.log2(max(v, 2)))))), p=1.0)
    elif name == "jpeg":
        q = int(round(v))
        t = A.ImageCompression(quality_range=(q, q), p=1.0)
    elif name == "lowpass":
        t = A.Downscale(scale_range=(v, v), interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}, p=1.0)
    elif name == "nlm_denoise":
        return cv2.fastNlMeansDenoisingColored(img, None, v * 255.0, v * 255.0, 7, 21)
    elif name == "fnoise":
        return _fnoise(img, v, seed)
    else:
        raise KeyError(name)
    return t(image=img)["image"]


def peer_unit(args):
    """Render (and optionally write) one reference's samples the albumentations way; returns images."""
    ref_path, recipes, out_dir = args
    clean = np.asarray(Image.open(ref_path).convert("RGB"))
    outs = []
    for rec in recipes:
        out = clean.copy()
        for r in rec.regions:
            x0, y0, x1, y1 = r.box
            out[y0:y1, x0:x1] = peer_apply(clean, r.name, r.values, r.seed)[y0:y1, x0:x1]
        if out_dir is not None:
            buf = io.BytesIO()
            Image.fromarray(out).save(buf, format="PNG", compress_level=writers.PNG_COMPRESS_LEVEL)
            (Path(out_dir) / f"{rec.reference:06d}_{rec.index:03d}.png").write_bytes(buf.getvalue())
        outs.append(out)
    return len(outs) if out_dir is not None else outs


def _one_thread() -> None:
    """Peer processes get one OpenCV thread, as distortx's generate workers get one torch thread."""
    import cv2

    cv2.setNumThreads(1)


# -- measurements -----------------------------------------------------------------------------------------------
def make_references(folder: Path, n: int, crop: int = 300) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    src = EmbeddedSource(n, size=crop)
    for i in range(n):
        crop_img, _ = prepare_reference(src.load(i), crop, resize=False)
        Image.fromarray(crop_img.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")


def bench(refs: Path, tmp: Path, device: str, workers: int, n_refs: int):
    rows = []
    preset, source, plan = plan_dataset(PRESET, images=refs, seed=0)
    n = plan.total
    units = [(str(refs / source.name(r)), plan.recipes(r)) for r in range(n_refs)]

    # warm-up (imports, native extension, lazy caches) outside the timings. OpenCV runs single-threaded in this
    # process until the peer's worker pool has forked: a forked child that sets the thread count of a pool whose
    # threads were started before the fork waits forever (seen with opencv-python-headless 5.1).
    import cv2

    default_cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    generate(PRESET, tmp / "warm", images=refs, count=4, seed=0, workers=1, progress=False, device=device)
    peer_unit((units[0][0], units[0][1][:2], None))

    t = time.perf_counter()
    generate(PRESET, tmp / "ours", images=refs, seed=0, workers=workers, progress=False, device=device)
    rows.append({"task": "to-disk", "impl": f"distortx ({workers} proc)", "device": device,
                 "images_per_s": n / (time.perf_counter() - t)})

    peer_out = tmp / "peer"
    peer_out.mkdir()
    t = time.perf_counter()
    with mp.get_context("fork").Pool(workers, initializer=_one_thread) as pool:
        done = sum(pool.map(peer_unit, [(p, recs, str(peer_out)) for p, recs in units], chunksize=1))
    assert done == n
    rows.append({"task": "to-disk", "impl": f"albumentations ({workers} proc)", "device": "cpu",
                 "images_per_s": n / (time.perf_counter() - t)})
    cv2.setNumThreads(default_cv2_threads)  # the streaming rows use the libraries' default threads

    stream = SynthesisStream(PRESET, images=refs, split=None, seed=0, batch_size=20, device=device,
                             shuffle=False, deterministic=False)
    t = time.perf_counter()
    got = 0
    for batch in stream:
        got += batch["images"].shape[0]
    if device == "cuda":
        torch.cuda.synchronize()
    assert got == n
    rows.append({"task": "streaming", "impl": "distortx", "device": device, "images_per_s": n / (time.perf_counter() - t)})

    t = time.perf_counter()
    got = 0
    for p, recs in units:
        imgs = peer_unit((p, recs, None))
        batch = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255.0)
        got += batch.shape[0]
    assert got == n
    rows.append({"task": "streaming", "impl": "albumentations", "device": "cpu", "images_per_s": n / (time.perf_counter() - t)})
    return rows


def bench_formats(refs: Path, tmp: Path, device: str, workers: int, n_refs: int, engines=("local", "ray")):
    """images/s, files and bytes of the same dataset written as folder / webdataset / parquet by the local and
    the Ray engine at 1 and ``workers`` workers (rows of task "format"); Ray rows only when Ray is installed."""
    rows = []
    _, _, plan = plan_dataset(PRESET, images=refs, seed=0)
    try:
        import ray  # noqa: F401
    except ImportError:
        engines = tuple(e for e in engines if e != "ray")
    for engine in engines:
        for w in sorted({1, workers}):
            for layout in ("folder", "webdataset", "parquet"):
                out = tmp / f"{engine}-{w}-{layout}"
                t = time.perf_counter()
                generate(PRESET, out, images=refs, seed=0, workers=w, progress=False, device=device, layout=layout,
                         shard_size=100, engine=engine)
                sec = time.perf_counter() - t
                files = [f for f in out.rglob("*") if f.is_file()]
                rows.append({"task": "format", "impl": f"{engine} {w} worker(s) {layout}", "device": device,
                             "images_per_s": plan.total / sec, "files": len(files),
                             "bytes": sum(f.stat().st_size for f in files)})
    return rows


def markdown_formats(rows) -> str:
    lines = ["| engine, workers, format | images/s | files | MB |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['impl']} | {r['images_per_s']:.1f} | {r['files']} | {r['bytes'] / 1e6:.1f} |")
    return "\n".join(lines)


def markdown(rows) -> str:
    lines = ["| task | impl | device | images/s | vs albumentations |", "|---|---|---|---:|---:|"]
    for r in rows:
        peer = next(x for x in rows if x["task"] == r["task"] and x["impl"].startswith("albumentations"))
        lines.append(f"| {r['task']} | {r['impl']} | {r['device']} | {r['images_per_s']:.1f} | "
                     f"{r['images_per_s'] / peer['images_per_s']:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 references x 20 images (< 1 minute)")
    ap.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--references", type=int, default=None, help="references (x 20 images each)")
    ap.add_argument("--formats", action="store_true",
                    help="instead: folder / webdataset / parquet x local / ray engine x 1 and --workers workers")
    args = ap.parse_args(argv)
    n_refs = args.references or (2 if args.quick else 10)
    tmp = Path(tempfile.mkdtemp(prefix="distortx-bench-"))
    try:
        make_references(tmp / "refs", n_refs)
        if args.formats:
            rows = bench_formats(tmp / "refs", tmp, args.device, args.workers, n_refs)
        else:
            rows = bench(tmp / "refs", tmp, args.device, args.workers, n_refs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.formats:
        print(f"{PRESET}: {n_refs} references x 20 images, 300x300, shards of 100 images")
        print(markdown_formats(rows))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
        return 0
    for r in rows:
        r["images_per_s"] = round(r["images_per_s"], 2)
    print(f"{PRESET}: {n_refs} references x 20 images, 300x300, distortx {distortx.__version__}, torch {torch.__version__}")
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
