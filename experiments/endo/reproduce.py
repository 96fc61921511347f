"""Endo, Tanaka, Okutomi, *CNN-based Classification of Degraded Images*, reproduced on CIFAR-10.

    python experiments/endo/reproduce.py --what jpeg|noise|both --device cpu|cuda --out DIR [--quick]

For each experiment (JPEG quality / Gaussian noise sigma):
1. train the degradation-parameter estimator (Uchida's dilated CNN, pixel-wise MSE, Adamax) on 64x64
   patches of --photos, degraded as the ``endo-jpeg`` / ``endo-noise`` preset draws (q ~ U{1..100},
   sigma ~ U[0, 50]) by distortx's synthesis (JPEG bit-exact with Pillow);
2. train the three CIFAR-10 classifiers of Endo's Table 1 on --cifar (20k train images): Org (clean
   images), Jpg / Noisy (degraded images, image only) and Jpg + Est. Q.F. / Noisy + Est. N.L. (degraded
   images + the frozen estimator's parameter), the same trunk and head for all three;
3. degrade the 10k test images at every q in 1..100 (every sigma in 0..50), score the three networks
   (and the parameter-aware one fed the true value), record the estimator's mean and S.D.;
4. write to --out: results.json, tables.md (the paper's Tables 2/3, 5/6 with its numbers beside ours and
   the baselines: JPEG quality from the file's quantisation tables; skimage's estimate_sigma),
   fig_accuracy_*.png, fig_estimator_*.png, the estimator weights (jpeg_quality.pt, noise_sigma.pt,
   loadable with weights_only=True) and log.txt.

Over several sessions (a CPU run at the paper's widths takes hours): --resume FILE keeps, in one file, the
training state of the network in training (every 5 minutes) and the test sweep of each finished one; the same
command again continues where it stopped (one experiment per file, steps fixed by --cls-epochs):

    python experiments/endo/reproduce.py --what jpeg --device cpu --threads 2 --cls-seconds 0 --cls-epochs 30 \
        --cls-batch 128 --width 64 --values-step 5 --estimator-weights distortx/estimation/weights \
        --seed 0 --out runs/table3_s0 --resume experiments/endo/table3/resume_s0.pt

Sizing: with --device cuda the training phases run on wall-clock budgets (--est-seconds JPEG_S,NOISE_S,
default 55,15; --cls-seconds, default 13, budgets the first classifier, Org, whose step count the other two
then train for: equal steps, a fair comparison; the step count is re-planned from the measured time per
step), so both experiments take about 3 minutes on an H100. Degradation is done in large batches
(an epoch of CIFAR at once, 32 batches of patches at once) so the codec does not dominate the steps.
--quick shrinks everything so the whole pipeline runs on one CPU thread in under 3 minutes (a smoke test,
not a result).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
import tomllib
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "configs"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))  # a source checkout works without installing distortx

from distortx.estimation import get_target, load_estimator, save_estimator  # noqa: E402
from distortx.estimation.baselines import jpeg_quality_pillow_tables, noise_sigma_skimage  # noqa: E402
from distortx.estimation.degrade import degrade  # noqa: E402
from distortx import train  # noqa: E402
from distortx.io import IMAGE_EXTENSIONS  # noqa: E402

import cifar  # noqa: E402
import paper  # noqa: E402
import report  # noqa: E402

EXPERIMENTS = {
    "jpeg": {"target": "jpeg_quality", "values": list(range(1, 101))},
    "noise": {"target": "noise_sigma", "values": list(range(0, 51))},
}

#: (cuda defaults, --quick defaults); any flag given on the command line wins
PROFILES = {
    "full": dict(est_steps=50000, est_seconds="55,15", est_batch=256, est_width=64, cls_epochs=100.0,
                 cls_seconds=13.0,
                 cls_batch=256, width=64, train_limit=0, test_limit=0, baseline_limit=1000, eval_batch=2500,
                 photo_limit=0),
    "quick": dict(est_steps=12, est_seconds=None, est_batch=8, est_width=16, cls_epochs=1.0, cls_seconds=None,
                  cls_batch=100, width=8, train_limit=1000, test_limit=100, baseline_limit=10, eval_batch=100,
                  photo_limit=8),
}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--what", choices=["jpeg", "noise", "both"], default="both")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (CPU, < 3 minutes)")
    ap.add_argument("--photos", type=Path, default=Path("/work/shared/data/photos"))
    ap.add_argument("--cifar", type=Path, default=Path("/work/shared/data/cifar10"))
    ap.add_argument("--estimator-weights", type=Path, default=None,
                    help="folder with jpeg_quality.pt / noise_sigma.pt: skip estimator training")
    ap.add_argument("--estimator-wait", type=float, default=0.0,
                    help="seconds to wait for --estimator-weights' file when the third network needs it (0: none)")
    ap.add_argument("--estimators-only", action="store_true",
                    help="train and save the estimators only (no CIFAR needed); reuse them with --estimator-weights")
    ap.add_argument("--plain-estimator", action="store_true",
                    help="Endo's estimator input exactly (no residual, no block-grid marks; see docs/endo.md)")
    ap.add_argument("--values-step", type=int, default=1,
                    help="evaluate every k-th q / sigma only (CPU runs; the interval means then average fewer values)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", type=Path, default=None,
                    help="one file (CPU runs over several sessions): each classifier's training state every few "
                         "minutes and the test sweep of each finished one; run again with the same flags to continue")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (CPU runs)")
    for name, typ in (("est_steps", int), ("est_seconds", str), ("est_batch", int), ("est_width", int),
                      ("cls_epochs", float), ("cls_seconds", float), ("cls_batch", int), ("width", int),
                      ("train_limit", int), ("test_limit", int), ("baseline_limit", int), ("eval_batch", int),
                      ("photo_limit", int)):
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None)
    a = ap.parse_args(argv)
    prof = PROFILES["quick" if a.quick else "full"]
    for k, v in prof.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    secs = [float(v) for v in str(a.est_seconds).split(",")] if a.est_seconds not in (None, "", "none") else [0.0]
    a.est_seconds = {"jpeg": secs[0] or None, "noise": secs[-1] or None}  # "JPEG_S[,NOISE_S]"; 0 = no budget
    if a.cls_seconds is not None and a.cls_seconds <= 0:
        a.cls_seconds = None
    return a


class Logger:
    def __init__(self, path: Path):
        self.f = open(path, "a")
        self.t0 = time.time()

    def __call__(self, msg: str) -> None:
        line = f"[{time.time() - self.t0:6.1f}s] {msg}"
        print(line, flush=True)
        self.f.write(line + "\n")
        self.f.flush()


def baseline(what: str, clean: torch.Tensor, truths) -> dict:
    """Mean and S.D. of the non-learned baseline at each truth value on ``clean`` (CPU float images)."""
    out = {}
    for t in truths:
        if what == "jpeg":
            est = jpeg_quality_pillow_tables(clean, t)
        else:
            noisy = degrade(clean, "gaussian_noise_sigma", torch.full((clean.shape[0],), float(t)),
                            torch.arange(clean.shape[0]))
            est = noise_sigma_skimage(noisy)
        out[str(t)] = {"mean": float(est.mean()), "sd": float(est.std(unbiased=False)), "n": int(clean.shape[0])}
    return out


def photo_folder(a, out: Path) -> Path:
    """--photos, or (with --photo-limit) a folder of links to its first photo_limit photos."""
    if not a.photo_limit:
        return a.photos
    names = sorted(p for p in a.photos.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[: a.photo_limit]
    folder = out / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    for p in names:
        if not (folder / p.name).exists():
            (folder / p.name).symlink_to(p.resolve())
    return folder


def train_estimator_only(what: str, a, dev: torch.device, log: Logger):
    """Train the estimator of experiment ``what`` with ``distortx train`` (the recipe of
    experiments/endo/configs/<target>.toml, sized by the flags); save it to --out. Returns (model, info)."""
    target = get_target(EXPERIMENTS[what]["target"])
    run = a.out / "runs" / target.name
    cfg = tomllib.loads((CONFIGS / f"{target.name}.toml").read_text())
    cfg["model"]["kwargs"]["width"] = a.est_width
    if a.plain_estimator:
        cfg["model"]["kwargs"].update(residual_gain=0.0, grid=0)
    cfg["data"] = {"images": str(photo_folder(a, a.out)), "seed": a.seed,
                   "regression": dict(cfg["data"]["regression"], batch_size=a.est_batch, val_split=None)}
    cfg["schedule"]["warmup_steps"] = min(100, max(1, a.est_steps // 10))
    cfg["train"].update(steps=a.est_steps, out=str(run), device=a.device, threads=a.threads, eval_every=0,
                        log_every=max(1, min(500, a.est_steps // 4)), checkpoint_every=a.est_steps,
                        max_minutes=a.est_seconds[what] / 60 if a.est_seconds[what] else None)
    log(f"[{what}] training the {target.name} estimator with distortx train (width {a.est_width}, batch "
        f"{a.est_batch} x 64x64, budget {a.est_seconds[what] or '-'} s) -> {run}")
    res = train(cfg, overwrite=True, progress=False)
    history = [r for r in (json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()) if "loss" in r]
    info = {"steps": res.step, "batch_size": a.est_batch, "width": a.est_width, "seconds": round(res.seconds, 1),
            "patches": res.step * a.est_batch, "run": str(run),
            "history": [{"step": r["step"], "loss": r["loss"], "pixel_rmse": math.sqrt(r["loss"]) * target.scale}
                        for r in history]}
    model = load_estimator(run / "model.pt", dev)
    save_estimator(model, a.out / f"{target.name}.pt",
                   {"trained_on": f"photos of {a.photos}, 64x64 patches", "steps": res.step, "batch_size": a.est_batch,
                    "device": str(dev), "seconds": round(res.seconds, 1), "script": "experiments/endo/reproduce.py",
                    "config": f"experiments/endo/configs/{target.name}.toml", "run": str(run)})
    return model, info


def get_estimator(what: str, a, dev: torch.device, data: dict, log: Logger):
    """The experiment's estimator: loaded from --estimator-weights, else trained. Returns (model, info)."""
    target = get_target(EXPERIMENTS[what]["target"])
    if a.estimator_weights is None:
        return train_estimator_only(what, a, dev, log)
    path = a.estimator_weights / f"{target.name}.pt"
    deadline = time.time() + a.estimator_wait
    if not path.is_file() and a.estimator_wait:
        log(f"[{what}] waiting up to {a.estimator_wait:.0f} s for {path}")
        while not path.is_file() and time.time() < deadline:
            time.sleep(10)
    log(f"[{what}] estimator loaded from {path}")
    return load_estimator(path, dev), {"loaded_from": str(path)}


#: what a resume file must agree on with the run that continues it
RESUME_KEYS = ("what", "seed", "cls_epochs", "cls_batch", "width", "train_limit", "test_limit", "values_step",
               "estimator_weights", "plain_estimator")


def resume_fingerprint(what: str, a) -> dict:
    return {k: str(what if k == "what" else getattr(a, k)) for k in RESUME_KEYS}


def read_resume(path: Path, what: str, a) -> dict:
    """The resume file's state ({"fingerprint", "finished": {kind: {"info", "sweep"}}, "current": training state}),
    empty when there is none; refused when it belongs to another run."""
    if not path.is_file():
        return {"fingerprint": resume_fingerprint(what, a), "finished": {}}
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != resume_fingerprint(what, a):
        raise SystemExit(f"{path} belongs to another run: {state.get('fingerprint')} (this one: "
                         f"{resume_fingerprint(what, a)}); give another --resume file")
    return state


def write_resume(path: Path, state: dict) -> None:
    """Replace the resume file in one step (a half-written file never replaces a whole one)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def run_experiment(what: str, a, dev: torch.device, data: dict, log: Logger) -> dict:
    if a.resume is not None:
        return run_experiment_resumable(what, a, dev, data, log)
    target = get_target(EXPERIMENTS[what]["target"])
    timings = {}
    ccfg = classifier_training(a)
    models, cls_info = {}, {}
    for kind in ("org", "deg", "est"):
        if kind == "est":  # the estimator is needed from here on (loaded late: it may still be training elsewhere)
            t = time.time()
            estimator, est_info = get_estimator(what, a, dev, data, log)
            timings["estimator"] = round(time.time() - t, 1)
        if kind == "deg" and ccfg.seconds is not None:
            # equal training for the three networks: the first one's budget fixes the step count of the others
            ccfg = dataclasses.replace(ccfg, seconds=None, steps=cls_info["org"]["steps"])
        t = time.time()
        log(f"[{what}] training classifier {kind} ({paper.NETWORKS[what][('org', 'deg', 'est').index(kind)]})")
        m, info = cifar.train_classifier(kind, target, data["train_x"], data["train_y"], ccfg,
                                         estimator=estimator if kind == "est" else None, log=log)
        models[kind] = (m, kind == "est")
        cls_info[kind] = info
        timings[f"classifier_{kind}"] = round(time.time() - t, 1)

    t = time.time()
    log(f"[{what}] evaluating on {data['test_x'].shape[0]} test images at "
        f"{len(EXPERIMENTS[what]['values'][:: a.values_step])} values")
    values = EXPERIMENTS[what]["values"][:: a.values_step]
    res = cifar.sweep(models, estimator, target, data["test_x"], data["test_y"], values, batch=a.eval_batch, known="est")
    timings["evaluation"] = round(time.time() - t, 1)
    return finish_experiment(what, a, data, res, est_info, cls_info, timings, log)


def classifier_training(a) -> "cifar.ClassifierTraining":
    return cifar.ClassifierTraining(epochs=a.cls_epochs, batch_size=a.cls_batch, width=a.width, seconds=a.cls_seconds,
                                    seed=a.seed, log_every=max(1, min(200, int(a.cls_epochs * 20000 / a.cls_batch) // 4)))


def run_experiment_resumable(what: str, a, dev: torch.device, data: dict, log: Logger) -> dict:
    """run_experiment over several sessions: each network is trained with its state saved to --resume every few
    minutes, then swept over the test values at once (so the file holds one network's state and the finished
    ones' accuracies, not their weights: ~19 MB at the paper's widths); a later run with the same flags continues
    where the file stops. Steps are fixed by --cls-epochs (no wall-clock budget)."""
    if a.cls_seconds is not None:
        raise SystemExit("--resume needs a step count, not a time budget: give --cls-seconds 0 and --cls-epochs")
    if a.what == "both":
        raise SystemExit("--resume holds one experiment: give --what jpeg or --what noise")
    target = get_target(EXPERIMENTS[what]["target"])
    state = read_resume(a.resume, what, a)
    ccfg = classifier_training(a)
    values = EXPERIMENTS[what]["values"][:: a.values_step]
    t = time.time()
    estimator, est_info = get_estimator(what, a, dev, data, log)
    timings = {"estimator": round(time.time() - t, 1)}
    for kind in ("org", "deg", "est"):
        if kind in state["finished"]:
            log(f"[{what}] classifier {kind}: trained and swept before ({a.resume})")
            continue
        current = state.get("current") if (state.get("current") or {}).get("kind") == kind else None

        def save(training: dict) -> None:
            state["current"] = training
            write_resume(a.resume, state)
            log(f"  {kind:>3} state saved at step {training['step']} to {a.resume}")

        t = time.time()
        log(f"[{what}] training classifier {kind} ({paper.NETWORKS[what][('org', 'deg', 'est').index(kind)]})")
        m, info = cifar.train_classifier(kind, target, data["train_x"], data["train_y"], ccfg,
                                         estimator=estimator if kind == "est" else None, log=log, resume=current,
                                         on_checkpoint=save)
        log(f"[{what}] sweeping classifier {kind} over {data['test_x'].shape[0]} test images at {len(values)} values")
        swept = cifar.sweep({kind: (m, kind == "est")}, estimator, target, data["test_x"], data["test_y"], values,
                            batch=a.eval_batch, known="est" if kind == "est" else None)
        info["seconds_this_session"] = round(time.time() - t, 1)
        state["finished"][kind] = {"info": info, "sweep": swept}
        state.pop("current", None)
        write_resume(a.resume, state)
    res = {"acc": {}, "est_mean": state["finished"]["est"]["sweep"]["est_mean"],
           "est_sd": state["finished"]["est"]["sweep"]["est_sd"]}
    for kind in ("org", "deg", "est"):
        res["acc"].update(state["finished"][kind]["sweep"]["acc"])
    cls_info = {kind: state["finished"][kind]["info"] for kind in ("org", "deg", "est")}
    return finish_experiment(what, a, data, res, est_info, cls_info, timings, log)


def finish_experiment(what: str, a, data: dict, res: dict, est_info: dict, cls_info: dict, timings: dict,
                      log: Logger) -> dict:
    """The baselines and the interval rows added to a sweep's results."""
    t = time.time()
    n_base = min(a.baseline_limit, data["test_x"].shape[0])
    try:
        res["baseline"] = baseline(what, data["test_x"][:n_base].cpu().float().div(255.0), sorted(paper.ESTIMATOR[what]))
    except Exception as exc:  # a missing optional package must not cost the whole run
        log(f"[{what}] baseline skipped: {type(exc).__name__}: {exc}")
        res["baseline"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    timings["baseline"] = round(time.time() - t, 1)
    res.update({"estimator": est_info, "classifiers": cls_info, "timings_s": timings,
                "intervals": report.interval_rows(what, res)})
    return res


def write_outputs(a, results: dict, meta: dict) -> None:
    def keys_to_str(d):
        if isinstance(d, dict):
            return {str(k): keys_to_str(v) for k, v in d.items()}
        if isinstance(d, list):
            return [keys_to_str(v) for v in d]
        return d

    (a.out / "results.json").write_text(json.dumps(keys_to_str({"meta": meta, "experiments": results}), indent=1))
    md = [f"# Endo et al. reproduced: {meta['device_name']}, total {meta.get('total_s', '?')} s"
          f"{' (--quick smoke run: not a result)' if a.quick else ''}\n"]
    for what, res in results.items():
        n = {"jpeg": (2, 3), "noise": (5, 6)}[what]
        md.append(f"## {what}: estimator (Table {n[0]})\n\n" + report.estimator_table(what, res))
        md.append(f"## {what}: interval mean accuracy (Table {n[1]})\n\n" + report.interval_table(what, res))
        figs = report.figures(what, res, a.out)
        md.append("\n".join(f"![{f}]({f})" for f in figs) + "\n")
        md.append(f"timings (s): {json.dumps(res['timings_s'])}\n")
    (a.out / "tables.md").write_text("\n".join(md))


def main(argv=None) -> int:
    a = parse_args(argv)
    t_start = time.time()
    a.out.mkdir(parents=True, exist_ok=True)
    log = Logger(a.out / "log.txt")
    dev = torch.device(a.device)
    if dev.type == "cpu":
        torch.set_num_threads(a.threads)
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({platform.processor() or 'cpu'}, {a.threads} thread(s))"
    log(f"device {name}; torch {torch.__version__}; args {vars(a)}")
    from distortx._ext import native_available

    meta = {"device_name": name, "torch": torch.__version__, "python": platform.python_version(),
            "native_core": native_available(), "args": {k: str(v) for k, v in vars(a).items()}}
    whats = ["jpeg", "noise"] if a.what == "both" else [a.what]
    if a.estimators_only:
        info = {}
        for what in whats:
            info[what] = train_estimator_only(what, a, dev, log)[1]
        meta["total_s"] = round(time.time() - t_start, 1)
        (a.out / "estimators.json").write_text(json.dumps({"meta": meta, "estimators": info}, indent=1))
        log(f"done in {meta['total_s']} s; wrote the estimator weights to {a.out}")
        return 0
    t = time.time()
    data = {}
    train_x, train_y = cifar.load_split(a.cifar, "train", a.train_limit)
    test_x, test_y = cifar.load_split(a.cifar, "test", a.test_limit)
    data.update(train_x=train_x.to(dev), train_y=train_y.to(dev), test_x=test_x.to(dev), test_y=test_y.to(dev))
    meta["load_s"] = round(time.time() - t, 1)
    log(f"data: {train_x.shape[0]} train / {test_x.shape[0]} test CIFAR images, "
        f"photos from {a.photos} ({meta['load_s']} s)")
    results = {}
    for what in whats:
        results[what] = run_experiment(what, a, dev, data, log)
        meta["total_s"] = round(time.time() - t_start, 1)
        write_outputs(a, results, meta)
        for row in results[what]["intervals"]:
            log(f"[{what}] Acc{tuple(row['interval'])}: org {row['org']:.3f}  deg {row['deg']:.3f}  "
                f"est {row['est']:.3f}  (known {row['est_known']:.3f})")
    meta["total_s"] = round(time.time() - t_start, 1)
    write_outputs(a, results, meta)
    log(f"done in {meta['total_s']} s; wrote {a.out}/results.json, tables.md, figures, estimator weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
