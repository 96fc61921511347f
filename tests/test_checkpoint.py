"""The one checkpoint reader (distortx.models.checkpoint): every kind of weights file distortx reads goes
through it -- run checkpoints, the shipped Y-net, the shipped estimators, user state dicts."""
from __future__ import annotations

import pytest
import torch

import distortx
from distortx.errors import DistortxError
from distortx.models.checkpoint import (export_weights, load_model, read_checkpoint, read_state_dict, save_checkpoint,
                                        shipped_weights)


@pytest.fixture()
def tiny():
    return distortx.create_model("classifier", backbone="simple_cnn", image_size=32, backbone_kwargs={"width": 8})


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod."])
def test_wrapped_state_dicts_lose_their_prefix(tmp_path, tiny, prefix):
    state = {prefix + k: v for k, v in tiny.state_dict().items()}
    torch.save(state, tmp_path / "bare.pt")
    torch.save({"state_dict": state}, tmp_path / "wrapped.pt")
    save_checkpoint({"model": state, "model_config": tiny.config}, tmp_path / "ck.pt")
    for name in ("bare.pt", "wrapped.pt", "ck.pt"):
        assert set(read_state_dict(tmp_path / name)) == set(tiny.state_dict()), name
    back = load_model(tmp_path / "ck.pt")
    assert all(torch.equal(back.state_dict()[k], v) for k, v in tiny.state_dict().items())


def test_a_run_folder_reads_its_best_checkpoint(tmp_path, tiny):
    export_weights({"model": tiny.state_dict(), "model_config": tiny.config, "step": 3}, tmp_path / "last.pt")
    export_weights({"model": tiny.state_dict(), "model_config": tiny.config, "step": 7}, tmp_path / "best.pt")
    assert read_checkpoint(tmp_path)["step"] == 7 and read_checkpoint(tmp_path)["path"].endswith("best.pt")


def test_every_shipped_weight_is_in_the_one_format():
    for rel in ("weights/ynet_dx_small.pt", "estimation/weights/jpeg_quality.pt", "estimation/weights/noise_sigma.pt"):
        state = read_checkpoint(shipped_weights(rel))
        assert state["format"] == "distortx-checkpoint" and "arch" in state["model_config"], rel
        assert load_model(shipped_weights(rel)) is not None


@pytest.mark.parametrize("content, msg", [
    (b"junk", "not a torch.save file"),
    (None, "no such checkpoint"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, msg):
    path = tmp_path / "x.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DistortxError, match=msg) as err:
        read_checkpoint(path)
    assert "\n" not in str(err.value)


def test_a_plain_state_dict_is_not_a_checkpoint(tmp_path, tiny):
    torch.save(tiny.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(DistortxError, match="not a distortx checkpoint"):
        read_checkpoint(tmp_path / "sd.pt")
    with pytest.raises(DistortxError, match="missing from this install"):
        shipped_weights("weights/nothing.pt")
