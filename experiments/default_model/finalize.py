"""Turn the last training stage's model.pt into the shipped weights, choosing on the VAL photos only.

    python experiments/default_model/finalize.py --model runs/default-ynet-v2/model.pt \
        --config experiments/default_model/ynet_v2.toml --out distortx/weights/ynet_dx_small.pt
    (v1: --split v1 --size 192 --model runs/default-ynet-cpu-jitter/model.pt --config .../ynet_cpu_jitter.toml)

Two post-training steps, each kept only if it raises the validation score (below):
  1. precise BatchNorm statistics (distortx.models.batchnorm): running means/variances re-averaged over
     ``--bn-batches`` training batches of the config's streams with the final weights;
  2. the clean decision: a bias ``b`` added to the classifier's ``clean`` logit (a prior shift: "how sure must
     the model be that a photo is distorted"), chosen on a grid of 0..4: the largest bias whose validation
     score is within one standard error of the best (``one_standard_error_choice``; v2 stage 2 onwards; before,
     the best score alone).
Validation score = accuracy over clean + the 8 types x Ahn's 3 levels + (1 - false-alarm rate). v2: 300-px
centre crops of the 79 val photos of split_v2.json, ``--seeds`` draws of distortions each; the false-alarm rate
counts the clean crops and the same crops saved by Pillow as JPEG at quality 50, 70 and 90 (photos as users
have them are JPEGs; they are clean). v1: 192-px crops of the 17 val photos of split.json, five per photo. The
test photos are not read.
Writes the checkpoint (bias folded into the classifier's bias; the choice recorded under "calibration") and
prints the validation table.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def val_crops(folder: Path, photos: Path) -> Path:
    """Five 192-px crops (centre + corners) of every val photo, written once to ``folder``."""
    from prepare import five_crops

    if not folder.exists():
        tmp = Path(tempfile.mkdtemp(dir=folder.parent))
        for n in json.loads((HERE / "split.json").read_text())["val"]:
            img = Image.open(photos / n).convert("RGB")
            for k, c in enumerate(five_crops(img, 192)):
                c.save(tmp / f"{Path(n).stem}_{k}.png")
        tmp.rename(folder)
    return folder


def _jpeg(images: torch.Tensor, q: int) -> torch.Tensor:
    """float [N, 3, H, W] -> the Pillow JPEG round trip at quality ``q`` (4:2:0, as cameras save)."""
    from distortx.distortions.jpeg import pillow_jpeg

    u8 = images.mul(255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return torch.stack([torch.from_numpy(pillow_jpeg(a, q)) for a in u8]).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def val_logits(model, folder: Path, seeds, preset: str = "cls_test.toml", history_qualities=(50, 70, 90)):
    """(logits Tensor[N, K], labels Tensor[N]) of the classification val set over ``seeds``; the clean images
    also saved as JPEG at ``history_qualities`` (label clean)."""
    from distortx.engine.training.batches import BatchStream
    from distortx.engine.training.config import SourceConfig

    logits, labels = [], []
    model.eval()
    for i, seed in enumerate(seeds):
        src = SourceConfig(preset=str(HERE / preset), batch_size=32)
        stream = BatchStream("classification", src, model, str(folder), seed, "cpu", "all", shuffle=False,
                             mix_units=1)
        for b in stream.epoch_batches():
            logits.append(model(b["images"], postprocess=False).logits.float())
            labels.append(b["labels"])
            clean = b["images"][b["labels"] == 0]
            if i == 0 and clean.shape[0]:  # the clean crops are the same for every seed
                for q in history_qualities:
                    logits.append(model(_jpeg(clean, q), postprocess=False).logits.float())
                    labels.append(torch.zeros(clean.shape[0], dtype=torch.long))
    return torch.cat(logits), torch.cat(labels)


def score(logits, labels, bias: float):
    z = logits.clone()
    z[:, 0] += bias
    pred = z.argmax(1)
    acc = float((pred == labels).float().mean())
    clean = labels == 0
    far = float((pred[clean] != 0).float().mean())
    return acc + (1 - far), acc, far


def one_standard_error_choice(rows, n_images: int, n_clean: int):
    """The row (bias, score, accuracy, false alarm) to keep: the largest bias whose score is within one standard
    error of the best score (Breiman's one-standard-error rule). The grid is flat near its top on val (scores
    within a few images of each other), and among equally good biases the one with fewer false alarms is the
    one a user with clean photos wants. SE of the score = sqrt(a (1 - a) / n_images + f (1 - f) / n_clean) at
    the best row (a: accuracy, f: false-alarm rate)."""
    best = max(rows, key=lambda r: (round(r[1], 6), -r[0]))
    a, f = best[2], best[3]
    se = math.sqrt(a * (1 - a) / max(n_images, 1) + f * (1 - f) / max(n_clean, 1))
    return max((r for r in rows if r[1] >= best[1] - se), key=lambda r: r[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True, help="the training config (its streams feed precise BN)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", default="v2", choices=("v1", "v2"))
    ap.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "photos"), help="v1: the photos of split.json")
    ap.add_argument("--bn-batches", type=int, default=100, help="0: keep the BatchNorm statistics as trained")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from distortx.engine.training.batches import BatchStream
    from distortx.models.checkpoint import read_checkpoint, model_from_checkpoint, save_checkpoint
    from distortx.engine.training.config import load_config
    from distortx.models.batchnorm import precise_batch_norm

    if args.split == "v2":
        folder, preset, history = HERE / "photos_v2" / "val", "cls_test.toml", (50, 70, 90)
    else:
        folder, preset, history = val_crops(HERE / "photos" / "val192x5", Path(args.photos)), "cls_test192.toml", ()
    state = read_checkpoint(args.model)
    model = model_from_checkpoint(state)
    seeds = range(100, 100 + args.seeds)
    grid = [round(0.25 * i, 2) for i in range(17)]

    counted = {}

    def best_bias(m):
        lg, lb = val_logits(m, folder, seeds, preset, history)
        counted["images"], counted["clean"] = int(lb.numel()), int((lb == 0).sum())
        rows = [(b, *score(lg, lb, b)) for b in grid]
        return one_standard_error_choice(rows, counted["images"], counted["clean"]), rows

    base, base_rows = best_bias(model)
    cfg = load_config(args.config)
    pbn, n, after, after_rows = model, 0, base, base_rows
    if args.bn_batches > 0:  # 0: keep the statistics (a stage on a frozen backbone: its BN already final)
        pbn = model_from_checkpoint(state)
        streams = [BatchStream(t, s, pbn, cfg.data.images, cfg.data.seed + 7, "cpu", s.split, shuffle=True,
                               mix_units=cfg.data.mix_units) for t, s in cfg.data.sources().items()]
        n = precise_batch_norm(pbn, (next(streams[i % len(streams)])["images"] for i in range(args.bn_batches)),
                               forward=lambda x: pbn(x, postprocess=False))
        after, after_rows = best_bias(pbn)
    use_pbn = after[1] > base[1]
    chosen, rows = (after, after_rows) if use_pbn else (base, base_rows)
    final = pbn if use_pbn else model
    print("bias  score  val_accuracy  val_false_alarm   (" + ("precise BN" if use_pbn else "training BN") + ")")
    for b, s, a, f in rows:
        print(f"{b:4.2f}  {s:.3f}  {a:.3f}  {f:.3f}" + ("   <- chosen" if b == chosen[0] else ""))
    print(f"without precise BN: best {base[1]:.3f} (bias {base[0]}); with ({n} batches): best {after[1]:.3f} "
          f"(bias {after[0]})")
    sd = final.state_dict()
    key = [k for k in sd if k.startswith("heads.classification.") and k.endswith(".bias")][-1]
    sd[key] = sd[key].clone()
    sd[key][0] += chosen[0]
    out = {k: v for k, v in state.items() if k in ("model_config", "classes", "det_classes", "metrics", "step")}
    out["model"] = sd
    out["calibration"] = {"precise_bn_batches": n if use_pbn else 0, "clean_logit_bias": chosen[0],
                          "val_accuracy": round(chosen[2], 4), "val_false_alarm": round(chosen[3], 4),
                          "val_images": counted["images"], "val_split": args.split,
                          "script": "experiments/default_model/finalize.py"}
    save_checkpoint(out, args.out)
    print(json.dumps(out["calibration"]))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE))
    main()
