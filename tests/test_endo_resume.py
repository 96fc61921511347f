"""Endo's classifiers resume (experiments/endo/cifar.py): a run stopped and continued from its saved state ends with
the weights of a run that never stopped, and a state of another network or setting is refused."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "endo"))
import cifar  # noqa: E402

from distortx.estimation import get_target  # noqa: E402


def tiny_data(n: int = 48):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8), torch.randint(0, 10, (n,), generator=g)


def config(**kw) -> "cifar.ClassifierTraining":
    return cifar.ClassifierTraining(**dict(dict(epochs=3, batch_size=16, width=8, warmup=2, log_every=1000, chunk=32),
                                           **kw))


def roundtrip(state: dict) -> dict:
    """The state as the resume file gives it back (torch.save, torch.load(weights_only=True))."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_a_stopped_run_continued_ends_as_an_unstopped_one():
    x, y = tiny_data()
    target = get_target("jpeg_quality")
    whole, info = cifar.train_classifier("deg", target, x, y, config(), log=lambda m: None)
    assert info["steps"] == 9   # 3 epochs of 3 batches
    saved = []
    cifar.train_classifier("deg", target, x, y, config(), log=lambda m: None,
                           on_checkpoint=lambda s: saved.append(roundtrip(s)), checkpoint_seconds=0.0)
    mid = next(s for s in saved if s["step"] == 4)     # in the second epoch, one batch into its pool
    assert mid["cursor"] == 16
    resumed, _ = cifar.train_classifier("deg", target, x, y, config(), log=lambda m: None, resume=mid)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    # a fault: the pool drawn afresh instead of from where the stopped run drew it gives other weights
    wrong = dict(mid, pool_rng=torch.Generator().manual_seed(123).get_state())
    other, _ = cifar.train_classifier("deg", target, x, y, config(), log=lambda m: None, resume=wrong)
    assert any(not torch.equal(a, b) for a, b in zip(whole.state_dict().values(), other.state_dict().values()))


def test_a_state_of_another_network_or_setting_is_refused():
    x, y = tiny_data(32)
    target = get_target("jpeg_quality")
    saved = []
    cifar.train_classifier("org", target, x, y, config(epochs=1), log=lambda m: None, on_checkpoint=saved.append,
                           checkpoint_seconds=0.0)
    with pytest.raises(ValueError, match="network 'org'"):
        cifar.train_classifier("deg", target, x, y, config(epochs=1), log=lambda m: None, resume=saved[0])
    with pytest.raises(ValueError, match="not 'org'"):
        cifar.train_classifier("org", target, x, y, config(epochs=2), log=lambda m: None, resume=saved[0])
