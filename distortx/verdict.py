"""One verdict per photo: "what is wrong with this photo?" answered from the Y-net's two heads and the estimators.

The Y-net's classification head was trained on photos distorted as a whole; its detection head boxes distorted
regions; the estimators read JPEG quality and noise sigma pixel by pixel. None of them alone is a verdict: a
photo with two blurred regions is mostly clean to the classifier, and an ordinary quality-75 JPEG carries a block
grid that a model trained on quality 5-20 may call "jpeg". :func:`make_verdict` combines them by one rule, and
every threshold of it lives in :class:`VerdictRules`:

1. **Measurements, always.** JPEG quality and noise sigma (0..255) of the whole photo by the estimators (the JPEG
   quality from the pixels' DCT quantisation lattice where they show one, else the CNN's; the noise sigma from the
   photo's flattest patches, which read noise of any spectrum, a camera's too:
   :func:`distortx.estimation.read_flat_noise`), and for a JPEG file the quality its quantisation tables say. A
   measurement is not a finding: nearly every photo is a JPEG of quality 70-95 with some sensor noise, which is
   clean by the papers' definitions (Ahn's mildest JPEG is quality 20, his mildest noise sigma ~28).
2. **Candidates.** Each type the detector boxes with score >= ``region_score``, and the classifier's answer when
   it is a distortion (its most likely class is not ``clean``) with probability >= ``global_probability``.
3. **Where.** A type is a whole-image finding when its boxes cover >= ``whole_image_cover`` of the photo, or when
   the classifier names it and no box of it exists; otherwise its boxes are the finding.
4. **Severity.** For JPEG and noise the estimator's reading inside the finding (its map averaged over the boxes,
   or the whole photo) gives the parameter and Ahn's level (nearest level on a log scale; "below level 1" past
   the half-way point to level 1); for quantization the levels its 8-bit values lie on, read from the pixels
   inside the finding (:func:`distortx.estimation.read_value_levels`: Ahn's quantized pixels hold only the bin
   edges; none read up to 32 levels is below level 1); for salt and pepper the share of its values replaced by 0
   or 255 (:func:`distortx.estimation.read_impulse_amount`; none, i.e. below level 1, when its 255s lie among brighter
   neighbours than its 0s by ``impulse_bias_max`` or more: strong noise clipped at 0 and 255, not impulses); for
   Gaussian blur the sigma its edges show
   (:func:`distortx.estimation.read_blur_sigma`: a re-blur gradient ratio; a sharp photo reads ~0.5); for 1/f
   noise its strength f in the finding's flattest patches (:func:`distortx.estimation.read_fnoise_strength`; boxes
   of at least 64 px a side, else not measured). A whole-image JPEG, noise, quantization, salt and pepper, blur or
   1/f noise candidate measured below level 1 (quality above ``jpeg_quality_max``, sigma below
   ``noise_sigma_min``, more levels than ``quantization_levels_max``, an amount below ``salt_pepper_amount_min``, a
   blur below ``blur_sigma_min``, an f below ``fnoise_f_min``) is dropped: the photo's history, reported as
   a measurement (JPEG and noise; a photo's own sharpness is not reported). A regional one stays, at severity "below level 1": its boxes are
   confident, and a clean verdict beside them would contradict them (the estimator can also under-read a real
   region: Ahn's level-1 noise over a blurred region reads sigma 12-18). Other types have no measurement: their
   severity is "not measured".
5. **Score.** A finding's evidence is the best box's score, and for a whole-image finding that the classifier
   named also the classifier's probability of the type. Its score is that evidence calibrated: the probability
   that such a finding is right, by a logistic map of the evidence's logit fitted per model on validation photos,
   one map per kind of finding (``score_slope`` / ``score_offset`` for whole-image findings, ``region_slope`` /
   ``region_offset`` for regional ones: a box on part of a photo is right less often than a classifier's answer
   of the same strength, so one shared map is right only for the mix it was fitted on); identity by default.

The verdict is ``clean`` when no finding is left. Its findings never contradict its boxes: every box of the
verdict belongs to a finding, and a clean verdict has none.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

#: Ahn et al.'s three levels of the two measured types (JPEG quality; noise variance on [0, 1]).
AHN_JPEG_QUALITY = (20.0, 10.0, 5.0)
AHN_NOISE_SIGMA = tuple(math.sqrt(v) * 255.0 for v in (0.0125, 0.025, 0.05))  # 28.5, 40.3, 57.0 on 0..255
#: the quantization level set "ahn" (bins per channel; distortx.distortions.tone)
AHN_QUANTIZATION_LEVELS = (16.0, 8.0, 4.0)
#: Ahn's salt-and-pepper amounts (the share of the channel values replaced)
AHN_SALT_PEPPER = (0.0125, 0.025, 0.05)
#: Ahn's Gaussian blur S.D.s (pixels)
AHN_BLUR_SIGMA = (1.5, 3.0, 6.0)
#: Ahn's 1/f noise strengths f (the pink noise's S.D. is 0.0154 f on [0, 1])
AHN_FNOISE_F = (2.5, 5.0, 10.0)


@dataclass(frozen=True)
class VerdictRules:
    """Every threshold of the verdict rule (module docstring), in one place."""

    region_score: float = 0.5          # a box counts from this detection score
    global_probability: float = 0.25   # the classifier's top class names a whole-image candidate from this probability
    whole_image_cover: float = 0.6     # boxes of one type covering this share of the photo = the whole image
    jpeg_quality_max: float = 30.0     # JPEG is a finding at estimated quality <= this (Ahn level 1 = 20)
    noise_sigma_min: float = 20.0      # noise is a finding at estimated sigma >= this (Ahn level 1 ~ 28.5)
    quantization_levels_max: float = 22.0   # quantization is a finding at <= this many levels read (Ahn level 1 = 16)
    levels_tolerance: int = 0          # grey levels a value may lie off a bin edge and count as on it
    levels_min_share: float = 0.05     # share of a finding's values on a lattice that reads as quantized
    salt_pepper_amount_min: float = 0.0088   # salt and pepper is a finding from this amount (Ahn level 1 = 0.0125)
    impulse_bias_max: float = 45.0     # 255s among neighbours brighter by this much than the 0s' (grey levels) are
                                       # clipped noise, not impulses (val: right salt and pepper -3..37, Ahn's noise
                                       # 53..136: half-way)
    blur_sigma_min: float = 1.0        # Gaussian blur is a finding from this sigma read at its edges (Ahn level 1 = 1.5)
    fnoise_f_min: float = 2.2          # 1/f noise is a finding from this f read in its flattest patches (Ahn level 1 = 2.5;
                                       # val: 99 % of level-1 regions read more)
    resaved_difference: float = 10.0  # file tables vs pixels: a larger gap flags a re-saved JPEG
    score_slope: float = 1.0           # whole-image findings: score = sigmoid(slope * logit(evidence) + offset),
    score_offset: float = 0.0          # P(finding right), fitted on validation photos (1, 0: the evidence as it is)
    region_slope: Optional[float] = None   # regional findings' map (None: the whole-image one)
    region_offset: Optional[float] = None

    def calibrated(self, evidence: float, regional: bool = False) -> float:
        """The finding score of raw ``evidence`` (a box score or a class probability in [0, 1]) for a whole-image
        finding, or a regional one (``regional``)."""
        slope, offset = self.score_slope, self.score_offset
        if regional and self.region_slope is not None:
            slope, offset = self.region_slope, self.region_offset or 0.0
        if slope == 1.0 and offset == 0.0:
            return float(evidence)
        e = min(max(float(evidence), 1e-6), 1.0 - 1e-6)
        z = slope * math.log(e / (1.0 - e)) + offset
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    @classmethod
    def for_model(cls, model) -> "VerdictRules":
        """The rules with the thresholds chosen for ``model`` on validation photos (its checkpoint's
        ``calibration.verdict``, written by experiments/default_model/verdict_thresholds.py), else the defaults.
        A record with one score map (before the per-kind maps) gives it to both kinds."""
        chosen = (getattr(model, "calibration", None) or {}).get("verdict") or {}
        fields = cls.__dataclass_fields__
        known = {k: (int if fields[k].type in (int, "int") else float)(v) for k, v in chosen.items()
                 if k in fields and v is not None}
        return cls(**known)


@dataclass
class Finding:
    """One thing wrong with the photo. ``boxes`` are (x0, y0, x1, y1) pixels; empty for the whole image."""

    type: str
    where: str                                  # "whole image" | "regions"
    score: float
    severity: str                               # "below level 1", "level 1".."level 3", or "not measured"
    level: Optional[int] = None                 # 0 (below level 1) .. 3; None: not measured
    parameter: Optional[Tuple[str, float]] = None   # e.g. ("quality", 9.6), ("sigma", 41.0), ("levels", 8), ("amount", 0.025)
    boxes: List[Tuple[float, float, float, float]] = field(default_factory=list)

    def text(self) -> str:
        what = self.type
        if self.parameter is not None:
            name, value = self.parameter
            symbol, spec = PARAMETER_FORMAT.get(name, (name, ".3g"))
            what += f" {symbol}~{value:{spec}}"
        where = "whole image" if self.where == "whole image" else \
            f"{len(self.boxes)} region{'s' if len(self.boxes) != 1 else ''}"
        sev = "" if self.severity == "not measured" else f", {self.severity}"
        return f"{what} ({where}{sev}, {self.score:.2f})"


@dataclass
class Verdict:
    """The answer for one photo: ``clean`` or its findings, plus what was measured."""

    label: str                                   # "clean", or the type of the highest-scoring finding
    findings: List[Finding] = field(default_factory=list)
    measurements: Dict[str, Any] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def text(self) -> str:
        """One line: ``clean`` or the findings, then the measurements."""
        head = "clean" if self.clean else "; ".join(f.text() for f in self.findings)
        m = self.measurements
        meas = []
        if "jpeg_quality" in m:
            q = f"JPEG q~{m['jpeg_quality']:.0f}"
            said = [m["jpeg_quality_source"]] if m.get("jpeg_quality_source") else []
            if m.get("jpeg_quality_file") is not None:
                said.append(f"file tables: {m['jpeg_quality_file']}")
            q += f" ({'; '.join(said)})" if said else ""
            meas.append(q)
        if "noise_sigma" in m:
            meas.append(f"noise sigma~{m['noise_sigma']:.1f}")
        tail = f" | measured: {', '.join(meas)}" if meas else ""
        notes = f" | {'; '.join(self.notes)}" if self.notes else ""
        return head + tail + notes

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        for f in d["findings"]:
            f["score"] = round(f["score"], 6)
            f["boxes"] = [[round(v, 1) for v in b] for b in f["boxes"]]
            if f["parameter"] is not None:
                f["parameter"] = [f["parameter"][0], round(f["parameter"][1], 5)]
        d["measurements"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d["measurements"].items()}
        return d


def ahn_level(value: float, levels: Sequence[float]) -> int:
    """0 (below level 1) .. 3: the nearest of Ahn's ``levels`` (mild -> severe) on a log scale; a value milder
    than level 1 by more than half a level step is below level 1. Works for rising (sigma) and falling (quality)
    parameters."""
    logs = [math.log(v) for v in levels]
    x = math.log(max(value, 1e-6))
    sign = 1.0 if logs[-1] > logs[0] else -1.0   # severity grows with the value (sigma) or falls (quality)
    s, ls = sign * x, [sign * v for v in logs]
    if s < ls[0] - 0.5 * (ls[1] - ls[0]):
        return 0
    return 1 + min(range(3), key=lambda k: abs(s - ls[k]))


def _severity(level: Optional[int]) -> str:
    return "not measured" if level is None else ("below level 1" if level == 0 else f"level {level}")


def _cover(boxes: Sequence[Sequence[float]], width: int, height: int, grid: int = 128) -> float:
    """Share of the photo inside the union of ``boxes`` (rasterised on a ``grid`` x ``grid`` mask)."""
    if not boxes:
        return 0.0
    mask = torch.zeros(grid, grid, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        c0, c1 = int(math.floor(x0 / width * grid)), int(math.ceil(x1 / width * grid))
        r0, r1 = int(math.floor(y0 / height * grid)), int(math.ceil(y1 / height * grid))
        mask[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = True
    return float(mask.float().mean())


def _mean_in(value_map: Optional[Tensor], boxes: Sequence[Sequence[float]]) -> Optional[float]:
    """Mean of a per-pixel map Tensor[H, W] over the union of ``boxes`` (the whole map when there are none)."""
    if value_map is None:
        return None
    if not boxes:
        return float(value_map.mean())
    from .estimation.value_lattice import box_mask

    mask = box_mask(boxes, *value_map.shape)
    return float(value_map[mask].mean()) if mask.any() else float(value_map.mean())


def _quantization_levels(pixels: Tensor, boxes: Sequence[Sequence[float]], rules: VerdictRules,
                         others: Sequence[Sequence[float]] = ()) -> Tuple[bool, Optional[float]]:
    """(measured, value): the levels per channel that the values inside ``boxes`` lie on; None: no lattice."""
    from .estimation import read_value_levels

    reading = read_value_levels(pixels, boxes, rules.levels_tolerance, rules.levels_min_share)
    return True, None if reading.levels is None else float(reading.levels)


def _salt_pepper_amount(pixels: Tensor, boxes: Sequence[Sequence[float]], rules: VerdictRules,
                        others: Sequence[Sequence[float]] = ()) -> Tuple[bool, Optional[float]]:
    """(measured, value): the share of the values inside ``boxes`` replaced by 0 or 255; not measured where too
    few values can be read (a dark or bright area); no amount (below level 1) where the 255s sit in brighter
    surroundings than the 0s (strong noise clipped at 0 and 255)."""
    from .estimation import read_impulse_amount

    reading = read_impulse_amount(pixels, boxes)
    if reading.amount is not None and reading.salt_bias is not None and reading.salt_bias >= rules.impulse_bias_max:
        return True, None
    return reading.amount is not None, reading.amount


def _blur_sigma(pixels: Tensor, boxes: Sequence[Sequence[float]], rules: VerdictRules,
                others: Sequence[Sequence[float]] = ()) -> Tuple[bool, Optional[float]]:
    """(measured, value): the Gaussian blur sigma read at the edges inside ``boxes`` and outside ``others`` (the
    boxes of other types: noise or blocks there make sharp edges of their own); not measured where there are too
    few edges (a flat area, or all of it under other findings)."""
    from .estimation import read_blur_sigma

    sigma = read_blur_sigma(pixels, boxes, exclude=others).sigma
    return sigma is not None, sigma


def _fnoise_strength(pixels: Tensor, boxes: Sequence[Sequence[float]], rules: VerdictRules,
                     others: Sequence[Sequence[float]] = ()) -> Tuple[bool, Optional[float]]:
    """(measured, value): Ahn's 1/f noise strength f read in the flattest patches of ``boxes``; not measured where
    every box is smaller than the reader's 64 px a side."""
    from .estimation import read_fnoise_strength

    f = read_fnoise_strength(pixels, boxes)
    return f is not None, f


#: the types measured from the photo's pixels inside the finding (the whole image: its estimator window), each
#: f(pixels, boxes, rules, other types' boxes) -> (measured, value)
PIXEL_MEASURED = {"quantization": _quantization_levels, "salt_pepper": _salt_pepper_amount,
                  "gaussian_blur": _blur_sigma, "fnoise": _fnoise_strength}


def _too_mild(kind: str, value: Optional[float], rules: VerdictRules) -> bool:
    """Whether a measured finding of ``kind`` read ``value`` is milder than a finding (module docstring, 4)."""
    if kind == "jpeg":
        return value > rules.jpeg_quality_max
    if kind == "gaussian_noise":
        return value < rules.noise_sigma_min
    if kind == "salt_pepper":
        return value is None or value < rules.salt_pepper_amount_min
    if kind == "gaussian_blur":
        return value is None or value < rules.blur_sigma_min
    if kind == "fnoise":
        return value is None or value < rules.fnoise_f_min
    return value is None or value > rules.quantization_levels_max   # quantization: no lattice, or too fine a one


MEASURED = {"jpeg": ("quality", "jpeg_quality", AHN_JPEG_QUALITY),
            "gaussian_noise": ("sigma", "noise_sigma", AHN_NOISE_SIGMA),
            "quantization": ("levels", None, AHN_QUANTIZATION_LEVELS),
            "salt_pepper": ("amount", None, AHN_SALT_PEPPER),
            "gaussian_blur": ("blur_sigma", None, AHN_BLUR_SIGMA),
            "fnoise": ("f", None, AHN_FNOISE_F)}
#: how a finding's parameter is printed: its symbol and format
PARAMETER_FORMAT = {"quality": ("q", ".0f"), "sigma": ("sigma", ".0f"), "levels": ("L", ".0f"), "amount": ("amount", ".3f"),
                    "blur_sigma": ("sigma", ".1f"), "f": ("f", ".1f")}


def make_verdict(probabilities: Sequence[Tuple[str, float]], regions: Sequence[Any], width: int, height: int,
                 maps: Optional[Mapping[str, Tensor]] = None, file_quality: Optional[int] = None,
                 rules: VerdictRules = VerdictRules(), lattice_quality: Optional[float] = None,
                 noise_sigma: Optional[float] = None, pixels: Optional[Tensor] = None,
                 noise_flat: Optional[float] = None) -> Verdict:
    """The verdict of one photo.

    probabilities: the classifier's (class, probability) pairs; regions: detected regions (``.type``,
    ``.score``, ``.box`` in photo pixels); maps: per-pixel estimator maps Tensor[H, W] by target
    ("jpeg_quality", "noise_sigma"), at the photo's size; file_quality: the JPEG file's table quality;
    lattice_quality: the quality the pixels' DCT lattice reads when they show a JPEG history
    (:func:`distortx.estimation.read_jpeg_history`): then the photo's JPEG quality and a whole-image JPEG
    finding's severity, in place of the CNN's mean (kept as ``jpeg_quality_cnn``); noise_sigma: the whole photo's
    white-noise sigma as ``distortx.estimate`` reads it (patch statistics blended with the CNN): a whole-image
    noise finding's severity (Ahn's noise is white), and the photo's noise measurement unless ``noise_flat`` is
    given (the CNN's mean kept as ``noise_sigma_cnn``); noise_flat: the photo's noise sigma read from its flattest
    patches (:func:`distortx.estimation.read_flat_noise`: any spectrum, a camera's too): then its noise
    measurement, with the white-noise reading kept as ``noise_sigma_white``; pixels: the photo Tensor[C, H, W]
    (uint8, or float in [0, 1]), whose values inside a quantization or salt and pepper finding give its levels or
    amount (without it, those types are not measured).
    """
    maps = dict(maps or {})
    y0, x0, y1, x1 = estimator_window(height, width)      # the whole photo up to ESTIMATOR_WINDOW a side
    measurements: Dict[str, Any] = {k: float(v[y0:y1, x0:x1].mean()) for k, v in maps.items()}
    notes: List[str] = []
    cnn = measurements.get("jpeg_quality")
    if lattice_quality is not None:
        if cnn is not None:
            measurements["jpeg_quality_cnn"] = cnn
        measurements["jpeg_quality"] = float(lattice_quality)
        measurements["jpeg_quality_source"] = "pixels' lattice"
    if noise_sigma is not None:
        if "noise_sigma" in measurements:
            measurements["noise_sigma_cnn"] = measurements["noise_sigma"]
        measurements["noise_sigma"] = float(noise_sigma)
    if noise_flat is not None:
        if "noise_sigma" in measurements:
            measurements["noise_sigma_white"] = measurements["noise_sigma"]
        measurements["noise_sigma"] = float(noise_flat)
    if file_quality is not None:
        measurements["jpeg_quality_file"] = int(file_quality)
        if cnn is not None and abs(cnn - file_quality) > rules.resaved_difference:
            notes.append(f"the file's tables say q{file_quality} but its pixels read q~{cnn:.0f}: re-saved")
    probs = dict(probabilities)
    ranked = sorted(probabilities, key=lambda np_: -np_[1])
    top = ranked[0] if ranked and ranked[0][0] != "clean" else None
    boxes_by_type: Dict[str, List[Any]] = {}
    for r in regions:
        if r.score >= rules.region_score:
            boxes_by_type.setdefault(r.type, []).append(r)
    candidates = list(boxes_by_type)
    if top is not None and top[1] >= rules.global_probability and top[0] not in candidates:
        candidates.append(top[0])
    findings: List[Finding] = []
    for t in candidates:
        rs = sorted(boxes_by_type.get(t, []), key=lambda r: -r.score)
        boxes = [tuple(float(v) for v in r.box) for r in rs]
        named = top is not None and top[0] == t and top[1] >= rules.global_probability
        whole = _cover(boxes, width, height) >= rules.whole_image_cover or (named and not boxes)
        level, parameter = None, None
        if t in MEASURED:
            pname, target, levels = MEASURED[t]
            where = [] if whole else boxes
            if t in PIXEL_MEASURED:    # read from the pixels (for quantization, no lattice is a reading too: None)
                others = [tuple(float(v) for v in r.box) for u, rs_u in boxes_by_type.items() if u != t for r in rs_u]
                measured, value = (PIXEL_MEASURED[t](pixels, where or [(x0, y0, x1, y1)], rules, others)
                                   if pixels is not None else (False, None))
            else:
                value = _mean_in(maps.get(target), where or [(x0, y0, x1, y1)])
                if whole and t == "jpeg" and lattice_quality is not None:
                    value = float(lattice_quality)
                if whole and t == "gaussian_noise" and noise_sigma is not None:
                    value = float(noise_sigma)
                measured = value is not None
            if measured:     # a pixel measurement may read nothing (no lattice): below level 1
                level, parameter = (ahn_level(value, levels), (pname, value)) if value is not None else (0, None)
                if _too_mild(t, value, rules):
                    if whole:
                        continue  # the photo's history, already among the measurements
                    level = 0  # a region milder than level 1: reported as such, its boxes kept
        if whole:
            evidence = max([probs.get(t, 0.0)] * named + [r.score for r in rs])
            findings.append(Finding(t, "whole image", rules.calibrated(evidence), _severity(level), level,
                                    parameter, []))
        else:
            findings.append(Finding(t, "regions", rules.calibrated(rs[0].score, regional=True), _severity(level), level,
                                    parameter, boxes))
    findings.sort(key=lambda f: -f.score)
    return Verdict(findings[0].type if findings else "clean", findings, measurements, notes)


#: the estimators' maps of a photo larger than this a side cover only its centre window of this size (on the JPEG
#: block grid) and its detected regions, as the JPEG lattice reads a 1024-px centre window: a 3-megapixel photo took
#: ~6 s of CNN maps on two threads, a 12-megapixel one four times that
ESTIMATOR_WINDOW = 1024


def estimator_window(height: int, width: int) -> Tuple[int, int, int, int]:
    """(y0, x0, y1, x1): the part of a photo whose estimator readings are its measurements: all of it up to
    ESTIMATOR_WINDOW a side, else the centre window of that size, its corner on the 8-px grid as the lattice's."""
    wy, wx = min(height, ESTIMATOR_WINDOW), min(width, ESTIMATOR_WINDOW)
    y0, x0 = (height - wy) // 2 // 8 * 8, (width - wx) // 2 // 8 * 8
    return y0, x0, y0 + wy, x0 + wx


def estimator_maps(image: Tensor, targets: Sequence[str] = ("jpeg_quality", "noise_sigma"),
                   device: Optional[str] = None, boxes: Sequence[Sequence[float]] = ()) -> Dict[str, Tensor]:
    """Per-pixel maps Tensor[H, W] of the shipped estimators on one image Tensor[3, H, W] (float or uint8), as
    ``distortx.estimate(..., return_map=True, method="cnn")`` draws them. A photo larger than ESTIMATOR_WINDOW a side
    is read on its centre window and on the ``boxes`` (x0, y0, x1, y1) outside it only: NaN elsewhere (the values
    read equal the whole map's there)."""
    from .estimation.api import _as_float, get_estimator, pixel_map_over
    from .estimation.block_grid import block_grid_origin
    from .estimation.targets import get_target

    x = _as_float(image)
    _, h, w = x.shape
    wy0, wx0, wy1, wx1 = estimator_window(h, w)
    areas = [(wy0, wx0, wy1, wx1)]
    for bx0, by0, bx1, by1 in boxes:    # a box inside the window is read with it
        area = (math.floor(by0), math.floor(bx0), math.ceil(by1), math.ceil(bx1))
        if not (wy0 <= area[0] and wx0 <= area[1] and area[2] <= wy1 and area[3] <= wx1):
            areas.append(area)
    maps = {}
    with torch.inference_mode():
        for t in targets:
            model = get_estimator(t, None, device if device is not None else image.device)
            origin = block_grid_origin(x, model.config["grid"]) if model.config.get("grid") else (0, 0)
            target = get_target(t)
            maps[t] = pixel_map_over(model, x, areas, origin=origin)[0].clamp(target.low, target.high).cpu()
    return maps


def file_jpeg_quality(path) -> Optional[int]:
    """The IJG quality of a JPEG file's tables, or None for any other file."""
    from .errors import DistortxError
    from .estimation import quality_from_jpeg

    try:
        return int(quality_from_jpeg(path).quality)
    except (DistortxError, OSError, ValueError):
        return None


def verdict_annotator(rules: Optional[VerdictRules] = None, estimators: bool = True, device: Optional[str] = None,
                      model=None):
    """A ``predict(..., annotate=...)`` callback: sets ``prediction.verdict`` and ``prediction.label``. ``rules``
    default to the model's own (:meth:`VerdictRules.for_model`)."""
    rules = rules if rules is not None else VerdictRules.for_model(model)

    def annotate(pred, image: Tensor, path) -> None:
        boxes = [r.box for r in pred.regions]
        maps = estimator_maps(image, device=device, boxes=boxes) if estimators else None
        quality = file_jpeg_quality(path) if path is not None else None
        lattice = noise = flat = None
        if estimators:
            from .estimation import read_flat_noise, read_jpeg_history
            from .estimation.api import statistic_reading
            from .estimation.noise_flat import MIN_SIDE

            reading = read_jpeg_history(image)
            lattice = reading.quality if reading is not None and reading.is_jpeg else None
            y0, x0, y1, x1 = estimator_window(pred.height, pred.width)
            noise = statistic_reading(image, "noise_sigma", "auto").with_cnn(float(maps["noise_sigma"][y0:y1, x0:x1].mean()))
            if min(pred.height, pred.width) >= MIN_SIDE:
                flat = read_flat_noise(image[:, y0:y1, x0:x1]).sigma
        pred.verdict = make_verdict(pred.probabilities, pred.regions, pred.width, pred.height, maps, quality, rules,
                                    lattice_quality=lattice, noise_sigma=noise, pixels=image, noise_flat=flat)
        pred.label = pred.verdict.label
    return annotate
