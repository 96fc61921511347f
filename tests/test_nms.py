"""Batched NMS: native (C++/CUDA) and reference paths against torchvision.ops.batched_nms."""
import math
import time

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from distortx.errors import ParameterError
from distortx._ext import has_kernel
from distortx.ops.nms import batched_nms, batched_nms_reference, nms

NATIVE = has_kernel("batched_nms", "cpu")
IMPLS = ["python"] + (["native"] if NATIVE else [])
needs_native = pytest.mark.skipif(not NATIVE, reason="distortx._C without batched_nms")
CUDA = torch.cuda.is_available() and has_kernel("batched_nms", "cuda")


def random_boxes(n, seed, classes=4, extent=100.0, size=30.0, distinct=True):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * extent
    wh = torch.rand(n, 2, generator=g) * size + 0.5
    boxes = torch.cat([xy, xy + wh], 1)
    scores = (torch.randperm(n, generator=g).float() + 1) / n if distinct else torch.rand(n, generator=g)
    idxs = torch.randint(0, classes, (n,), generator=g)
    return boxes, scores, idxs


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("seed,n,classes,thr", [(0, 300, 1, 0.5), (1, 600, 4, 0.45), (2, 900, 7, 0.3), (3, 400, 3, 0.7)])
def test_equals_torchvision_on_random_boxes(impl, seed, n, classes, thr):
    boxes, scores, idxs = random_boxes(n, seed, classes)
    keep = batched_nms(boxes, scores, idxs, thr, impl=impl)
    expected = torchvision.ops.batched_nms(boxes, scores, idxs, thr)
    assert keep.dtype == torch.int64
    assert torch.equal(keep, expected)
    assert (scores[keep][1:] <= scores[keep][:-1]).all()


@pytest.mark.parametrize("impl", IMPLS)
def test_per_class_independence_and_nms(impl):
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([0, 0, 1]), 0.5, impl=impl).tolist() == [0, 2]
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 2]), 0.5, impl=impl).tolist() == [0, 1, 2]
    assert nms(boxes, scores, 0.5, impl=impl).tolist() == [0]
    # int32 class ids and float64 boxes are accepted (computed as int64 / float32)
    assert batched_nms(boxes.double(), scores.double(), torch.tensor([0, 0, 1], dtype=torch.int32), 0.5,
                       impl=impl).tolist() == [0, 2]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("thr", [0.3, 0.45, 0.5, 0.7])
def test_threshold_both_sides(impl, thr):
    # box B = [0, 0, 10, h] inside A = [0, 0, 10, 10]: IoU = h / 10, placed 1e-4 either side of the threshold
    a = [0.0, 0.0, 10.0, 10.0]
    for h, suppressed in [(10 * thr + 1e-3, True), (10 * thr - 1e-3, False)]:
        boxes = torch.tensor([a, [0.0, 0.0, 10.0, h]])
        scores = torch.tensor([0.9, 0.8])
        keep = batched_nms(boxes, scores, torch.zeros(2, dtype=torch.int64), thr, impl=impl)
        assert keep.tolist() == ([0] if suppressed else [0, 1])
        assert keep.tolist() == torchvision.ops.nms(boxes, scores, thr).tolist()


@pytest.mark.parametrize("impl", IMPLS)
def test_iou_exactly_at_threshold_is_kept(impl):
    boxes = torch.tensor([[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 1.0]])  # IoU exactly 0.5
    scores = torch.tensor([0.9, 0.8])
    idxs = torch.zeros(2, dtype=torch.int64)
    assert batched_nms(boxes, scores, idxs, 0.5, impl=impl).tolist() == [0, 1]  # strictly greater suppresses
    assert batched_nms(boxes, scores, idxs, 0.4999, impl=impl).tolist() == [0]
    # empty boxes: IoU 0/0 = NaN never suppresses
    empty = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    assert batched_nms(empty, scores, idxs, 0.1, impl=impl).tolist() == [0, 1]


@pytest.mark.parametrize("impl", IMPLS)
def test_empty_inputs(impl):
    keep = batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5, impl=impl)
    assert keep.shape == (0,) and keep.dtype == torch.int64


@pytest.mark.parametrize("impl", IMPLS)
def test_nan_and_inf_are_dropped(impl):
    boxes, scores, idxs = random_boxes(200, 5, classes=2)
    bad = torch.tensor([3, 17, 50, 51, 120])
    boxes[3, 0] = math.nan
    boxes[17, 2] = math.inf
    boxes[50, 1] = -math.inf
    scores[51] = math.nan
    scores[120] = math.nan
    keep = batched_nms(boxes, scores, idxs, 0.5, impl=impl)
    assert not set(bad.tolist()) & set(keep.tolist())
    good = torch.ones(200, dtype=torch.bool)
    good[bad] = False
    sub = good.nonzero().squeeze(1)
    expected = sub[torchvision.ops.batched_nms(boxes[sub], scores[sub], idxs[sub], 0.5)]
    assert torch.equal(keep, expected)
    # +-inf scores are ordinary: +inf first, -inf last
    s2 = scores.clone()
    s2[bad] = 0.5
    s2[0], s2[1] = math.inf, -math.inf
    boxes2 = boxes.clone()
    boxes2[bad] = torch.tensor([200.0, 200.0, 201.0, 201.0])
    keep = batched_nms(boxes2, s2, idxs, 0.5, impl=impl)
    assert keep[0] == 0 and (keep[-1] == 1 or 1 not in keep.tolist())
    # all NaN: nothing kept
    assert batched_nms(boxes, torch.full((200,), math.nan), idxs, 0.5, impl=impl).numel() == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_ties_are_deterministic(impl):
    boxes, _, idxs = random_boxes(400, 9, classes=3)
    scores = torch.randint(0, 8, (400,), generator=torch.Generator().manual_seed(1)).float() / 8  # many ties
    keep = batched_nms(boxes, scores, idxs, 0.5, impl=impl)
    # ordered by (score desc, index asc)
    key = scores[keep] * 1e6 - keep.float()
    assert (key[1:] < key[:-1]).all()
    # the reference is the definition (ties visited by index); torchvision may differ only in tie order
    assert torch.equal(keep, batched_nms_reference(boxes, scores, idxs, 0.5))
    expected = torchvision.ops.batched_nms(boxes, scores, idxs, 0.5)
    assert abs(len(keep) - len(expected)) <= 0.1 * len(expected)


@needs_native
@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), seed=st.integers(0, 2**31 - 1), thr=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
def test_native_equals_reference_on_degenerate_inputs(n, seed, thr):
    # integer grid boxes (duplicates, exact ties, empty and inverted boxes), few score levels, odd class ids
    g = torch.Generator().manual_seed(seed)
    boxes = torch.randint(0, 6, (n, 4), generator=g).float()
    scores = torch.randint(0, 4, (n,), generator=g).float()
    scores[torch.rand(n, generator=g) < 0.1] = math.nan
    idxs = torch.tensor([-7, 0, 2**40])[torch.randint(0, 3, (n,), generator=g)]
    nat = batched_nms(boxes, scores, idxs, thr, impl="native")
    assert torch.equal(nat, batched_nms_reference(boxes, scores, idxs, thr))


@needs_native
def test_huge_count_native_is_fast_and_exact():
    boxes, scores, idxs = random_boxes(20000, 11, classes=8, extent=1000.0, size=40.0)
    batched_nms(boxes[:100], scores[:100], idxs[:100], 0.5, impl="native")
    t = time.perf_counter()
    keep = batched_nms(boxes, scores, idxs, 0.5, impl="native")
    elapsed = time.perf_counter() - t
    assert torch.equal(keep, torchvision.ops.batched_nms(boxes, scores, idxs, 0.5))
    assert elapsed < 2.0, f"20k boxes took {elapsed:.2f} s"
    one = batched_nms(boxes, scores, torch.zeros_like(idxs), 0.5, impl="native")  # one big class
    assert torch.equal(one, torchvision.ops.nms(boxes, scores, 0.5))


def test_reference_matches_on_bigger_single_class():
    boxes, scores, idxs = random_boxes(1500, 12, classes=1, extent=200.0, size=40.0)
    assert torch.equal(batched_nms_reference(boxes, scores, idxs, 0.5), torchvision.ops.nms(boxes, scores, 0.5))


def test_argument_errors():
    b, s, i = random_boxes(10, 0)
    with pytest.raises(ParameterError):
        batched_nms(b[:, :3], s, i, 0.5)
    with pytest.raises(ParameterError):
        batched_nms(b, s[:5], i, 0.5)
    with pytest.raises(ParameterError):
        batched_nms(b, s, i.float(), 0.5)
    with pytest.raises(ParameterError):
        batched_nms(b, s, i, 0.5, impl="fast")


@needs_native
def test_opcheck():
    boxes, scores, idxs = random_boxes(40, 3, classes=3)
    torch.library.opcheck(torch.ops.distortx.batched_nms.default, (boxes, scores, idxs, 0.5))
    torch.library.opcheck(torch.ops.distortx.batched_nms.default, (boxes[:0], scores[:0], idxs[:0], 0.5))


# -- CUDA (compares the CUDA kernels with the CPU kernel) ------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("seed,n,classes", [(0, 50, 1), (1, 1000, 5), (2, 5000, 20), (3, 130, 3)])
@pytest.mark.parametrize("distinct", [True, False])
def test_cuda_matches_cpu(seed, n, classes, distinct):
    boxes, scores, idxs = random_boxes(n, seed, classes, distinct=distinct)
    boxes[::37, 1] = math.nan
    scores[::41] = math.nan
    cpu = batched_nms(boxes, scores, idxs, 0.5, impl="native")
    cuda = batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(), 0.5, impl="native")
    assert torch.equal(cuda.cpu(), cpu)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_huge_and_empty():
    boxes, scores, idxs = random_boxes(20000, 4, classes=9, extent=1000.0, size=40.0)
    cpu = batched_nms(boxes, scores, idxs, 0.45, impl="native")
    cuda = batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(), 0.45, impl="native")
    assert torch.equal(cuda.cpu(), cpu)
    one = batched_nms(boxes.cuda(), scores.cuda(), torch.zeros_like(idxs).cuda(), 0.45, impl="native")
    assert torch.equal(one.cpu(), torchvision.ops.nms(boxes, scores, 0.45))
    # > 5120 tiles of 64: the walk keeps its removal words in global memory
    big, bs, bi = random_boxes(340000, 5, classes=200, extent=20000.0, size=40.0)
    assert torch.equal(batched_nms(big.cuda(), bs.cuda(), bi.cuda(), 0.5, impl="native").cpu(),
                       batched_nms(big, bs, bi, 0.5, impl="native"))
    e = batched_nms(torch.zeros(0, 4).cuda(), torch.zeros(0).cuda(), torch.zeros(0, dtype=torch.int64).cuda(), 0.5)
    assert e.shape == (0,) and e.is_cuda
