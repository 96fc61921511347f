"""Fused SSD post-processing: native (C++/CUDA) vs reference vs decode + torchvision.ops.batched_nms."""
import math

import pytest
import torch
import torchvision

from distortx.detection import decode, default_boxes, ssd_config
from distortx.errors import ParameterError
from distortx._ext import has_kernel
from distortx.ops.ssd_postprocess import class_scores, ssd_postprocess, ssd_postprocess_reference

NATIVE = has_kernel("ssd_postprocess", "cpu")
IMPLS = ["python"] + (["native"] if NATIVE else [])
needs_native = pytest.mark.skipif(not NATIVE, reason="distortx._C without ssd_postprocess")
CUDA = torch.cuda.is_available() and has_kernel("ssd_postprocess", "cuda")

PRIORS = default_boxes(ssd_config(96, (12, 6, 3, 1)))  # 832 priors


def ssd_outputs(B=3, K=5, seed=0, priors=PRIORS, bg_logit=3.0):
    """Random head outputs: loc ~ N(0, 0.5) (neighbouring priors overlap), background-heavy logits."""
    g = torch.Generator().manual_seed(seed)
    P = priors.shape[0]
    loc = torch.randn(B, P, 4, generator=g) * 0.5
    logits = torch.randn(B, P, K, generator=g)
    logits[..., 0] += bg_logit
    return loc, logits


def torchvision_pipeline(loc, logits, priors, thr=0.01, iou=0.45, topk=200, M=200, softmax=True, bg=0):
    """Our decode + softmax, per-class threshold and top-k, torchvision.ops.batched_nms, cap."""
    boxes = decode(loc, priors)
    probs = class_scores(logits, softmax)
    out = []
    for b in range(loc.shape[0]):
        bxs, scs, lbs = [], [], []
        for c in range(probs.shape[2]):
            if c == bg:
                continue
            s = probs[b, :, c]
            idx = (s > thr).nonzero().squeeze(1)
            top = s[idx].topk(min(topk, idx.numel()))
            idx = idx[top.indices]
            bxs.append(boxes[b, idx]), scs.append(s[idx]), lbs.append(torch.full_like(idx, c))
        bx, sc, lb = torch.cat(bxs), torch.cat(scs), torch.cat(lbs)
        keep = torchvision.ops.batched_nms(bx, sc, lb, iou)[:M]
        out.append((bx[keep], sc[keep], lb[keep]))
    return out


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert torch.equal(x, y)


@needs_native
@pytest.mark.parametrize("softmax,bg,topk,M", [(True, 0, 200, 100), (True, 0, 5, 500), (False, -1, 50, 30),
                                               (True, 2, 1000, 1000), (False, 0, 1, 3)])
def test_native_equals_reference(softmax, bg, topk, M):
    loc, logits = ssd_outputs(seed=topk + M)
    scores = logits if softmax else torch.sigmoid(logits - 2)
    kw = dict(score_threshold=0.05, iou_threshold=0.45, topk_per_class=topk, max_detections=M, apply_softmax=softmax,
              background_class=bg)
    nat = ssd_postprocess(loc, scores, PRIORS, impl="native", **kw)
    ref = ssd_postprocess(loc, scores, PRIORS, impl="python", **kw)
    assert_same(nat, ref)
    assert int(nat.counts.min()) > 0


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("seed,topk,M", [(1, 200, 200), (2, 10, 25)])
def test_equals_decode_plus_torchvision_batched_nms(impl, seed, topk, M):
    loc, logits = ssd_outputs(B=2, K=4, seed=seed)
    det = ssd_postprocess(loc, logits, PRIORS, score_threshold=0.01, iou_threshold=0.45, topk_per_class=topk,
                          max_detections=M, impl=impl)
    for b, (bx, sc, lb) in enumerate(torchvision_pipeline(loc, logits, PRIORS, topk=topk, M=M)):
        n = int(det.counts[b])
        assert n == len(sc) > 0
        assert torch.equal(det.scores[b, :n], sc)
        assert torch.equal(det.labels[b, :n], lb)
        assert torch.equal(det.boxes[b, :n], bx)


@pytest.mark.parametrize("impl", IMPLS)
def test_topk_cap_order_and_padding(impl):
    loc, logits = ssd_outputs(B=2, K=6, seed=3)
    det = ssd_postprocess(loc, logits, PRIORS, score_threshold=0.01, topk_per_class=4, max_detections=15, impl=impl)
    assert det.boxes.shape == (2, 15, 4) and det.scores.shape == (2, 15) and det.labels.dtype == torch.int64
    for b in range(2):
        n = int(det.counts[b])
        assert n == 15  # 5 classes x up to 4 each, capped at 15
        assert torch.bincount(det.labels[b, :n], minlength=6).max() <= 4
        assert (det.labels[b, :n] >= 1).all()
        assert (det.scores[b, 1:n] <= det.scores[b, :n - 1]).all()
    # a large cap leaves padding after the detections
    det = ssd_postprocess(loc, logits, PRIORS, score_threshold=0.01, topk_per_class=4, max_detections=50, impl=impl)
    for b in range(2):
        n = int(det.counts[b])
        assert n <= 20
        assert (det.labels[b, n:] == -1).all() and (det.scores[b, n:] == 0).all() and (det.boxes[b, n:] == 0).all()


@pytest.mark.parametrize("impl", IMPLS)
def test_all_below_threshold_and_empty_inputs(impl):
    loc, logits = ssd_outputs(B=2, seed=4, bg_logit=8.0)
    det = ssd_postprocess(loc, logits, PRIORS, score_threshold=0.9, impl=impl)
    assert det.counts.tolist() == [0, 0] and (det.labels == -1).all() and (det.scores == 0).all()
    assert (det.boxes == 0).all() and det.boxes.shape == (2, 200, 4)
    det = ssd_postprocess(loc[:0], logits[:0], PRIORS, impl=impl)
    assert det.boxes.shape == (0, 200, 4) and det.counts.shape == (0,)
    det = ssd_postprocess(torch.zeros(2, 0, 4), torch.zeros(2, 0, 3), torch.zeros(0, 4), impl=impl)
    assert det.counts.tolist() == [0, 0] and det.labels.shape == (2, 200)
    det = ssd_postprocess(loc, logits[..., :1], PRIORS, impl=impl)  # only the background class
    assert det.counts.tolist() == [0, 0]
    det = ssd_postprocess(loc, logits, PRIORS, max_detections=0, impl=impl)
    assert det.boxes.shape == (2, 0, 4) and det.counts.tolist() == [0, 0]


@pytest.mark.parametrize("impl", IMPLS)
def test_nan_and_inf_inputs_are_dropped(impl):
    loc, logits = ssd_outputs(B=2, seed=5)
    clean = torch.softmax(logits, -1)
    base = ssd_postprocess(loc, clean, PRIORS, apply_softmax=False, impl=impl)
    # the prior of image 0's best detection is made invalid in turn
    hit_prior = int((decode(loc[0], PRIORS) == base.boxes[0, 0]).all(1).nonzero()[0])
    for mutate in ("nan_score", "nan_loc", "inf_loc_xy", "nan_prior"):
        scores, lc, pri = clean.clone(), loc.clone(), PRIORS.clone()
        if mutate == "nan_score":
            scores[0, hit_prior, :] = math.nan
        elif mutate == "nan_loc":
            lc[0, hit_prior, 2] = math.nan
        elif mutate == "inf_loc_xy":
            lc[0, hit_prior, 0] = math.inf
        else:
            pri[hit_prior, 0] = math.nan  # drops the prior in every image
        det = ssd_postprocess(lc, scores, pri, apply_softmax=False, impl=impl)
        # same as removing the prior's scores altogether
        zeroed = clean.clone()
        zeroed[slice(None) if mutate == "nan_prior" else 0, hit_prior] = 0.0
        assert_same(det, ssd_postprocess(loc, zeroed, PRIORS, apply_softmax=False, impl=impl))
        assert float(det.scores[0, 0]) < float(base.scores[0, 0])
    # inf regression of the size only: clamped, the box stays finite and can be kept
    lc = loc.clone()
    lc[0, hit_prior, 2:] = math.inf
    det = ssd_postprocess(lc, clean, PRIORS, apply_softmax=False, impl=impl)
    assert torch.isfinite(det.boxes).all() and float(det.scores[0, 0]) == float(base.scores[0, 0])
    # non-finite logits with softmax: the whole prior is dropped; +inf scores without softmax rank first
    lg = logits.clone()
    lg[:, :50, 1] = math.inf
    lg[:, 50:60, 2] = -math.inf
    det = ssd_postprocess(loc, lg, PRIORS, impl=impl)
    quiet = logits.clone()  # the same priors made certain background instead
    quiet[:, :60] = 0.0
    quiet[:, :60, 0] = 1e4
    ok = ssd_postprocess(loc, quiet, PRIORS, impl=impl)
    assert_same(det, ok)
    s = clean.clone()
    s[1, 7, 3] = math.inf
    det = ssd_postprocess(loc, s, PRIORS, apply_softmax=False, impl=impl)
    assert det.scores[1, 0] == math.inf and det.labels[1, 0] == 3


@needs_native
def test_ties_are_deterministic():
    loc, logits = ssd_outputs(B=2, K=4, seed=6)
    scores = torch.randint(0, 6, logits.shape, generator=torch.Generator().manual_seed(0)).float() / 5  # many ties
    kw = dict(score_threshold=0.1, topk_per_class=40, max_detections=60, apply_softmax=False)
    nat = ssd_postprocess(loc, scores, PRIORS, impl="native", **kw)
    assert_same(nat, ssd_postprocess(loc, scores, PRIORS, impl="python", **kw))
    # order (score desc, class asc) among the detections
    for b in range(2):
        n = int(nat.counts[b])
        key = nat.scores[b, :n].double() * 100 - nat.labels[b, :n].double()
        assert (key[1:] <= key[:-1]).all()


@needs_native
@pytest.mark.parametrize("seed", range(6))
def test_native_equals_reference_on_quantised_inputs(seed):
    # coarse loc and scores: identical boxes, exact score ties across priors and classes, empty boxes
    g = torch.Generator().manual_seed(seed)
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.4], [0.7, 0.2, 0.0, 0.3]]).repeat(40, 1)
    loc = torch.randint(-2, 3, (2, 120, 4), generator=g).float()
    scores = torch.randint(0, 5, (2, 120, 4), generator=g).float() / 4
    kw = dict(score_threshold=0.2, iou_threshold=[0.0, 0.3, 0.5, 0.99, 1.0, 0.45][seed], topk_per_class=[1, 7, 50, 200, 3, 9][seed],
              max_detections=[5, 40, 1000, 13, 2, 60][seed], apply_softmax=seed % 2 == 0, background_class=seed % 3 - 1)
    assert_same(ssd_postprocess(loc, scores, priors, impl="native", **kw),
                ssd_postprocess(loc, scores, priors, impl="python", **kw))


def test_argument_errors():
    loc, logits = ssd_outputs(B=1)
    with pytest.raises(ParameterError):
        ssd_postprocess(loc[..., :3], logits, PRIORS)
    with pytest.raises(ParameterError):
        ssd_postprocess(loc, logits, PRIORS[:10])
    with pytest.raises(ParameterError):
        ssd_postprocess(loc, logits, PRIORS, topk_per_class=0)
    with pytest.raises(ParameterError):
        ssd_postprocess(loc, logits, PRIORS, background_class=5)
    with pytest.raises(ParameterError):
        ssd_postprocess(loc, logits, PRIORS, variances=(0.1,))
    with pytest.raises(ParameterError):
        ssd_postprocess_reference(loc, logits, PRIORS, iou_threshold=math.nan)


@needs_native
def test_opcheck():
    loc, logits = ssd_outputs(B=2, K=3, seed=7)
    args = (loc, logits, PRIORS, [0.1, 0.2], 0.01, 0.45, 20, 30, True, 0)
    torch.library.opcheck(torch.ops.distortx.ssd_postprocess.default, args)
    torch.library.opcheck(torch.ops.distortx.ssd_postprocess.default, (loc, torch.sigmoid(logits), PRIORS, [0.1, 0.2],
                                                                      0.3, 0.5, 5, 7, False, -1))


# -- CUDA (compares the CUDA kernels with the CPU kernel) ------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("softmax,thr,topk,M", [(True, 0.01, 200, 200), (True, 0.01, 20, 50), (False, 0.0, 3000, 500),
                                                (False, 0.5, 1, 1000)])
def test_cuda_matches_cpu(softmax, thr, topk, M):
    priors = default_boxes()
    loc, logits = ssd_outputs(B=4, K=9, seed=topk, priors=priors, bg_logit=5.0)
    scores = logits if softmax else torch.rand(logits.shape, generator=torch.Generator().manual_seed(1))
    loc[0, ::97, 0] = math.nan
    scores[1, ::89, 2] = math.nan
    kw = dict(score_threshold=thr, topk_per_class=topk, max_detections=M, apply_softmax=softmax)
    cpu = ssd_postprocess(loc, scores, priors, impl="native", **kw)
    cuda = ssd_postprocess(loc.cuda(), scores.cuda(), priors.cuda(), impl="native", **kw)
    assert_same([t.cpu() for t in cuda], cpu)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_graph_capture():
    priors = default_boxes().cuda()
    loc, logits = ssd_outputs(B=8, K=9, seed=1, priors=priors.cpu(), bg_logit=5.0)
    loc, logits = loc.cuda(), logits.cuda()
    static_loc, static_logits = loc.clone(), logits.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        ssd_postprocess(static_loc, static_logits, priors, impl="native")  # warm-up outside the graph
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = ssd_postprocess(static_loc, static_logits, priors, impl="native")
    loc2, logits2 = ssd_outputs(B=8, K=9, seed=2, priors=priors.cpu(), bg_logit=5.0)
    static_loc.copy_(loc2.cuda())
    static_logits.copy_(logits2.cuda())
    graph.replay()
    torch.cuda.synchronize()
    assert_same([t.cpu() for t in out], ssd_postprocess(loc2, logits2, priors.cpu(), impl="native"))
