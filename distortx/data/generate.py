"""Dataset generation: sources -> recipes -> rendered images -> files, with workers, shards and resume.

Work is split into units, one per reference image. A unit renders all its samples in one batch and writes its
PNGs, then its part file (``parts/<ref>.json``); the part's presence marks the unit done, so a run that was
interrupted (crash, kill, full disk) resumes where it stopped and ends with exactly the bytes an
uninterrupted run writes. Units are independent (each draws from ``mix_seed(seed, ref, j)``) and every
process renders with one intra-op thread, so ``--workers`` changes the speed, never the bytes.

Sharding: shard ``(i, n)`` renders the units ``ref % n == i`` into its own folder, with a manifest marking it a
shard; :func:`distortx.data.merge.merge` joins the shards into the folder a single run would write. When no
shard is given and ``WORLD_SIZE`` > 1 in the environment (torchrun), the shard is ``(RANK, WORLD_SIZE)``;
``{rank}`` in the output path is replaced by the shard index so ranks can share one command line. A shard
with no reference (more shards than references) is complete and empty, and merges like any other.

A run that stops before writing any image (bad sources, Ctrl-C at once) removes the output folder it created,
so the corrected command can reuse it; a folder left holding no image by a killed run is reused too.
"""
from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool
import dataclasses
import errno
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..distortions.spec import check_seed
from ..errors import DatasetError, ImageError
from ..io import to_uint8_image
from ..processes import die_with_parent
from . import writers
from .preset import PresetSpec
from .sources import ImageSource, open_source, prepare_reference
from .synthesis import Plan, impl_label, render, resolve_impl, torch_threads
from .user_preset import resolve_preset

#: keys of the manifest that identify a dataset (a resumed run must match them)
CONFIG_KEYS = ("format", "distortx_version", "preset", "task", "seed", "count", "per_image", "device", "impl",
               "sources", "references", "categories", "first_class_id")


def _preset_record(preset: PresetSpec) -> Dict[str, Any]:
    """The preset as the manifest records it: its fields, ``overlap`` only when not the default "occlude" (so a
    dataset made before that field existed still resumes: its manifest matches)."""
    record = dataclasses.asdict(preset)
    if record.get("overlap") == "occlude":
        del record["overlap"]
    return record


@dataclasses.dataclass
class GenerateReport:
    """What a generation run did (``--json`` prints :meth:`to_dict`)."""

    out: str
    preset: str
    shard: Optional[Tuple[int, int]]
    images: int               # images in the (shard's) dataset
    written: int              # images rendered by this run (the rest were already there)
    references: int
    skipped: List[Dict[str, str]]
    upscaled: List[str]
    seconds: float
    label_files: Dict[str, str]
    complete: bool
    requested: Optional[int] = None  # --count, when given
    references_per_split: Dict[str, int] = dataclasses.field(default_factory=dict)  # references used
    warnings: List[str] = dataclasses.field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["shard"] = list(self.shard) if self.shard else None
        d["images_per_s"] = round(self.images_per_s, 3)
        return d

    def summary(self) -> str:
        where = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        per = ", ".join(f"{s} {n}" for s, n in self.references_per_split.items())
        per = f" ({per})" if per and not self.shard else ""
        lines = [f"{self.out}{where}: {self.images} images from {self.references} references{per}, preset {self.preset}; "
                 f"rendered {self.written} in {self.seconds:.1f} s ({self.images_per_s:.1f} images/s)"]
        if self.requested is not None and self.images < self.requested and not self.shard:
            lines.append(f"note: {self.requested} images requested; the sources give only {self.images}")
        lines += [f"warning: {w}" for w in self.warnings]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable file(s): "
                         + "; ".join(f"{s['reference']} ({s['reason']})" for s in self.skipped[:5])
                         + (" ..." if len(self.skipped) > 5 else ""))
        if self.upscaled:
            lines.append(f"upscaled {len(self.upscaled)} image(s) smaller than the crop")
        if self.label_files:
            lines.append("labels: " + ", ".join(self.label_files[s] for s in self.label_files))
        elif self.shard:
            lines.append("shard done: join the shards with `distortx merge OUT SHARD_DIR...`")
        return "\n".join(lines)


def parse_shard(shard: Union[None, str, Tuple[int, int]]) -> Optional[Tuple[int, int]]:
    """"I/N" or (I, N) -> (I, N); None -> (RANK, WORLD_SIZE) from the environment when WORLD_SIZE > 1."""
    if shard is None:
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world > 1:
            return int(os.environ.get("RANK", "0")), world
        return None
    if isinstance(shard, str):
        try:
            i, n = (int(v) for v in shard.split("/"))
        except ValueError:
            raise DatasetError(f"--shard must look like I/N (e.g. 0/4), got {shard!r}") from None
    else:
        i, n = (int(v) for v in shard)
    if n < 1 or not 0 <= i < n:
        raise DatasetError(f"shard {i}/{n}: need 0 <= I < N")
    return None if n == 1 else (i, n)


def check_device(device: str) -> str:
    """The device type ("cpu" or "cuda") of ``device``, or :class:`DatasetError` when it cannot be used here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DatasetError(f"device must be cpu or cuda (cuda:0, ...), got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DatasetError(f"device {device!r} requested but CUDA is not available here (use --device cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise DatasetError(f"device must be cpu or cuda, got {device!r}")
    return dev.type


def check_memory(preset: PresetSpec, plan: Plan, workers: int = 1) -> None:
    """Refuse a run whose rendering would not fit in memory: each worker holds one reference's images as
    float32 several times over (clean copies, the result, scratch, the PNGs): ~4 x images x 3 x crop^2 x 4 bytes."""
    per_unit = 4 * max(plan.samples + [1]) * 3 * preset.crop ** 2 * 4
    need = per_unit * max(1, min(workers, len(plan.units())))
    have = available_memory()
    if have is not None and need > 0.8 * have:
        gib = 2.0 ** 30
        raise DatasetError(
            f"preset {preset.name!r}: crop {preset.crop} x {max(plan.samples)} images per reference needs about "
            f"{per_unit / gib:.1f} GiB per worker ({need / gib:.1f} GiB with {max(1, workers)} worker(s)), more than "
            f"the {have / gib:.1f} GiB available; lower crop or per_image, or use fewer --workers")


def available_memory() -> Optional[int]:
    """Bytes of memory available to new allocations (Linux MemAvailable, else physical memory), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def describe_images(images) -> Optional[Dict[str, str]]:
    """The ``--images`` folder as given and resolved (the manifest's ``images``), or None for other sources."""
    if isinstance(images, (str, os.PathLike)):
        return {"given": str(images), "resolved": str(Path(images).resolve())}
    return None


def build_config(preset: PresetSpec, plan: Plan, source: ImageSource, seed: int, count: Optional[int],
                 device: str, impl: str) -> Dict[str, Any]:
    from .._version import __version__

    categories = []
    for name in plan.classes:
        entry: Dict[str, Any] = {"id": plan.class_id(name), "name": name, "param_names": plan.param_names(name)}
        if preset.task == "detection":
            entry["supercategory"] = "distortion"
        if name in plan.level_sets:
            spec = plan.specs[name]
            entry["level_set"] = spec.level_set(plan.level_sets[name]).name if spec.levels else None
        categories.append(entry)
    config = {
        "format": writers.FORMAT, "distortx_version": __version__,
        "preset": _preset_record(preset), "task": preset.task, "seed": int(seed),
        "count": None if count is None else int(count), "per_image": plan.per_image,
        "device": device, "impl": impl_label(impl, device), "sources": source.describe(), "references": plan.n_refs,
        "categories": categories, "first_class_id": plan.class_offset,
    }
    return json.loads(writers.json_bytes(config))  # JSON types (lists, not tuples): compares with a manifest


# -- one unit -----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Job:
    plan: Plan
    source: ImageSource
    out: Path
    device: str
    impl: str
    layout: str = "folder"        # folder | webdataset | parquet


def run_unit(job: _Job, ref: int, pool: Optional[cf.Executor] = None, collect: Optional[list] = None,
             shard_rel: str = "") -> int:
    """Render reference ``ref``'s samples, write their PNGs then the part file. Returns images written.
    With ``collect`` (shard formats), the samples are appended to it as (key, png bytes, record) and the part
    is returned for the shard to write after the shard file: nothing is written here."""
    plan, S = job.plan, job.plan.preset.crop
    name = job.source.name(ref)
    part: Dict[str, Any] = {"reference": name, "reference_id": ref, "split": plan.splits[ref]}
    try:
        img = job.source.load(ref)
    except ImageError as exc:
        part.update(status="skipped", reason=str(exc), upscaled=False, samples=[])
        if collect is not None:
            collect.append(("part", ref, part))
            return 0
        writers.write_bytes(job.out / writers.part_relpath(ref), writers.json_bytes(part))
        return 0
    crop, upscaled = prepare_reference(img, S, plan.preset.resize)
    recipes = plan.recipes(ref)
    with torch_threads(1 if job.device == "cpu" else None):
        # the CPU kernel's uint8 path renders uint8 crops directly (no float round trip); other devices in float
        clean = crop if job.device == "cpu" else crop.to(job.device).float().div_(255.0)
        images = to_uint8_image(render(clean, recipes, job.impl, plan.preset.overlap)).cpu()

    if collect is not None:
        shard = shard_rel
        pngs = list(pool.map(lambda b: writers.encode_png(images[b]), range(len(recipes)))) if pool is not None else \
            [writers.encode_png(images[b]) for b in range(len(recipes))]
        samples = []
        for r, png in zip(recipes, pngs):
            key = writers.sample_key(r.reference, r.index)
            rec = dict(writers.sample_record(plan, r, name, S), file=f"{shard}#{key}.png")
            samples.append(rec)
            collect.append((key, png, rec))
        part.update(status="ok", reason="", upscaled=bool(upscaled), samples=samples)
        collect.append(("part", ref, part))
        return len(recipes)

    def write(b: int) -> None:
        rec = recipes[b]
        writers.write_bytes(job.out / writers.image_relpath(rec.split, rec.reference, rec.index), writers.encode_png(images[b]))

    if pool is not None:
        list(pool.map(write, range(len(recipes))))
    else:
        for b in range(len(recipes)):
            write(b)
    part.update(status="ok", reason="", upscaled=bool(upscaled),
                samples=[writers.sample_record(plan, r, name, S) for r in recipes])
    writers.write_bytes(job.out / writers.part_relpath(ref), writers.json_bytes(part))
    return len(recipes)


def run_shard(job: _Job, shard_rel: str, refs: Sequence[int], pool: Optional[cf.Executor] = None) -> int:
    """Render the references of one shard, write the shard file (atomically), then their part files."""
    collected: list = []
    written = sum(run_unit(job, r, pool, collect=collected, shard_rel=shard_rel) for r in refs)
    samples = [c for c in collected if c[0] != "part"]
    if samples:
        writers.write_bytes(job.out / shard_rel, writers.shard_bytes(job.layout, samples))
    for _, ref, part in (c for c in collected if c[0] == "part"):
        writers.write_bytes(job.out / writers.part_relpath(ref), writers.json_bytes(part))
    return written


def _run(job: _Job, unit: Tuple, pool: Optional[cf.Executor] = None) -> int:
    """A unit of work: (ref,) in the folder layout, or (shard relpath, ref, ref, ...) for a shard."""
    return run_shard(job, unit[0], unit[1:], pool) if job.layout != "folder" else run_unit(job, unit[0], pool)


def _unit_refs(unit: Tuple) -> Tuple[int, ...]:
    return tuple(r for r in unit if not isinstance(r, str))


def _ray_unit(job: _Job, unit: Tuple) -> Tuple[Tuple, int]:
    torch.set_num_threads(1)
    return unit, _run(job, unit)


def run_with_ray(job: _Job, todo: Sequence[Tuple[int, ...]], workers: int, address: Optional[str], on_done) -> int:
    """The same units as Ray tasks (one CPU each): on a local Ray of ``workers`` CPUs, or on the cluster at
    ``address`` (every node must see ``job.out`` and the images at the same paths). ``on_done(unit)`` per unit."""
    try:
        import ray
    except ImportError:
        raise DatasetError("--engine ray needs Ray: pip install 'ray>=2.9' (or pip install -e '.[ray]')") from None
    started = not ray.is_initialized()
    if started:
        kwargs = {"address": address} if address else {"num_cpus": workers}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
    try:
        task = ray.remote(num_cpus=1)(_ray_unit)
        job_ref = ray.put(job)
        pending = [task.remote(job_ref, unit) for unit in todo]
        written = 0
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            unit, n = ray.get(done[0])
            written += n
            on_done(unit)
        return written
    finally:
        if started:
            ray.shutdown()


_WORKER_JOB: Optional[_Job] = None


def _init_worker(job: _Job, parent_pid: int) -> None:
    global _WORKER_JOB
    die_with_parent(parent_pid)
    _WORKER_JOB = job
    torch.set_num_threads(1)


def _worker_unit(unit: Tuple) -> Tuple[Tuple, int]:
    return unit, _run(_WORKER_JOB, unit)


# -- the output folder --------------------------------------------------------------------------------------
def _holds_images(out: Path) -> bool:
    return ((out / "images").is_dir() and any(p.is_file() for p in (out / "images").rglob("*.png"))) or \
        ((out / "shards").is_dir() and any(p.is_file() for p in (out / "shards").glob("data-*")))


def _sources_text(m: Dict[str, Any]) -> str:
    images = m.get("images")
    if images:
        where = images["given"] if images["given"] == images["resolved"] else f"{images['given']} ({images['resolved']})"
        return f"--images {where}"
    return f"{(m.get('sources') or {}).get('kind', 'unknown')} images"


def _reset_imageless(out: Path) -> None:
    """Remove the manifest and part files of a run that wrote no image (what a new run may replace)."""
    (out / writers.MANIFEST).unlink(missing_ok=True)
    if (out / "parts").is_dir():
        for p in (out / "parts").glob("*.json"):
            p.unlink()


def prepare_out(out: Path, config: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Create/check the output folder; returns the existing manifest (resume) or None. Removes stale temp files."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise DatasetError(f"{out}: output folder is not writable (choose another --out)")
    mpath = out / writers.MANIFEST
    existing = None
    if mpath.exists():
        try:
            existing = writers.read_json(mpath)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{mpath}: unreadable manifest ({exc}); remove the folder or choose another --out") from exc
        diff = [k for k in CONFIG_KEYS if existing.get(k) != config.get(k)]
        if existing.get("shard") != config.get("shard"):
            diff.append("shard")
        if diff and existing.get("status") != "complete" and not _holds_images(out):
            _reset_imageless(out)  # an earlier run stopped before its first image: nothing to keep
            existing, diff = None, []
        if diff:
            why = ""
            if "sources" in diff:
                why = f": it was made from {_sources_text(existing)}, this run reads {_sources_text(config)}"
            raise DatasetError(
                f"{out} holds a different dataset ({', '.join(diff)} differ{why}); use a new --out or delete it to regenerate"
            )
    else:
        foreign = [p.name for p in out.iterdir() if p.name not in ("images", "shards", "parts", "annotations", "labels")
                   and not p.name.startswith(".")]
        if foreign:
            raise DatasetError(f"{out} is not empty and holds no distortx manifest (found {foreign[0]!r}); choose an empty or new --out")
    for tmp in out.rglob(".*.tmp"):  # left by a killed run (atomic writes never leave partial real files)
        try:
            tmp.unlink()
        except OSError:
            pass
    return existing


def _read_parts(out: Path, refs: Sequence[int]) -> List[Dict[str, Any]]:
    return [writers.read_json(out / writers.part_relpath(r)) for r in refs]


def finalize(out: Path, config: Dict[str, Any], units: Sequence[int]) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Write label files (unsharded only) and the complete manifest from the parts of ``units``. A shard
    may be empty; a whole dataset needs an image."""
    parts = _read_parts(out, units)
    report = writers.summarize(config, parts)
    if report["counts"]["images"] == 0 and config.get("shard") is None:
        n = len(report["skipped"])
        first = "; ".join(f"{s['reference']} ({s['reason']})" for s in report["skipped"][:3])
        raise DatasetError(f"no readable images: all {n} reference(s) were skipped: {first}")
    files: Dict[str, str] = {}
    if config.get("shard") is None:
        files = writers.write_labels(out, config, parts)
    manifest = dict(config, status="complete", label_files=files, **report)
    writers.write_bytes(out / writers.MANIFEST, writers.manifest_bytes(manifest))
    return manifest, files


def _disk_error(exc: OSError, out: Path, written: int) -> DatasetError:
    what = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
    return DatasetError(
        f"{out}: {what} after {written} new image(s); everything written so far is kept: "
        f"fix it and rerun the same command to resume"
    )


# -- entry point --------------------------------------------------------------------------------------------
def plan_dataset(preset, images=None, count: Optional[int] = None, per_image: Optional[int] = None,
                 seed: int = 0) -> Tuple[PresetSpec, ImageSource, Plan]:
    """Resolve the preset, open the source (embedded: enough references for ``count``) and compile the plan."""
    preset = resolve_preset(preset)
    seed = check_seed(seed)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise DatasetError(f"--count must be an integer >= 1, got {count!r}")
    if per_image is not None and (isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1):
        raise DatasetError(f"--per-image must be an integer >= 1, got {per_image!r}")
    per_ref = Plan(preset, seed, 1, per_image=per_image).per_reference
    n_needed = Plan.references_for(count, per_ref) if count is not None else None
    source = open_source(images, n_needed, size=preset.crop)
    problems = source.problems()
    if len(problems) == len(source):
        first = "; ".join(f"{source.name(i)} ({problems[i]})" for i in sorted(problems)[:3])
        raise DatasetError(f"no readable images: all {len(source)} reference(s) are unreadable: {first}")
    plan = Plan(preset, seed, len(source), count=count, per_image=per_image, unusable=problems)
    return preset, source, plan


def generate(
    preset: Union[str, Path, PresetSpec],
    out: Union[str, Path],
    images=None,
    count: Optional[int] = None,
    per_image: Optional[int] = None,
    seed: int = 0,
    device: str = "cpu",
    workers: int = 1,
    shard: Union[None, str, Tuple[int, int]] = None,
    impl: str = "auto",
    progress: bool = True,
    layout: str = "folder",
    shard_size: int = 1000,
    engine: str = "local",
    address: Optional[str] = None,
) -> GenerateReport:
    """Generate (or resume) a dataset in ``out``. See the module docstring and ``distortx generate --help``.

    layout: "folder" (PNG files), "webdataset" (tar shards) or "parquet" (Parquet shards) of about
    ``shard_size`` images each (see :mod:`distortx.data.writers`); the images are the same bytes in every layout.
    engine: "local" (this machine's processes) or "ray" (Ray tasks: a local Ray of ``workers`` CPUs, or the
    cluster at ``address``); the output does not depend on it.

    images: folder path, tensors, an :class:`ImageSource`, or None (embedded samples + dead leaves).
    count: total images (default: every reference x the preset's images per reference).
    workers: processes (CPU); the output does not depend on it.
    """
    t0 = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DatasetError(f"--workers must be an integer >= 1, got {workers!r}")
    device = check_device(device)
    if engine not in ("local", "ray"):
        raise DatasetError(f"--engine must be local or ray, got {engine!r}")
    if layout not in ("folder",) + writers.SHARD_FORMATS:
        raise DatasetError(f"--format must be folder, webdataset or parquet, got {layout!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise DatasetError(f"--shard-size must be an integer >= 1, got {shard_size!r}")
    if layout == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DatasetError("--format parquet needs pyarrow: pip install pyarrow") from None
    shard_t = parse_shard(shard)
    preset, source, plan = plan_dataset(preset, images, count, per_image, seed)
    impl = resolve_impl(impl)
    check_memory(preset, plan, workers if device == "cpu" else 1)
    out = Path(str(out).replace("{rank}", str(shard_t[0] if shard_t else 0)))
    config = build_config(preset, plan, source, seed, count, device, impl)
    config["shard"] = list(shard_t) if shard_t else None
    config["images"] = describe_images(images)
    if layout != "folder":
        config.update(layout=layout, shard_size=shard_size)
    existed = out.exists()
    created = not existed or (out.is_dir() and not any(out.iterdir()))
    existing = prepare_out(out, config)
    try:
        return _generate(preset, plan, source, out, config, existing, shard_t, device, impl, workers, progress, count, t0,
                         layout, shard_size, engine, address)
    except BaseException:
        if created and not _holds_images(out):  # nothing worth keeping: let the corrected command start afresh
            _remove_created(out, keep_folder=existed)
        raise


def _remove_created(out: Path, keep_folder: bool) -> None:
    """Remove what this run wrote into ``out`` (it was empty or absent before)."""
    if not keep_folder:
        shutil.rmtree(out, ignore_errors=True)
        return
    for p in out.iterdir():
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _generate(preset: PresetSpec, plan: Plan, source: ImageSource, out: Path, config: Dict[str, Any],
              existing: Optional[Dict[str, Any]], shard_t: Optional[Tuple[int, int]], device: str, impl: str,
              workers: int, progress: bool, count: Optional[int], t0: float, layout: str = "folder",
              shard_size: int = 1000, engine: str = "local", address: Optional[str] = None) -> GenerateReport:
    units = plan.units(shard_t or (0, 1))
    done = [r for r in units if (out / writers.part_relpath(r)).exists()]
    done_set = set(done)
    per_shard = max(1, shard_size // max(1, plan.per_reference))
    groups: Dict[Any, List[Any]] = {}
    for k, r in enumerate(units):  # the folder layout's unit is one reference; a shard's, its references
        if layout == "folder":
            groups[r] = [r]
        else:  # unsharded: shard ref // R; machine i of n: its own shards, numbered over its references
            name = writers.shard_relpath(layout, r // per_shard) if shard_t is None else \
                writers.shard_relpath(layout, k // per_shard, shard_t)
            groups.setdefault(name, [name]).append(r)
    todo = [tuple(g) for g in groups.values() if not all(r in done_set for r in _unit_refs(tuple(g)))]
    if existing is None or existing.get("status") != "complete" or todo:
        try:
            writers.write_bytes(out / writers.MANIFEST, writers.manifest_bytes(dict(config, status="running")))
        except OSError as exc:
            raise _disk_error(exc, out, 0) from exc
    total = sum(plan.num_samples(r) for r in units)
    initial = sum(plan.num_samples(r) for r in done)
    job = _Job(plan, source, out, device, impl, layout)
    written = 0
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, unit="img", desc=f"generate {preset.name}", disable=not progress,
               file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
    try:
        if engine == "ray" and todo:
            written += run_with_ray(job, todo, workers, address,
                                    lambda unit: bar.update(sum(plan.num_samples(r) for r in _unit_refs(unit))))
        elif workers <= 1 or len(todo) <= 1 or device != "cpu":
            with cf.ThreadPoolExecutor(max_workers=4) as pool:  # PNG encoding releases the GIL
                for unit in todo:
                    written += _run(job, unit, pool)
                    bar.update(sum(plan.num_samples(r) for r in _unit_refs(unit)))
        else:
            ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            ex = cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                        initializer=_init_worker, initargs=(job, os.getpid()))
            try:
                futures = [ex.submit(_worker_unit, unit) for unit in todo]
                for fut in cf.as_completed(futures):
                    unit, n = fut.result()
                    written += n
                    bar.update(sum(plan.num_samples(r) for r in _unit_refs(unit)))
            except BaseException:
                ex.shutdown(wait=True, cancel_futures=True)
                raise
            ex.shutdown(wait=True)
    except OSError as exc:
        raise _disk_error(exc, out, written) from exc
    except BrokenProcessPool as exc:
        raise DatasetError(f"{out}: a worker process died ({exc}); rerun the same command to resume") from exc
    finally:
        bar.close()
    try:
        manifest, files = finalize(out, config, units)
    except OSError as exc:
        raise _disk_error(exc, out, written) from exc
    per_split = plan.references_per_split()
    warnings = []
    if shard_t and not units:
        warnings.append(f"shard {shard_t[0]}/{shard_t[1]} holds no reference ({sum(per_split.values())} references "
                        f"for {shard_t[1]} shards): it is complete and empty, and merges like the others")
    elif not shard_t:
        empty = [s for s, n in per_split.items() if n == 0 and dict(preset.splits)[s] > 0]
        if empty:
            warnings.append(f"split(s) {', '.join(empty)} got no reference ({sum(per_split.values())} references used); "
                            f"give more images (--images) or a larger --count")
    return GenerateReport(
        out=str(out), preset=preset.name, shard=shard_t, images=manifest["counts"]["images"], written=written,
        references=manifest["counts"]["references"], skipped=manifest["skipped"], upscaled=manifest["upscaled"],
        seconds=time.perf_counter() - t0, label_files=files, complete=True, requested=count,
        references_per_split=per_split, warnings=warnings,
    )


__all__ = ["GenerateReport", "finalize", "generate", "parse_shard", "plan_dataset", "run_unit"]
