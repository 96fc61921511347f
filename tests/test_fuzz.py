"""Fuzzing the native ops and the public API with hypothesis (issue 24 item 1): shapes 1 x 1 .. 40 x 40, strips up to
1 x 4096 and 4096 x 1, and whole 4096 x 4096 images (test_4096_images_uint8_equals_float_rounded).

Every generated input gets a correct result or a one-line DistortxError, never a crash, a hang or a silent wrong
shape; where both paths run, the native kernel equals the python reference (per-code tolerances of
tests/native_cases.py). The default profile is bounded for CI; ``DISTORTX_FUZZ=long`` runs the long profile
(``python -m pytest tests/test_fuzz.py`` with that variable set)."""
from __future__ import annotations

import math
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import distortx
from distortx._ext import native_available
from distortx.errors import DistortxError
from distortx.ops import batched_nms, distort_codes
from distortx.ops.nms import batched_nms_reference
from native_cases import NATIVE, SLOW, U8_WITHIN_ONE, make_image, tol

LONG = os.environ.get("DISTORTX_FUZZ") == "long"
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile("long" if LONG else "ci")
needs_native = pytest.mark.skipif(not native_available(), reason="needs the native extension")

SPECIAL = [float("nan"), float("inf"), -float("inf"), -1.0, 1e9]


def _one_line(exc: BaseException) -> None:
    assert isinstance(exc, DistortxError), f"{type(exc).__name__}: {exc}"
    assert "\n" not in str(exc) and str(exc)


@st.composite
def region_batches(draw):
    """(images, codes, values, boxes, seeds, names) of random shapes, regions, parameters and boxes."""
    names = draw(st.lists(st.sampled_from(NATIVE), min_size=1, max_size=3))
    slow = any(n in SLOW for n in names)
    mode = draw(st.sampled_from(["good"] * 6 + ["bad", "empty"]))   # most cases must run both paths
    n = 0 if mode == "empty" and draw(st.booleans()) else draw(st.integers(1, 2 if slow else 3))
    c = draw(st.sampled_from([1, 3]))
    h = draw(st.integers(1, 12 if slow else 40))
    w = draw(st.integers(1, 12 if slow else 40))
    if draw(st.integers(0, 9)) == 0:  # a strip up to 4096 long: row / column loops, vector tails, chunking
        long_side = draw(st.sampled_from([257, 1024, 4095, 4096] if not slow else [129, 257]))
        h, w = (draw(st.integers(1, 3)), long_side) if draw(st.booleans()) else (long_side, draw(st.integers(1, 3)))
    r = 0 if mode == "empty" and n else draw(st.integers(1, 4))
    bad_at = (draw(st.integers(0, max(0, n * r - 1))), draw(st.integers(0, 3))) if mode == "bad" else None
    codes = torch.zeros(n, r, dtype=torch.int32)
    values = torch.zeros(n, r, 4)
    boxes = torch.zeros(n, r, 4, dtype=torch.int32)
    for i in range(n):
        for k in range(r):
            spec = distortx.get_distortion(draw(st.sampled_from(names)))
            codes[i, k] = spec.native_code
            for j, p in enumerate(spec.parameters):
                kind = draw(st.sampled_from(["in", "in", "in", "edge"]))
                if bad_at is not None and bad_at == (i * r + k, j):
                    v = draw(st.sampled_from(SPECIAL))
                elif kind == "edge":
                    v = draw(st.sampled_from([p.low, p.high]))
                else:
                    v = draw(st.floats(p.low, p.high, allow_nan=False))
                values[i, k, j] = round(v) if p.integer and math.isfinite(v) else v
            x0, y0 = draw(st.integers(-w, w)), draw(st.integers(-h, h))
            boxes[i, k] = torch.tensor([x0, y0, x0 + draw(st.integers(-3, w + 3)), y0 + draw(st.integers(-3, h + 3))])
    seeds = torch.tensor(draw(st.lists(st.integers(0, 2**62), min_size=n * r, max_size=n * r)) or [0],
                         dtype=torch.int64)[: n * r].reshape(n, r)
    layout = draw(st.sampled_from(["contiguous", "channels_last", "strided"]))
    images = make_image(n, c, h, w, seed=draw(st.integers(0, 9)))
    if layout == "channels_last":
        images = images.contiguous(memory_format=torch.channels_last)
    elif layout == "strided" and w > 1:
        images = make_image(n, c, h, 2 * w, seed=1)[..., ::2]
    return images, codes, values, boxes, seeds, names


@needs_native
@PROFILE
@given(region_batches())
def test_fused_op_native_equals_python_or_both_refuse(case):
    images, codes, values, boxes, seeds, names = case
    results = {}
    for impl in ("native", "python"):
        try:
            results[impl] = distort_codes(images, codes, values, boxes, seeds, impl=impl)
        except DistortxError as exc:
            _one_line(exc)
            results[impl] = exc
    nat, py = results["native"], results["python"]
    assert isinstance(nat, Exception) == isinstance(py, Exception), (nat, py)
    if isinstance(nat, Exception):
        return
    assert nat.shape == images.shape and nat.dtype == images.dtype and torch.isfinite(nat).all()
    if nat.numel():
        assert (nat - py).abs().max().item() <= max(tol(n) for n in names) + 1e-6


@needs_native
@PROFILE
@given(region_batches())
def test_fused_op_uint8_equals_the_float_op_rounded_or_both_refuse(case):
    """The same cases in uint8 (NCHW, channels-last and strided views): the kernel's uint8 path against the float
    op on images / 255, rounded: equal, or within 1 grey level for the codes whose uint8 body is fixed point."""
    images, codes, values, boxes, seeds, names = case
    x8 = images.mul(255).round().to(torch.uint8)
    if images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous():
        x8 = x8.contiguous(memory_format=torch.channels_last)
    elif not images.is_contiguous() and not images.is_contiguous(memory_format=torch.channels_last):
        wide = torch.zeros(*x8.shape[:3], 2 * x8.shape[3], dtype=torch.uint8)
        wide[..., ::2] = x8
        x8 = wide[..., ::2]
    results = {}
    for kind, x in (("uint8", x8), ("float", x8.float().div(255))):
        try:
            results[kind] = distort_codes(x, codes, values, boxes, seeds, impl="native")
        except DistortxError as exc:
            _one_line(exc)
            results[kind] = exc
    out, ref = results["uint8"], results["float"]
    assert isinstance(out, Exception) == isinstance(ref, Exception), (out, ref)
    if isinstance(out, Exception):
        return
    assert out.shape == x8.shape and out.dtype == torch.uint8
    if out.numel():
        diff = (out.int() - ref.clamp(0, 1).mul(255).round().int()).abs().max().item()
        assert diff <= (1 if set(names) & set(U8_WITHIN_ONE) else 0)


@st.composite
def nms_inputs(draw):
    n = draw(st.integers(0, 60))
    coords = st.floats(-50, 150, allow_nan=False, width=32) | st.sampled_from([float("nan"), float("inf")])
    boxes = torch.tensor(draw(st.lists(st.lists(coords, min_size=4, max_size=4), min_size=n, max_size=n)) or
                         torch.zeros(0, 4).tolist(), dtype=torch.float32).reshape(n, 4)
    scores = torch.tensor(draw(st.lists(st.floats(0, 1, width=32), min_size=n, max_size=n)), dtype=torch.float32)
    idxs = torch.tensor(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=torch.int64)
    thr = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0, float("nan")]))
    return boxes, scores, idxs, thr


@needs_native
@PROFILE
@given(nms_inputs())
def test_batched_nms_native_equals_reference_or_both_refuse(case):
    boxes, scores, idxs, thr = case
    out = {}
    for name, fn in (("native", lambda: batched_nms(boxes, scores, idxs, thr, impl="native")),
                     ("python", lambda: batched_nms_reference(boxes, scores, idxs, thr))):
        try:
            out[name] = fn()
        except DistortxError as exc:
            _one_line(exc)
            out[name] = exc
        except RuntimeError as exc:   # the raw op's TORCH_CHECK: one line too
            assert "\n" not in str(exc).strip().splitlines()[0]
            out[name] = exc
    if isinstance(out["native"], Exception) or isinstance(out["python"], Exception):
        assert isinstance(out["native"], Exception) and isinstance(out["python"], Exception)
        return
    # ties in score may order differently; the kept set is the same
    assert sorted(out["native"].tolist()) == sorted(out["python"].tolist())


@PROFILE
@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from(["uint8", "float32", "float64", "numpy", "pil"]),
       st.sampled_from(["gaussian_blur", "jpeg", "salt_pepper", "contrast", "camera_noise"]), st.integers(1, 5))
def test_public_corrupt_keeps_the_kind_and_shape(h, w, kind, name, severity):
    import numpy as np
    from PIL import Image

    base = make_image(1, 3, h, w, seed=2)[0]
    if kind == "uint8":
        x = (base * 255).round().to(torch.uint8)
    elif kind in ("float32", "float64"):
        x = base.to(getattr(torch, kind))
    elif kind == "numpy":
        x = (base.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    else:
        x = Image.fromarray((base.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    out = distortx.corrupt(x, name, severity=severity, seed=1)
    assert type(out) is type(x)
    if isinstance(x, torch.Tensor):
        assert out.shape == x.shape and out.dtype == x.dtype
    elif isinstance(x, np.ndarray):
        assert out.shape == x.shape and out.dtype == x.dtype
    else:
        assert out.size == x.size


@st.composite
def ssd_inputs(draw):
    from distortx.detection import default_boxes, ssd_config

    size = draw(st.sampled_from([32, 64]))
    priors = default_boxes(ssd_config(size, (size // 8, size // 16, 1)))
    B, K = draw(st.integers(0, 3)), draw(st.integers(1, 5))
    g = torch.Generator().manual_seed(draw(st.integers(0, 10**6)))
    loc = torch.randn(B, priors.shape[0], 4, generator=g) * draw(st.sampled_from([0.1, 1.0, 5.0]))
    logits = torch.randn(B, priors.shape[0], K, generator=g) * 3
    if B and draw(st.booleans()):   # NaN / inf sprinkled into the head's outputs
        where = torch.rand(B, priors.shape[0], generator=g) < 0.05
        loc[where] = draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
        logits[where.flip(1)] = draw(st.sampled_from([float("nan"), float("inf")]))
    kw = dict(score_threshold=draw(st.sampled_from([0.0, 0.01, 0.5, 0.99])),
              iou_threshold=draw(st.sampled_from([0.0, 0.45, 1.0])),
              topk_per_class=draw(st.integers(1, 50)), max_detections=draw(st.integers(1, 60)),
              apply_softmax=draw(st.booleans()), background_class=draw(st.sampled_from([-1, 0])))
    if not kw["apply_softmax"]:
        logits = torch.sigmoid(logits)
    return loc, logits, priors, kw


@needs_native
@PROFILE
@given(ssd_inputs())
def test_ssd_postprocess_native_equals_reference(case):
    from distortx.ops.ssd_postprocess import ssd_postprocess, ssd_postprocess_reference

    loc, scores, priors, kw = case
    nat = ssd_postprocess(loc, scores, priors, impl="native", **kw)
    ref = ssd_postprocess_reference(loc, scores, priors, **kw)
    for a, b in zip(nat, ref):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    assert torch.isfinite(nat.boxes).all() and (nat.counts <= kw["max_detections"]).all()


@needs_native
@pytest.mark.parametrize("name", ["quantization", "contrast", "gaussian_blur", "lowpass", "jpeg", "salt_pepper"])
def test_4096_images_uint8_equals_float_rounded(name):
    """A 4096 x 4096 photo-sized image (numpy's channels-last uint8) and a region inside it: the uint8 path against
    the float op rounded, every pixel (no size limit, overflow or chunking seam in the kernels)."""
    spec = distortx.get_distortion(name)
    g = torch.Generator().manual_seed(0)
    small = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8, generator=g).float()
    x8 = torch.nn.functional.interpolate(small, size=(4096, 4096), mode="bilinear", align_corners=False)
    x8 = x8.add_(torch.randint(-8, 9, x8.shape, generator=g)).clamp_(0, 255).to(torch.uint8)
    x8 = x8.contiguous(memory_format=torch.channels_last)
    mid = {p.name: (p.low + p.high) / 2 for p in spec.parameters}
    values = torch.zeros(1, 2, 4)
    values[0, :, : len(mid)] = torch.tensor([round(v) if p.integer else v for p, v in zip(spec.parameters, mid.values())])
    codes = torch.full((1, 2), spec.native_code, dtype=torch.int32)
    boxes = torch.tensor([[[0, 0, 4096, 4096], [1000, 2999, 3333, 4096]]], dtype=torch.int32)
    seeds = torch.tensor([[3, 4]])
    out = distort_codes(x8, codes, values, boxes, seeds, impl="native")
    ref = distort_codes(x8.float().div_(255), codes, values, boxes, seeds, impl="native")
    assert out.shape == x8.shape and out.dtype == torch.uint8
    diff = (out.int() - ref.clamp_(0, 1).mul_(255).round_().int()).abs().max().item()
    assert diff <= (1 if name in U8_WITHIN_ONE else 0)
