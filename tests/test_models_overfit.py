"""A Y-net on the small backbone memorises 8 generated detection images on a CPU: the model, its loss, its
default boxes and its decoding fit together (a wrong box order, coder or matcher would not converge)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import distortx
from distortx.data import SynthesisStream
from distortx.detection import box_iou
from distortx.models.batchnorm import precise_batch_norm

SIZE, STEPS = 128, 40


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: a single intra-op thread is as fast and immune to a busy shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def overfit_batch():
    """8 images of the ahn-detection-basic recipe (all 8 types, 1..3 regions of side ratio 0.3..0.7), 128x128."""
    preset = dataclasses.replace(distortx.get_preset("ahn-detection-basic"), name="overfit", crop=SIZE, resize=True,
                                 regions=(1, 3), per_image=4, splits=(("train", 1.0),))
    stream = SynthesisStream(preset, images=None, split=None, seed=1, count=8, batch_size=8, shuffle=False)
    return next(iter(stream)), preset


def test_a_small_ynet_overfits_eight_detection_images():
    batch, preset = overfit_batch()
    images, targets = batch["images"], batch["targets"]
    assert images.shape == (8, 3, SIZE, SIZE) and sum(len(t["boxes"]) for t in targets) >= 12
    torch.manual_seed(0)
    model = distortx.create_model("ynet", backbone="dx_small", classes=preset.distortions, image_size=SIZE)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-3, total_steps=STEPS, pct_start=0.2)
    model.train()
    losses = []
    for _ in range(STEPS):
        loss, parts = model.loss(model(images), {"targets": targets})
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(parts["loss"])
    assert losses[-1] < losses[0] / 10, losses[::5]

    # the running BN statistics of a 40-step run lag behind the final weights: average them afresh
    assert precise_batch_norm(model, [images]) == 1
    model.eval()
    with torch.no_grad():
        out = model(images)
    for det, target in zip(out.detections, targets):
        for box, label in zip(target["boxes"], target["labels"]):
            confident = (det["labels"] == label) & (det["scores"] >= 0.5)
            assert confident.any(), f"no confident {preset.distortions[label - 1]} detection"
            assert box_iou(box[None], det["boxes"][confident]).max() >= 0.7

    from distortx.engine.evaluation.metrics import detection_metrics

    result = detection_metrics([{k: d[k] for k in ("boxes", "scores", "labels")} for d in out.detections],
                               [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets])
    assert result.map(0.5) >= 0.9
