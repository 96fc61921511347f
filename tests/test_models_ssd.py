"""The SSD head: extra layers and default boxes from the actual feature maps (SSD300's 8732 golden priors on
atrous VGG-16), MultiBoxLoss with 3:1 hard negative mining, post-processing to pixel boxes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from distortx import ImageError, ParameterError, create_model
from distortx.detection import SSD300, SSD512, assign_targets, decode, default_boxes, ssd_config
from distortx.models.assemble import build_backbone
from distortx.models.heads import MultiBoxLoss, hard_negative_mask, ssd
from distortx.ops.ssd_postprocess import ssd_postprocess_reference


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: a single intra-op thread is as fast and immune to a busy shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# -- default boxes and extra layers -------------------------------------------------------------------------------
def test_atrous_vgg16_at_300_gives_ssd300s_8732_golden_priors_and_layout():
    torch.manual_seed(0)
    _, channels, strides, sizes = build_backbone("atrous_vgg16", 300)  # the real maps' sizes (meta probe)
    assert sizes == [(38, 38), (19, 19)]
    head = ssd(channels, num_classes=9, strides=strides, feature_sizes=sizes, image_size=300, batch_norm=False)
    assert head.map_sizes(sizes) == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    assert head.prior_config((300, 300), sizes) == SSD300
    priors = head.priors((300, 300), sizes)
    assert priors.shape == (8732, 4) and torch.equal(priors, default_boxes(SSD300))
    assert head.boxes_per_cell == (4, 6, 6, 6, 4, 4)
    assert [c.out_channels for c in head.loc] == [16, 24, 24, 24, 16, 16]
    assert [c.out_channels for c in head.conf] == [36, 54, 54, 54, 36, 36]
    # SSD300's extra layers: conv8 (256 -> 512, stride 2), conv9 (128 -> 256, stride 2), conv10/11 (128 -> 256, valid)
    layout = [(b.body[0].out_channels, b.out_channels, b.stride, b.kernel) for b in head.extras]
    assert layout == [(256, 512, 2, 3), (128, 256, 2, 3), (128, 256, 1, 3), (128, 256, 1, 3)]


def test_the_assembled_atrous_vgg16_ynet_is_ssd300():
    m = create_model("ynet", backbone="atrous_vgg16")
    head = m.heads["detection"]
    assert torch.equal(head.priors((300, 300), [(38, 38), (19, 19)]), default_boxes(SSD300))
    assert m.feature_strides == (8, 16) and head.map_strides == (8, 16, 32, 64, 64, 64)


def test_a_512_input_follows_ssd512s_map_sizes():
    """A backbone with a 64x64 and a 32x32 map at 512: extras 16, 8, 4, 2, 1 (SSD512's seven maps)."""
    head = ssd((64, 128), num_classes=3, strides=(8, 16), feature_sizes=[(64, 64), (32, 32)], image_size=512, num_maps=7)
    sizes = head.map_sizes([(64, 64), (32, 32)])
    assert [s for s, _ in sizes] == list(SSD512.feature_maps)
    feats = [torch.randn(2, 64, 64, 64), torch.randn(2, 128, 32, 32)]
    loc, conf = head(feats)
    assert loc.shape[1] == head.priors((512, 512), [(64, 64), (32, 32)]).shape[0] == SSD512.num_priors()


def test_priors_follow_the_actual_feature_maps_of_each_input_size_and_are_cached():
    torch.manual_seed(0)
    m = create_model("detector", backbone="dx_small", image_size=128).eval()
    head = m.heads["detection"]
    seen = {}
    for size in (128, 160, 96):
        with torch.no_grad():
            out = m(torch.rand(1, 3, size, size), postprocess=False)
        feats = [f.shape[-2:] for f in m.features(torch.rand(1, 3, size, size))]
        cfg = head.prior_config((size, size), feats)
        assert out.priors.shape == (out.loc.shape[1], 4) == (cfg.num_priors(), 4)
        assert torch.equal(out.priors, default_boxes(cfg))
        seen[size] = out.priors
    assert len({p.shape[0] for p in seen.values()}) == 3
    with torch.no_grad():
        again = m(torch.rand(2, 3, 128, 128), postprocess=False).priors
    assert again is seen[128]  # cached per input size


def test_the_step_of_a_map_is_its_stride_when_it_tiles_the_image_else_image_over_cells():
    head = ssd((96, 160, 256), num_classes=9, strides=(8, 16, 32), feature_sizes=[(38, 38), (19, 19), (10, 10)])
    cfg = head.prior_config((300, 300), [(38, 38), (19, 19), (10, 10)])
    assert cfg.feature_maps == (38, 19, 10, 5, 3, 1) and cfg.steps == SSD300.steps
    assert cfg == ssd_config(300, (38, 19, 10, 5, 3, 1), steps=SSD300.steps)


def test_extra_layers_run_on_maps_smaller_than_their_kernel():
    head = ssd((32,), num_classes=3, strides=(32,), feature_sizes=[(10, 10)], image_size=320)
    assert [b.stride for b in head.extras] == [2, 1, 1]  # 10 -> 5 -> 3 -> 1
    loc, conf = head([torch.randn(2, 32, 2, 2)])  # a far smaller input: 2 -> 1 -> 1 (padded) -> 1 (padded)
    assert loc.shape[1] == head.priors((64, 64), [(2, 2)]).shape[0]


def test_the_detector_refuses_non_square_inputs_and_single_map_dead_ends():
    m = create_model("detector", backbone="dx_small", image_size=128)
    with pytest.raises(ImageError, match="square"):
        m(torch.rand(1, 3, 128, 160))
    with pytest.raises(ParameterError, match="at least two maps"):
        ssd((32,), num_classes=3, strides=(32,), feature_sizes=[(1, 1)], image_size=32)


# -- MultiBoxLoss -------------------------------------------------------------------------------------------------
PRIORS = default_boxes(ssd_config(96, (12, 6, 3, 1)))  # 832 priors
P = PRIORS.shape[0]


def scene(n_images=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    boxes, labels = [], []
    for i in range(n_images):
        k = i  # 0, 1, 2 ... objects: image 0 has none
        xy = torch.rand(k, 2, generator=g) * 0.5
        wh = 0.2 + torch.rand(k, 2, generator=g) * 0.3
        boxes.append(torch.cat([xy, xy + wh], 1))
        labels.append(torch.randint(1, 4, (k,), generator=g))
    return boxes, labels


def test_hard_negative_mining_keeps_three_negatives_per_positive_or_all():
    torch.manual_seed(0)
    loss = torch.rand(3, 50)
    pos = torch.zeros(3, 50, dtype=torch.bool)
    pos[0, [3, 7]] = True        # 2 positives -> 6 negatives
    pos[1, :20] = True           # 20 positives -> 60 > 30 negatives -> all 30
    neg = hard_negative_mask(loss, pos, 3.0)   # image 2: no positive -> no negative
    assert neg.sum(1).tolist() == [6, 30, 0]
    assert not (neg & pos).any()
    top6 = loss[0].masked_fill(pos[0], -1).topk(6).indices
    assert set(neg[0].nonzero().flatten().tolist()) == set(top6.tolist())
    one = torch.zeros(1, 10, dtype=torch.bool)
    one[0, 0] = True  # equal losses: the lowest prior indices are mined
    assert hard_negative_mask(torch.zeros(1, 10), one, 3.0).nonzero()[:, 1].tolist() == [1, 2, 3]


def test_batched_matching_equals_the_per_image_matcher_with_its_tie_breaks():
    boxes, labels = scene(5, seed=3)
    boxes[3] = torch.tensor([[0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.4, 0.4], [0.0, 0.0, 0.02, 0.02]])  # twins force one prior
    labels[3] = torch.tensor([1, 2, 3])
    boxes[4], labels[4] = torch.tensor([[2.0, 2.0, 3.0, 3.0]]), torch.tensor([2])  # overlaps no prior
    loc_t, lab_t = MultiBoxLoss().targets(PRIORS, boxes, labels)
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        ref_loc, ref_lab = assign_targets(b, lab, PRIORS)
        assert torch.equal(lab_t[i], ref_lab) and torch.equal(loc_t[i], ref_loc), i
    assert (lab_t[3] == 2).any() and int((lab_t[4] > 0).sum()) == 0


def test_the_loss_is_zero_when_predictions_equal_the_targets():
    boxes, labels = scene()
    crit = MultiBoxLoss()
    loc_t, lab_t = crit.targets(PRIORS, boxes, labels)
    conf = F.one_hot(lab_t, 4).float() * 200.0  # softmax ~ one-hot: cross-entropy 0 in float32
    loc_loss, conf_loss = crit(loc_t.clone(), conf, PRIORS, boxes, labels)
    assert loc_loss.item() == 0.0 and conf_loss.item() == 0.0
    loc_loss, _ = crit(loc_t + 0.5, conf, PRIORS, boxes, labels)
    assert loc_loss.item() > 0


def test_the_loss_matches_its_definition_and_gradients_reach_only_positives_and_mined_negatives():
    torch.manual_seed(0)
    boxes, labels = scene()
    crit = MultiBoxLoss(neg_pos_ratio=3.0)
    loc = torch.randn(3, P, 4, requires_grad=True)
    conf = torch.randn(3, P, 4, requires_grad=True)
    loc_loss, conf_loss = crit(loc, conf, PRIORS, boxes, labels)
    (loc_loss + conf_loss).backward()

    loc_t, lab_t = zip(*[assign_targets(b, lab, PRIORS) for b, lab in zip(boxes, labels)])
    loc_t, lab_t = torch.stack(loc_t), torch.stack(lab_t)
    pos = lab_t > 0
    n_pos = int(pos.sum())
    assert pos.sum(1).tolist()[0] == 0 and n_pos > 0
    ce = F.cross_entropy(conf.detach().reshape(-1, 4), lab_t.reshape(-1), reduction="none").view(3, P)
    mined = torch.zeros_like(pos)
    for i in range(3):  # by hand: the 3 n_pos_i highest-loss negatives of each image
        order = ce[i].masked_fill(pos[i], -1).argsort(descending=True)
        mined[i, order[: 3 * int(pos[i].sum())]] = True
    expected_conf = (ce[pos].sum() + ce[mined].sum()) / n_pos
    expected_loc = F.smooth_l1_loss(loc.detach()[pos], loc_t[pos], reduction="sum") / n_pos
    assert torch.allclose(conf_loss, expected_conf, rtol=1e-5) and torch.allclose(loc_loss, expected_loc, rtol=1e-5)
    got = conf.grad.abs().sum(-1) > 0
    assert torch.equal(got, pos | mined)
    assert int(mined.sum()) == 3 * n_pos
    assert torch.equal(loc.grad.abs().sum(-1) > 0, pos)


def test_images_without_objects_contribute_nothing_and_normalisation_is_by_positives():
    torch.manual_seed(0)
    boxes, labels = scene()
    crit = MultiBoxLoss()
    loc, conf = torch.randn(3, P, 4), torch.randn(3, P, 4)
    a = crit(loc, conf, PRIORS, boxes, labels)
    b = crit(loc[1:], conf[1:], PRIORS, boxes[1:], labels[1:])  # without the empty image 0
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
    twice = crit(torch.cat([loc, loc]), torch.cat([conf, conf]), PRIORS, boxes * 2, labels * 2)
    assert torch.allclose(twice[0], a[0]) and torch.allclose(twice[1], a[1])
    empty = crit(loc[:1], conf[:1], PRIORS, boxes[:1], labels[:1])
    assert empty[0].item() == 0 and empty[1].item() == 0


# -- post-processing ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["python", "auto"])
def test_postprocess_gives_clipped_pixel_boxes_of_the_fused_op(impl):
    torch.manual_seed(0)
    head = ssd((16, 32), num_classes=4, strides=(8, 16), feature_sizes=[(12, 12), (6, 6)], image_size=96, impl=impl)
    feats = [torch.randn(2, 16, 12, 12), torch.randn(2, 32, 6, 6)]
    with torch.no_grad():
        loc, conf = head(feats)
    priors = head.priors((96, 96), [(12, 12), (6, 6)])
    dets = head.postprocess(loc, conf, priors, (96, 96))
    ref = ssd_postprocess_reference(loc, conf, priors)
    for i, d in enumerate(dets):
        n = int(ref.counts[i])
        assert d["boxes"].shape == (n, 4) and torch.equal(d["labels"], ref.labels[i, :n])
        assert torch.allclose(d["scores"], ref.scores[i, :n])
        assert torch.allclose(d["boxes"], (ref.boxes[i, :n] * 96).clamp(0, 96), atol=1e-4)
    raw = decode(loc, priors) * 96
    assert (raw < 0).any() or (raw > 96).any()  # the clip did something
