"""The ImageNet-C folder layout from a user's images: ``OUT/<corruption>/<severity>/<relative path>.png``.

Every image under ``images`` (recursively; class sub-folders such as ImageNet's are kept as they are) is read
once, resized as ImageNet-C does (shorter side to crop x 256 / 224, bilinear, then the centre crop), and
written corrupted at each severity of each corruption of the preset, losslessly. A sample's noise depends on
(seed, relative path, corruption, severity) only, so any order, batch size or rerun gives the same bytes;
files already written are kept and skipped, so an interrupted run resumes."""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Union

import torch
from PIL import Image

from ..data.preset import PresetSpec
from ..errors import DatasetError
from ..io import IMAGE_EXTENSIONS, atomic_write_bytes, encode_png, pil_to_rgb8
from .plugin import PREFIX, spec_of

MANIFEST = "corruptions.json"


@dataclass
class FolderReport:
    out: Path
    images: int
    written: int
    kept: int
    corruptions: List[str]
    severities: List[int]
    skipped: List[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.out}: {self.images} images x {len(self.corruptions)} corruptions x {len(self.severities)} "
                f"severities: {self.written} files written, {self.kept} already there"
                + (f"; {len(self.skipped)} unreadable image(s) skipped" if self.skipped else ""))


def sample_seed(seed: int, relative: str, corruption: str, severity: int) -> int:
    """A 63-bit seed from the run seed and the sample's identity (not its position)."""
    a = zlib.crc32(f"{relative}\0{corruption}\0{severity}".encode())
    b = zlib.crc32(f"{severity}\0{corruption}\0{relative}\0{seed}".encode())
    return ((a << 31) ^ b ^ (int(seed) * 0x9E3779B97F4A7C15)) & (2**63 - 1)


def imagenet_c_geometry(img: Image.Image, crop: int) -> torch.Tensor:
    """Shorter side to round(crop * 256 / 224) (bilinear), centre crop ``crop``: uint8 Tensor[3, crop, crop]."""
    img = pil_to_rgb8(img)
    w, h = img.size
    side = round(crop * 256 / 224)
    scale = side / min(w, h)
    img = img.resize((max(crop, round(w * scale)), max(crop, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - crop) // 2, (h - crop) // 2
    img = img.crop((left, top, left + crop, top + crop))
    return torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(crop, crop, 3).permute(2, 0, 1)


def write_corruption_folders(preset: PresetSpec, images: Union[str, Path], out: Union[str, Path], seed: int = 0,
                             severities: Sequence[int] = (1, 2, 3, 4, 5), batch_size: int = 16,
                             device: str = "cpu", progress: bool = True) -> FolderReport:
    """Write the layout for the corruptions of ``preset`` (its ``imagenet_c_*`` types). See the module docstring."""
    root, out = Path(images), Path(out)
    if not root.is_dir():
        raise DatasetError(f"--images {root}: no such folder (the ImageNet-C layout is made from your images)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DatasetError(f"--images {root}: no images ({', '.join(IMAGE_EXTENSIONS)}) in it or below it")
    names = [d[len(PREFIX):] for d in preset.distortions if d.startswith(PREFIX)]
    if len(names) != len(preset.distortions):
        raise DatasetError(f"preset {preset.name} has distortions outside the ImageNet-C family")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).write_text(json.dumps({"preset": preset.name, "images": str(root), "seed": seed,
                                            "crop": preset.crop, "corruptions": names,
                                            "severities": list(severities)}, indent=1) + "\n")
    from tqdm import tqdm

    written = kept = 0
    skipped: List[str] = []
    bar = tqdm(total=len(files), desc=preset.name, unit="img", disable=not progress, leave=False)
    for start in range(0, len(files), batch_size):
        chunk = files[start: start + batch_size]
        rel = [p.relative_to(root).with_suffix(".png").as_posix() for p in chunk]
        todo: Dict[tuple, List[int]] = {}
        for name in names:
            for s in severities:
                missing = [i for i, r in enumerate(rel) if not (out / name / str(s) / r).is_file()]
                kept += len(rel) - len(missing)
                if missing:
                    todo[(name, s)] = missing
        if todo:
            pixels, ok = [], []
            for i, p in enumerate(chunk):
                try:
                    with Image.open(p) as im:
                        pixels.append(imagenet_c_geometry(im, preset.crop))
                    ok.append(i)
                except (OSError, ValueError) as exc:
                    skipped.append(f"{p}: {exc}")
            batch8 = torch.stack(pixels).to(device) if pixels else None       # uint8 [N, 3, S, S]
            unit = None                                                       # its float form, made when needed
            for (name, s), wanted in todo.items():
                idx = [ok.index(i) for i in wanted if i in ok]
                if not idx:
                    continue
                spec = spec_of(name)
                seeds = torch.tensor([sample_seed(seed, rel[ok[j]], name, s) for j in idx], dtype=torch.int64,
                                     device=batch8.device)
                values = torch.full((len(idx), 1), float(s), device=batch8.device)
                if spec.reference_uint8 is not None:   # uint8 in, the float form's bytes out, no float image
                    y = spec.reference_uint8(batch8[idx], values, seeds).cpu()
                else:
                    if unit is None:
                        unit = batch8.float().div_(255.0)
                    y = spec.reference(unit[idx], values, seeds).clamp(0, 1)
                    y = torch.floor(y * 255.0 + 1e-3).to(torch.uint8).cpu()
                for j, img in zip(idx, y):
                    path = out / name / str(s) / rel[ok[j]]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_bytes(path, encode_png(img))
                    written += 1
        bar.update(len(chunk))
    bar.close()
    return FolderReport(out, len(files), written, kept, names, list(severities), skipped)


