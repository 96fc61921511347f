"""Input forms the three native ops meet: half / bfloat16 / float64, channels_last and non-contiguous tensors.

The Python faces (``ops.distort`` / ``distort_batch``, ``batched_nms``, ``ssd_postprocess``) convert them
(float32, NCHW-contiguous) and give results equal to the float32 contiguous call; the distortion keeps the
input's dtype, with pixels outside every box bit-identical to the input. The raw ``torch.ops.distortx.*`` ops
refuse them with a one-line error that says what was wrong.
"""
from __future__ import annotations

import pytest
import torch

from distortx._ext import has_kernel
from distortx.ops import batched_nms, distort_codes, ssd_postprocess

pytestmark = pytest.mark.skipif(not has_kernel("distort", torch.device("cpu")), reason="distortx._C is not built")

from native_cases import make_image, random_case  # noqa: E402

NAMES = ["gaussian_blur", "salt_pepper", "jpeg", "twirl"]


def _case():
    images, codes, values, boxes, seeds = random_case(NAMES, n=2, c=3, h=24, w=20, r=3, seed=4)
    return images, (codes, values, boxes, seeds)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_distort_other_float_dtypes(dtype):
    images, rest = _case()
    x = images.to(dtype)
    out = distort_codes(x, *rest, impl="native")
    assert out.dtype == dtype
    want = distort_codes(x.float(), *rest, impl="native")
    assert torch.equal(out, torch.where(_inside(rest, x), want.to(dtype), x))
    assert torch.equal(out[~_inside(rest, x).expand_as(x)], x[~_inside(rest, x).expand_as(x)])


def _inside(rest, x):
    from distortx.ops.fused import winner_map

    codes, _, boxes, _ = rest
    return (winner_map(codes, boxes, x.shape[2], x.shape[3]) >= 0).unsqueeze(1)


def test_distort_channels_last_and_views():
    images, rest = _case()
    want = distort_codes(images, *rest, impl="native")
    assert torch.equal(distort_codes(images.to(memory_format=torch.channels_last), *rest, impl="native"), want)
    wide = make_image(2, 3, 24, 40)
    wide[:, :, :, ::2] = images
    view = wide[:, :, :, ::2]
    assert not view.is_contiguous()
    assert torch.equal(distort_codes(view, *rest, impl="native"), want)


def test_raw_distort_op_refuses_clearly():
    images, rest = _case()
    with pytest.raises(RuntimeError, match=r"images must be float32 \(or uint8 on the CPU\), got Half"):
        torch.ops.distortx.distort(images.half(), *rest)
    with pytest.raises(RuntimeError, match=r"images must be contiguous \(call .contiguous\(\)\)"):
        torch.ops.distortx.distort(images.to(memory_format=torch.channels_last), *rest)


def _boxes(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    wh = 5 + torch.rand(n, 2, generator=g) * 20
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("form", ["half", "bfloat16", "float64", "strided"])
def test_batched_nms_input_forms(form):
    boxes, scores, idxs = _boxes()
    want = batched_nms(boxes, scores, idxs, 0.5, impl="native")
    if form == "strided":
        b = torch.zeros(60, 8)
        b[:, ::2] = boxes
        got = batched_nms(b[:, ::2], torch.stack([scores, scores], 1)[:, 0], idxs.int(), 0.5, impl="native")
        assert torch.equal(got, want)
        return
    dtype = {"half": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}[form]
    b, s = boxes.to(dtype), scores.to(dtype)
    assert torch.equal(batched_nms(b, s, idxs, 0.5, impl="native"), batched_nms(b.float(), s.float(), idxs, 0.5, impl="native"))


def test_raw_batched_nms_refuses_half():
    boxes, scores, idxs = _boxes()
    with pytest.raises(RuntimeError, match="float32"):
        torch.ops.distortx.batched_nms(boxes.half(), scores.half(), idxs, 0.5)


@pytest.mark.parametrize("form", ["half", "bfloat16", "strided"])
def test_ssd_postprocess_input_forms(form):
    g = torch.Generator().manual_seed(1)
    B, P, K = 2, 40, 4
    loc, scores = torch.randn(B, P, 4, generator=g) * 0.1, torch.randn(B, P, K, generator=g)
    priors = torch.cat([torch.rand(P, 2, generator=g), 0.1 + 0.2 * torch.rand(P, 2, generator=g)], 1)
    if form == "strided":
        loc2 = torch.zeros(B, P, 8)
        loc2[..., ::2] = loc
        a, b = ssd_postprocess(loc2[..., ::2], scores.transpose(1, 2).contiguous().transpose(1, 2), priors, impl="native"), \
            ssd_postprocess(loc, scores, priors, impl="native")
    else:
        dtype = torch.float16 if form == "half" else torch.bfloat16
        loc, scores, priors = loc.to(dtype), scores.to(dtype), priors.to(dtype)
        a, b = ssd_postprocess(loc, scores, priors, impl="native"), \
            ssd_postprocess(loc.float(), scores.float(), priors.float(), impl="native")
    for x, y in zip(a, b):
        assert torch.equal(x, y)
