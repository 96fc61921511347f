"""Prediction on a user's own photos, any size: ``distortx predict`` and :func:`predict`.

Tiling rule (distortions live at the pixel scale, so photos are NOT resized to the model's input: a
downscaled noisy photo looks clean). A photo is cut into ``tile`` x ``tile`` tiles (the model's training
crop, 300 for the Ahn detection presets) overlapping by ``overlap`` pixels (default tile / 6: 50 px), the last row/column shifted to
end at the border; a photo smaller than a tile is padded by reflection (the padding is excluded from the
boxes). Classification = the mean of the tiles' class probabilities. Detection = every tile's decoded
boxes moved to photo coordinates, boxes cut by a tile border that lies inside the photo dropped when a
neighbouring tile sees more of them, class-wise NMS over the whole photo, then seam fragments merged: two
boxes of one type, at least one of them cut by an inner tile edge, that meet across that edge and overlap
along it are one region cut in two (:func:`merge_seam_fragments`); their union replaces them. Photos whose longer side
exceeds ``max_side`` (default 3000) are first downscaled by an integer factor with area averaging (this
weakens noise; the result says so) so the tile count stays bounded.

Outputs: :class:`Prediction` objects (Python), one JSON record per photo (``--json``), COCO results JSON and
one PNG per photo with the boxes drawn (``--out``).
"""
from __future__ import annotations

import contextlib
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ...errors import DistortxError, ImageError



@dataclass
class DetectedRegion:
    """A region the detection head found: ``box`` (x0, y0, x1, y1) in the photo's pixels. (What to distort
    where is :class:`distortx.Region`; this is what was found.)"""

    type: str
    score: float
    box: Tuple[float, float, float, float]


@dataclass
class Prediction:
    """What the model says about one photo."""

    file: str
    width: int
    height: int
    label: Optional[str] = None            # the verdict's label when one was made, else the classifier's top class
    probabilities: List[Tuple[str, float]] = field(default_factory=list)   # every class, most likely first
    regions: List[DetectedRegion] = field(default_factory=list)                    # the detection head's boxes
    tiles: int = 1
    downscale: int = 1
    classifier_label: Optional[str] = None  # the classification head's most likely class (a whole-image view)
    verdict: Optional[Any] = None           # a distortx.verdict.Verdict (distortx.predict makes one)

    def to_dict(self) -> Dict[str, Any]:
        verdict = self.verdict
        self.verdict = None
        try:
            d = asdict(self)
        finally:
            self.verdict = verdict
        d["verdict"] = verdict.to_dict() if verdict is not None else None
        d["probabilities"] = [[n, round(p, 6)] for n, p in self.probabilities]
        d["regions"] = [{"type": r.type, "score": round(r.score, 6), "box": [round(v, 1) for v in r.box]}
                        for r in self.regions]
        return d

    def summary(self, top: int = 3) -> str:
        parts = [f"{self.file} ({self.width}x{self.height}"
                 + (f", downscaled 1/{self.downscale}" if self.downscale > 1 else "") + ")"]
        if self.verdict is not None:
            return f"{self.file}: {self.verdict.text()}"
        if self.probabilities:
            parts.append("  class: " + ", ".join(f"{n} {p:.2f}" for n, p in self.probabilities[:top]))
        if self.regions:
            for r in self.regions:
                x0, y0, x1, y1 = r.box
                parts.append(f"  region: {r.type} {r.score:.2f} at ({x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f})")
        elif self.regions is not None and self.label is not None:
            parts.append("  regions: none above the threshold")
        return "\n".join(parts)


# -- tiling ---------------------------------------------------------------------------------------------------------
def tile_origins(length: int, tile: int, overlap: int) -> List[int]:
    """Start offsets of tiles covering [0, length): step tile - overlap, the last one ending at the border."""
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, length - tile + 1, step))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _downscale(image: Tensor, max_side: int) -> Tuple[Tensor, int]:
    h, w = image.shape[-2:]
    k = max(1, math.ceil(max(h, w) / max_side))
    if k == 1:
        return image, 1
    return F.avg_pool2d(image.unsqueeze(0), k, ceil_mode=False).squeeze(0), k


def _pad_to(image: Tensor, tile: int) -> Tensor:
    h, w = image.shape[-2:]
    ph, pw = max(0, tile - h), max(0, tile - w)
    if ph == 0 and pw == 0:
        return image
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(image.unsqueeze(0), (0, pw, 0, ph), mode=mode).squeeze(0)


class Predictor:
    """Runs a model over photos of any size by tiles (see the module docstring)."""

    def __init__(self, model, device: str = "cpu", tile: Optional[int] = None, overlap: Optional[int] = None,
                 batch_size: int = 16, score_threshold: float = 0.5, iou_threshold: float = 0.45,
                 max_side: int = 3000):
        self.model = model.to(device).eval()
        self.device = device
        self.tile = int(tile or model.config.get("image_size") or 300)
        overlap = self.tile // 6 if overlap is None else overlap
        if overlap < 0 or overlap >= self.tile:
            raise DistortxError(f"overlap must be in [0, {self.tile}), got {overlap}")
        self.overlap, self.batch_size = int(overlap), int(batch_size)
        self.score_threshold, self.iou_threshold = float(score_threshold), float(iou_threshold)
        self.max_side = int(max_side)

    @torch.no_grad()
    def __call__(self, image: Tensor, name: str = "image") -> Prediction:
        """image: float Tensor[3, H, W] in [0, 1] or uint8."""
        from ...ops.nms import batched_nms

        if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] != 3:
            raise ImageError(f"{name}: expected an RGB image Tensor[3, H, W], got "
                             f"{tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__}")
        img = image.float().div(255.0) if image.dtype == torch.uint8 else image.float()
        H0, W0 = img.shape[-2:]
        img, k = _downscale(img, self.max_side)
        H, W = img.shape[-2:]
        padded = _pad_to(img, self.tile)
        T = self.tile
        ys, xs = tile_origins(H, T, self.overlap), tile_origins(W, T, self.overlap)
        origins = [(y, x) for y in ys for x in xs]
        probs: List[Tensor] = []
        boxes, scores, labels, cuts = [], [], [], []
        model = self.model
        tol = max(4.0, T / 25)
        for i in range(0, len(origins), self.batch_size):
            chunk = origins[i:i + self.batch_size]
            batch = torch.stack([padded[:, y:y + T, x:x + T] for y, x in chunk]).to(self.device)
            with self._refine_only_reported():
                out = model(batch)
            if out.logits is not None:
                probs.append(out.logits.float().softmax(1).cpu())
            if out.detections is not None:
                for (y, x), det in zip(chunk, out.detections):
                    b = det["boxes"].float().cpu()
                    keep = det["scores"].float().cpu() >= self.score_threshold
                    keep &= self._inside_tile_rule(b, x, y, W, H)
                    b = b[keep]
                    cuts.append(torch.stack([(b[:, 0] <= tol) & (x > 0), (b[:, 1] <= tol) & (y > 0),
                                             (b[:, 2] >= T - tol) & (x + T < W), (b[:, 3] >= T - tol) & (y + T < H)], 1))
                    b = b + torch.tensor([x, y, x, y], dtype=torch.float32)
                    b[:, 0::2] = b[:, 0::2].clamp(0, W)
                    b[:, 1::2] = b[:, 1::2].clamp(0, H)
                    boxes.append(b)
                    scores.append(det["scores"].float().cpu()[keep])
                    labels.append(det["labels"].cpu()[keep])
        pred = Prediction(file=name, width=int(W0), height=int(H0), tiles=len(origins), downscale=k)
        if probs:
            p = torch.cat(probs).mean(0)
            order = p.argsort(descending=True).tolist()
            pred.probabilities = [(model.classes[j], float(p[j])) for j in order]
            pred.label = pred.classifier_label = pred.probabilities[0][0]
        if boxes:
            b, s, lab, cut = torch.cat(boxes), torch.cat(scores), torch.cat(labels), torch.cat(cuts)
            keep = batched_nms(b, s, lab, self.iou_threshold) if b.numel() else torch.zeros(0, dtype=torch.int64)
            if len(origins) > 1 and keep.numel() > 1:
                b, s, lab = merge_seam_fragments(b[keep], s[keep], lab[keep], cut[keep], tol)
                keep = batched_nms(b, s, lab, self.iou_threshold)
            pred.regions = [DetectedRegion(model.det_classes[int(lab[j])], float(s[j]),
                                   tuple(float(v) * k for v in b[j].tolist())) for j in keep.tolist()]
        return pred

    @contextlib.contextmanager
    def _refine_only_reported(self):
        """The detection head's edge refiner (if any) refines only boxes this prediction will report (scored >=
        ``score_threshold``): the others are dropped, so moving them would be wasted work."""
        heads = getattr(self.model, "heads", {})
        refiner = getattr(heads["detection"], "refiner", None) if "detection" in heads else None
        if refiner is None:
            yield
            return
        floor = refiner.min_score
        refiner.min_score = max(floor, self.score_threshold)
        try:
            yield
        finally:
            refiner.min_score = floor

    def _inside_tile_rule(self, b: Tensor, x: int, y: int, W: int, H: int) -> Tensor:
        """Drop boxes touching a tile edge that lies inside the photo, when they sit in the overlap band that
        the neighbouring tile sees whole (so each region is reported by the tile that contains it best)."""
        T, half = self.tile, self.overlap / 2
        keep = torch.ones(b.shape[0], dtype=torch.bool)
        if x > 0:
            keep &= b[:, 2] > half          # box reaches past the left half of the overlap
        if x + T < W:
            keep &= b[:, 0] < T - half
        if y > 0:
            keep &= b[:, 3] > half
        if y + T < H:
            keep &= b[:, 1] < T - half
        return keep


def _overlap_1d(a0: float, a1: float, b0: float, b1: float) -> float:
    """Length of [a0, a1] & [b0, b1] over the shorter of the two (1 = one interval inside the other)."""
    inter = min(a1, b1) - max(a0, b0)
    return max(0.0, inter) / max(1e-6, min(a1 - a0, b1 - b0))


def merge_seam_fragments(boxes: Tensor, scores: Tensor, labels: Tensor, cut: Tensor, tol: float,
                         min_overlap: float = 0.6) -> Tuple[Tensor, Tensor, Tensor]:
    """Join boxes that a tile seam cut in two.

    boxes float Tensor[K, 4] (x0, y0, x1, y1, photo pixels), scores Tensor[K], labels Tensor[K], cut bool
    Tensor[K, 4]: the box's left / top / right / bottom side lies on an inner tile edge. Boxes i, j of one
    label are joined when, along one axis, one of them is cut on the side facing the other and the two meet
    (gap <= ``tol``), and along the other axis they overlap by >= ``min_overlap`` of the shorter extent. The
    joined box is their union with the higher score; joining repeats until nothing changes.
    Returns (boxes, scores, labels) of the merged set.
    """
    items = [(boxes[k].tolist(), float(scores[k]), int(labels[k]), cut[k].tolist()) for k in range(boxes.shape[0])]
    merged = True
    while merged:
        merged = False
        for i in range(len(items)):
            for j in range(len(items)):
                if i == j or items[i][2] != items[j][2]:
                    continue
                (a, sa, la, ca), (b, sb, _, cb) = items[i], items[j]
                # j to the right of i (axis x: sides 2 / 0), or below it (axis y: sides 3 / 1)
                across_x = a[0] < b[0] and (ca[2] or cb[0]) and b[0] - a[2] <= tol and a[2] < b[2] \
                    and _overlap_1d(a[1], a[3], b[1], b[3]) >= min_overlap
                across_y = a[1] < b[1] and (ca[3] or cb[1]) and b[1] - a[3] <= tol and a[3] < b[3] \
                    and _overlap_1d(a[0], a[2], b[0], b[2]) >= min_overlap
                if not (across_x or across_y):
                    continue
                union = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                sides = [ca[k] if a[k] == union[k] else cb[k] for k in (0, 1)] + \
                        [ca[k] if a[k] == union[k] else cb[k] for k in (2, 3)]
                items[i] = (union, max(sa, sb), la, sides)
                del items[j]
                merged = True
                break
            if merged:
                break
    if not items:
        return boxes[:0], scores[:0], labels[:0]
    return (torch.tensor([it[0] for it in items], dtype=boxes.dtype),
            torch.tensor([it[1] for it in items], dtype=scores.dtype),
            torch.tensor([it[2] for it in items], dtype=labels.dtype))


# -- files -----------------------------------------------------------------------------------------------------------
def draw(image: Tensor, pred: Prediction) -> Tensor:
    """uint8 Tensor[3, H, W] with the regions drawn in their types' fixed colours and labelled."""
    from ...drawing import draw_regions
    from ...io import to_uint8_image

    u8 = to_uint8_image(image)
    width = max(2, round(max(u8.shape[-2:]) / 300))
    return draw_regions(u8, [r.box for r in pred.regions], [r.type for r in pred.regions],
                        [f"{r.type} {r.score:.2f}" for r in pred.regions], width=width)


def resolve_model(model=None):
    """A model object from a model, a checkpoint file or run folder, or None (the shipped default model)."""
    if model is None:
        from .default_model import load_default_model

        return load_default_model()
    if isinstance(model, (str, Path)):
        from ...models.checkpoint import load_model

        return load_model(model)
    return model


def predict(inputs: Union[str, Path, Tensor, Sequence[Union[str, Path, Tensor]]], model=None,
            device: str = "cpu", out: Optional[Union[str, Path]] = None,
            annotate: Optional[Callable[[Prediction, Tensor, Optional[Path]], None]] = None,
            progress: bool = False, **kwargs) -> List[Prediction]:
    """Predict on photos (paths, folders, or float/uint8 Tensor[3, H, W]); ``model`` a model, checkpoint,
    run folder or None (the shipped default model). With ``out``: ``predictions.json`` (one record per
    photo), ``coco_results.json`` and ``<name>.png`` with the boxes drawn. ``annotate(prediction, image,
    path or None)``, if given, runs on every photo before its outputs are written (``distortx.predict`` adds
    the verdict this way). ``progress``: a bar on stderr (more than one photo). ``kwargs`` go to
    :class:`Predictor` (tile, overlap, score_threshold, ...)."""
    from ...distortions.edges import image_list, load_listed
    from ...io import save_image

    model = resolve_model(model)
    predictor = Predictor(model, device=device, **kwargs)

    named = image_list(inputs, "predict's images")  # in the order given (a folder's images sorted, in its place)
    results: List[Prediction] = []
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    bar = tqdm(named, desc="predict", unit="photo", disable=not progress or len(named) < 2, leave=False,
               file=sys.stderr)
    for name, src in bar:
        image = load_listed(src)
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        pred = predictor(image, name)
        if annotate is not None:
            annotate(pred, image, None if isinstance(src, Tensor) else Path(src))
        results.append(pred)
        if out_dir is not None:
            save_image(out_dir / f"{Path(name).stem}.png", draw(image, pred))
    if out_dir is not None:
        (out_dir / "predictions.json").write_text(json.dumps([p.to_dict() for p in results], indent=1) + "\n")
        (out_dir / "coco_results.json").write_text(json.dumps(coco_results(results, model), indent=1) + "\n")
    return results


def coco_results(preds: Sequence[Prediction], model) -> Dict[str, Any]:
    """COCO-style results: images (id, file_name, size), categories (the model's types) and one record per
    region (image_id, category_id, bbox [x, y, w, h], score)."""
    cats = [{"id": i, "name": n} for i, n in enumerate(model.det_classes or []) if i > 0]
    by_name = {c["name"]: c["id"] for c in cats}
    images, anns = [], []
    for i, p in enumerate(preds, start=1):
        images.append({"id": i, "file_name": p.file, "width": p.width, "height": p.height,
                       "label": p.label})
        for r in p.regions:
            x0, y0, x1, y1 = r.box
            anns.append({"image_id": i, "category_id": by_name[r.type], "score": round(r.score, 6),
                         "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]})
    return {"images": images, "categories": cats, "annotations": anns}
