"""The edge refiner (distortx/models/heads/edge_refiner.py): strip geometry, the loss's targets and refine()
agreeing on every side, and a small refiner learning to find a region's border."""
import pytest
import torch

from distortx.models import create_model
from distortx.models.heads.edge_refiner import EdgeRefiner, cut_strips


def _coordinate_image(h=40, w=50):
    """Channel 0 = x, channel 1 = y, channel 2 = 7: a pixel's values say where it came from."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return torch.stack([x, y, torch.full_like(x, 7.0)]).unsqueeze(0)


@pytest.mark.parametrize("side", [0, 1, 2, 3])
def test_strips_cut_across_each_side_with_the_inside_to_the_right(side):
    img = torch.cat([torch.zeros(1, 3, 40, 50), _coordinate_image()])          # image 1 of the batch
    edge, centre, length, window = 20, 18, 8, 10
    s = cut_strips(img, torch.tensor([1]), torch.tensor([side]), torch.tensor([edge]), torch.tensor([centre]),
                   length, window)[0]
    assert s.shape == (4, length, window)
    across_ch, along_ch = (0, 1) if side in (0, 2) else (1, 0)
    for i in range(length):
        for j in range(window):
            across = edge - window // 2 + j if side < 2 else edge + window // 2 - 1 - j
            assert s[across_ch, i, j] == across
            assert s[along_ch, i, j] == centre - length // 2 + i
    assert torch.all(s[2] == 7) and torch.all(s[3] == 1)


def test_strips_outside_the_image_are_zero_and_marked_invalid():
    img = _coordinate_image(20, 20) + 1
    s = cut_strips(img, torch.tensor([0]), torch.tensor([0]), torch.tensor([2]), torch.tensor([10]), 4, 10)[0]
    # columns 0..2 are x = -3..-1: outside
    assert torch.all(s[:, :, :3] == 0)
    assert torch.all(s[3, :, 3:] == 1) and torch.all(s[0, :, 3:] == torch.arange(0, 7).float() + 1)


class _Oracle(EdgeRefiner):
    """A refiner that reads the border off a 0 / 1 image: the first column whose mean is above 1/2."""

    def forward(self, strips, labels):
        profile = strips[:, 0].mean(1)                      # [S, window]
        first = (profile > 0.5).float().argmax(1)
        return torch.nn.functional.one_hot(first, self.window).float() * 100.0


def _region_image(box, h=60, w=70):
    img = torch.zeros(1, 3, h, w)
    x0, y0, x1, y1 = box
    img[:, :, y0:y1, x0:x1] = 1.0
    return img


def test_refine_and_the_loss_targets_agree_on_every_side():
    box = (12, 9, 41, 47)
    img = _region_image(box)
    oracle = _Oracle(3, window=16, length=8, windows=2)
    guess = torch.tensor([[15.0, 4.0, 37.0, 52.0]])                # every side off, inwards and outwards
    out = oracle.refine(img, [{"boxes": guess, "scores": torch.ones(1), "labels": torch.tensor([1])}])
    assert out[0]["boxes"].tolist() == [list(map(float, box))]
    assert out[0]["scores"].tolist() == [1.0]
    targets = [{"boxes": torch.tensor([box], dtype=torch.float32), "labels": torch.tensor([2])}]
    loss = oracle.loss(img, targets, generator=torch.Generator().manual_seed(0))
    assert float(loss) < 1e-6                                     # the oracle's column is the loss's target


class _Inward(EdgeRefiner):
    """Every side's border at the strip's last column: 7 px inwards with window 16."""

    def forward(self, strips, labels):
        return torch.nn.functional.one_hot(torch.full((strips.shape[0],), self.window - 1), self.window).float()


def test_refine_keeps_a_box_it_would_collapse_and_passes_empty_detections():
    inward = _Inward(3, window=16, length=8)
    img = torch.zeros(1, 3, 40, 40)
    wide, narrow = [4.0, 6.0, 30.0, 34.0], [10.0, 10.0, 13.0, 30.0]
    out = inward.refine(img, [{"boxes": torch.tensor([wide, narrow]), "scores": torch.ones(2),
                               "labels": torch.tensor([1, 2])}])
    assert out[0]["boxes"].tolist() == [[11.0, 13.0, 23.0, 27.0], narrow]   # the narrow one would invert: kept
    oracle = _Oracle(3, window=16, length=8)
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}]
    kept = oracle.refine(img, empty)[0]
    assert kept["boxes"].shape == (0, 4) and kept["border"].shape == (0,)


def _iou(a, b):
    ix = (min(a[2], b[2]) - max(a[0], b[0])).clamp(min=0) * (min(a[3], b[3]) - max(a[1], b[1])).clamp(min=0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return float(ix / (area(a) + area(b) - ix))


def test_a_small_refiner_learns_to_find_a_noise_region_border():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)

    def batch(n=8):
        imgs, targets = [], []
        for _ in range(n):
            img = torch.rand(1, 3, 1, 1).expand(1, 3, 64, 64).clone() * 0.6 + 0.2
            x0, y0 = torch.randint(4, 24, (2,), generator=g).tolist()
            w, h = torch.randint(20, 36, (2,), generator=g).tolist()
            img[..., y0:y0 + h, x0:x0 + w] += torch.randn(1, 3, h, w, generator=g) * 0.15
            imgs.append(img.clamp(0, 1))
            targets.append({"boxes": torch.tensor([[x0, y0, x0 + w, y0 + h]], dtype=torch.float32),
                            "labels": torch.tensor([1])})
        return torch.cat(imgs), targets

    net = EdgeRefiner(2, window=16, length=8, channels=8, windows=2, jitter_sd=3.0, strips_per_box=2)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(120):
        images, targets = batch()
        loss = net.loss(images, targets, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    images, targets = batch(16)
    truth = torch.cat([t["boxes"] for t in targets])
    guess = truth + torch.randint(-5, 6, truth.shape, generator=g).float()
    dets = [{"boxes": guess[i:i + 1], "scores": torch.ones(1), "labels": torch.tensor([1])} for i in range(16)]
    refined = torch.cat([d["boxes"] for d in net.refine(images, dets)])
    before = sum(_iou(a, b) for a, b in zip(guess, truth)) / 16
    after = sum(_iou(a, b) for a, b in zip(refined, truth)) / 16
    assert after > 0.95 and after > before + 0.1, (before, after)


def test_a_model_with_a_refiner_refines_its_decoded_boxes_and_trains_it():
    model = create_model("detector", backbone="dx_small", classes=["gaussian_noise", "gaussian_blur"], image_size=64,
                         head_kwargs={"refine": {"window": 16, "length": 8, "channels": 8}})
    refiner = model.heads["detection"].refiner
    calls = []
    original = refiner.refine
    refiner.refine = lambda images, dets: calls.append(images.shape) or original(images, dets)
    model.eval()
    with torch.no_grad():
        model((torch.rand(2, 3, 64, 64) * 255).to(torch.uint8))
    assert calls == [(2, 3, 64, 64)]
    model.train()
    out = model(torch.rand(2, 3, 64, 64))
    targets = [{"boxes": torch.tensor([[4.0, 4.0, 40.0, 40.0]]), "labels": torch.tensor([1])}] * 2
    total, terms = model.loss(out, {"targets": targets})
    assert "refine" in terms and terms["refine"] > 0
    total.backward()
    assert refiner.border.weight.grad is not None and refiner.border.weight.grad.abs().sum() > 0
    # frozen (a training stage's `freeze`), its loss would have no gradient: it is not computed at all
    refiner.requires_grad_(False)
    refiner.loss = lambda *a, **k: pytest.fail("a frozen refiner's loss was computed")
    total, terms = model.loss(model(torch.rand(2, 3, 64, 64)), {"targets": targets})
    assert "refine" not in terms and {"loc", "conf"} <= set(terms)
    total.backward()


def test_boxes_that_meet_on_one_region_are_merged_and_low_scores_are_left_alone():
    box = (12, 9, 41, 47)
    img = _region_image(box)
    oracle = _Oracle(3, window=16, length=8, min_score=0.2)
    guesses = torch.tensor([[15.0, 4.0, 37.0, 52.0], [8.0, 12.0, 44.0, 43.0], [8.0, 12.0, 44.0, 43.0]])
    dets = [{"boxes": guesses, "scores": torch.tensor([0.9, 0.8, 0.1]), "labels": torch.tensor([1, 1, 2])}]
    out = oracle.refine(img, dets)[0]
    # the first two meet on the region (one kept: the higher score); the third is below min_score: as it was
    assert out["boxes"].tolist() == [list(map(float, box)), guesses[2].tolist()]
    assert out["scores"].tolist() == pytest.approx([0.9, 0.1]) and out["labels"].tolist() == [1, 2]
    oracle.nms_iou = None
    assert oracle.refine(img, dets)[0]["boxes"].shape == (3, 4)


def test_predict_refines_only_the_boxes_it_reports():
    from distortx.engine.inference.predict import Predictor

    model = create_model("detector", backbone="dx_small", classes=["gaussian_noise"], image_size=64,
                         head_kwargs={"refine": {"window": 16, "length": 8, "channels": 8, "min_score": 0.1}})
    refiner = model.heads["detection"].refiner
    seen = []
    original = refiner.refine
    refiner.refine = lambda images, dets: seen.append(refiner.min_score) or original(images, dets)
    Predictor(model, tile=64, score_threshold=0.6)(torch.rand(3, 100, 90))
    assert seen and set(seen) == {0.6} and refiner.min_score == 0.1
