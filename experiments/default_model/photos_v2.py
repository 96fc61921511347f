"""The default model v2's reference photos: one list, split by reference, fixed before any training.

    python experiments/default_model/photos_v2.py [--shared ../shared/data] [--built DIR] [--out experiments/default_model/photos_v2]

Sources (nothing is committed but the list; see ../shared/data/README.md for each set's repository, commit, path
and licence):
  shared/data/photos/      174 PNG (BSD68, Set14, Set5, Urban100 downscaled): split as v1 (``prepare.split_of``),
                           so v1's 28 test photos stay test photos;
  shared/data/photos_v2/   850 JPEG q95 4:4:4 (ImageNet samples, BSDS500 test/val, Sun-Hays 80, Wikimedia);
  --built DIR              optional: the 918 more photos that ``shared/data/build_photos_v2.py --missing-only``
                           builds from the five pinned repositories (their names are in manifest_full.csv).
Photos whose shorter side is below 300 px (Ahn's image size) are left out.

Split of a photos_v2 name: the first byte of sha256("distortx-default-v2:" + name) < 26 -> test (~10 %),
< 39 -> val (~5 %), else train. A hash of the name alone, so the split of a photo never changes when the set
grows. ``split_v2.json`` (committed) lists every photo with its split, sha256 and size; this script refuses to
run when a listed photo's bytes differ from its recorded sha256 (the test set is fixed).
Output: ``<out>/{train,val,test}/`` holding symbolic links to the photos (whole photos: training cuts random
300-px crops per epoch; val/test use the 300-px centre crop).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from prepare import split_of as split_of_v1  # noqa: E402

MIN_SIDE = 300
LIST = HERE / "split_v2.json"


def split_of_v2(name: str) -> str:
    b = hashlib.sha256(f"distortx-default-v2:{name}".encode()).digest()[0]
    return "test" if b < 26 else "val" if b < 39 else "train"


def candidates(shared: Path, built: Path | None):
    """(set, name, path) of every available photo."""
    for p in sorted((shared / "photos").glob("*.png")):
        yield "photos", p.name, p
    v2 = shared / "photos_v2"
    have = set()
    for p in sorted(v2.glob("*.jpg")):
        have.add(p.name)
        yield "photos_v2", p.name, p
    if built is not None:
        with open(v2 / "manifest_full.csv", newline="") as f:
            listed = {row["file"] for row in csv.DictReader(f)}
        for p in sorted(built.glob("*.jpg")):
            if p.name in listed and p.name not in have:
                yield "photos_v2", p.name, p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(HERE.parents[2] / "shared" / "data"))
    ap.add_argument("--built", default=None, help="folder of photos built by build_photos_v2.py --missing-only")
    ap.add_argument("--out", default=str(HERE / "photos_v2"))
    ap.add_argument("--write-list", action="store_true", help="(re)write split_v2.json from what is found")
    args = ap.parse_args()
    shared, built = Path(args.shared), (Path(args.built) if args.built else None)
    if not (shared / "photos_v2").is_dir():
        sys.exit(f"photos_v2.py: {shared / 'photos_v2'} not found; give --shared <path to shared/data>")
    recorded = json.loads(LIST.read_text())["photos"] if LIST.exists() else {}
    rows, paths = {}, {}
    for src, name, path in candidates(shared, built):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if name in recorded and recorded[name]["sha256"] != digest:
            sys.exit(f"photos_v2.py: {path} differs from the sha256 recorded in {LIST.name}; the split is fixed")
        with Image.open(path) as im:
            w, h = im.size
        if min(w, h) < MIN_SIDE:
            continue
        split = split_of_v1(name) if src == "photos" else split_of_v2(name)
        rows[name] = {"set": src, "split": split, "sha256": digest, "size": [w, h]}
        paths[name] = path
    missing = sorted(set(recorded) - set(rows))
    if args.write_list or not recorded:
        LIST.write_text(json.dumps({"rule": __doc__.split("Split of")[1].split("Output:")[0].strip(),
                                    "photos": dict(sorted(rows.items()))}, indent=0) + "\n")
    elif missing:
        print(f"photos_v2.py: {len(missing)} listed photos not found (e.g. {missing[0]}); "
              "build them with build_photos_v2.py --missing-only and pass --built", file=sys.stderr)
    out = Path(args.out)
    counts = {"train": 0, "val": 0, "test": 0}
    for split in counts:
        d = out / split
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
    for name, row in rows.items():
        os.symlink(paths[name].resolve(), out / row["split"] / name)
        counts[row["split"]] += 1
    print(counts, "->", out)


if __name__ == "__main__":
    main()
