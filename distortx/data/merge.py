"""Join the shards of a dataset (``distortx generate --shard I/N``) into the folder one machine would write.

Every shard holds the images and part files of its references plus a manifest marking it shard ``I`` of
``N``. Merging checks that the shards describe the same dataset (preset, seed, sources hash, ...) and that
all ``N`` are present and complete (an empty shard, from more shards than references, is complete too),
copies images then parts (atomically; a rerun skips references already copied), and writes the label files
and manifest with the same code as an unsharded run — so the result is byte-identical to it.

Shards written as WebDataset / Parquet (``--format``) are not copied: the merged folder is an index over them.
Its part and label files name each image ``<shard folder relative to OUT>/shards/...#<key>.png``, so the shard
folders must stay where they are.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Sequence, Union

from ..errors import DatasetError
from . import writers
from .generate import CONFIG_KEYS, finalize, prepare_out


def _read_manifest(d: Path) -> Dict:
    m = d / writers.MANIFEST
    if not m.is_file():
        raise DatasetError(f"{d}: not a generated dataset shard (no {writers.MANIFEST})")
    try:
        return writers.read_json(m)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{m}: unreadable manifest ({exc})") from exc


def merge(out: Union[str, Path], shard_dirs: Sequence[Union[str, Path]], progress: bool = False) -> Dict:
    """Merge ``shard_dirs`` into ``out``; returns the merged manifest. Raises :class:`DatasetError`."""
    out = Path(out)
    dirs = [Path(d) for d in shard_dirs]
    if not dirs:
        raise DatasetError("give at least one shard folder to merge")
    if any(out.resolve() == d.resolve() for d in dirs):
        raise DatasetError(f"{out}: the merged folder must not be one of the shards")
    manifests = [_read_manifest(d) for d in dirs]
    first = manifests[0]
    n = None
    seen: Dict[int, Path] = {}
    for d, m in zip(dirs, manifests):
        if m.get("shard") is None:
            raise DatasetError(f"{d}: is a complete dataset, not a shard (nothing to merge)")
        i, ni = m["shard"]
        n = ni if n is None else n
        if ni != n:
            raise DatasetError(f"{d}: shard {i}/{ni} does not belong with shards of {n}")
        diff = [k for k in CONFIG_KEYS if m.get(k) != first.get(k)]
        if diff:
            raise DatasetError(f"{d}: shard of a different dataset than {dirs[0]} ({', '.join(diff)} differ)")
        if m.get("status") != "complete":
            raise DatasetError(f"{d}: shard {i}/{n} is unfinished; rerun its generate command to resume it")
        if i in seen:
            raise DatasetError(f"{d}: shard {i}/{n} given twice (also {seen[i]})")
        seen[i] = d
    missing = sorted(set(range(n)) - set(seen))
    if missing:
        raise DatasetError(f"missing shard(s) {', '.join(f'{i}/{n}' for i in missing)}; merge needs all {n}")
    config = {k: first[k] for k in CONFIG_KEYS}
    for k in ("layout", "shard_size"):
        if k in first:
            config[k] = first[k]
    config["shard"] = None
    config["images"] = first.get("images")
    prepare_out(out, config)
    writers.write_bytes(out / writers.MANIFEST, writers.manifest_bytes(dict(config, status="running")))
    units: List[int] = []
    for d in dirs:
        for part_path in sorted((d / "parts").glob("*.json")):
            ref = int(part_path.stem)
            units.append(ref)
            dest = out / writers.part_relpath(ref)
            if dest.exists():
                continue
            part = writers.read_json(part_path)
            if "layout" in config:  # an index over the shard files, no copy
                prefix = os.path.relpath(d.resolve(), out.resolve())
                for rec in part["samples"]:
                    rec["file"] = f"{prefix}/{rec['file']}"
                writers.write_bytes(dest, writers.json_bytes(part))
                continue
            for rec in part["samples"]:
                src = d / rec["file"]
                try:
                    data = src.read_bytes()
                except OSError as exc:
                    raise DatasetError(f"{src}: missing image of shard {d} ({exc.strerror}); regenerate that shard") from exc
                writers.write_bytes(out / rec["file"], data)
            writers.write_bytes(dest, part_path.read_bytes())
    if len(set(units)) != len(units):
        raise DatasetError("two shards hold the same reference; were they generated with the same --shard N?")
    manifest, _ = finalize(out, config, sorted(units))
    return manifest
