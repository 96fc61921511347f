"""The bad-input table (issue 24 item 5): every case is tried by tests/test_bad_inputs.py, and
``python tests/bad_inputs.py > docs/bad_inputs.md`` writes the table the docs show (the messages measured, not
typed by hand). A case is (surface, what is wrong, how it is tried, a fragment the one-line message must hold)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch


@dataclass
class Case:
    surface: str                      # "API distortx.distort", "CLI generate", ...
    what: str                         # the bad input, in words
    run: Optional[Callable] = None    # API: called with the scratch folder
    cli: Optional[Callable] = None    # CLI: returns the argument list, given the scratch folder
    expect: str = ""                  # a fragment of the one-line message


def _img():
    return torch.rand(1, 3, 16, 16)


def _files(tmp: Path) -> Path:
    """A folder with one good PNG, a truncated one and a text file named .jpg."""
    from PIL import Image

    d = tmp / "photos"
    d.mkdir(exist_ok=True)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(d / "ok.png")
    data = (d / "ok.png").read_bytes()
    (d / "cut.png").write_bytes(data[: len(data) // 3])
    (d / "text.jpg").write_text("not an image")
    return d


def _classes(tmp: Path) -> Path:
    """An image folder with two classes of one photo each."""
    from PIL import Image

    for c in ("a", "b"):
        (tmp / "classes" / c).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp / "classes" / c / "x.png")
    return tmp / "classes"


def cases() -> List[Case]:
    import distortx
    from distortx import Region, apply_regions

    spec = lambda n: distortx.get_distortion(n)  # noqa: E731
    C: List[Case] = []
    add = lambda *a, **k: C.append(Case(*a, **k))  # noqa: E731
    # -- distort / corrupt / spec.apply ---------------------------------------------------------------------
    add("API distortx.distort", "unknown distortion name", lambda t: distortx.distort(_img(), "gausian_blur", level=1),
        expect="gaussian_blur")
    add("API distortx.distort", "level index past the level set", lambda t: distortx.distort(_img(), "jpeg", level=9),
        expect="level")
    add("API distortx.distort", "value outside the parameter range", lambda t: distortx.distort(_img(), "jpeg", value=500),
        expect="quality")
    add("API distortx.distort", "NaN value", lambda t: distortx.distort(_img(), "gaussian_blur", value=float("nan")),
        expect="sigma")
    add("API distortx.distort", "both level and value", lambda t: distortx.distort(_img(), "jpeg", level=1, value=20),
        expect="level")
    add("API distortx.distort", "level not an integer", lambda t: distortx.distort(_img(), "jpeg", level=1.5), expect="level")
    add("API distortx.distort", "a list instead of an image", lambda t: distortx.distort([1, 2, 3], "jpeg", level=1),
        expect="must be")
    add("API distortx.distort", "int32 tensor", lambda t: distortx.distort(torch.zeros(3, 8, 8, dtype=torch.int32), "jpeg", level=1),
        expect="uint8")
    add("API distortx.distort", "channels-last tensor (H, W, 3)", lambda t: distortx.distort(torch.rand(8, 9, 3), "jpeg", level=1),
        expect="channels")
    add("API distortx.distort", "2 channels", lambda t: distortx.distort(torch.rand(2, 8, 8), "jpeg", level=1), expect="channels")
    add("API distortx.distort", "5-D tensor", lambda t: distortx.distort(torch.rand(1, 1, 3, 8, 8), "jpeg", level=1), expect="shape")
    add("API distortx.distort", "numpy (3, H, W)", lambda t: distortx.distort(np.zeros((3, 8, 8), np.uint8), "jpeg", level=1),
        expect="channels last")
    add("API distortx.distort", "numpy int64", lambda t: distortx.distort(np.zeros((8, 8, 3), np.int64), "jpeg", level=1),
        expect="dtype")
    add("API distortx.distort", "level of a continuous level set", lambda t: distortx.distort(_img(), "gaussian_noise_sigma", level=0, levels="endo"),
        expect="value")
    add("API distortx.corrupt", "severity 0", lambda t: distortx.corrupt(_img(), "jpeg", severity=0), expect="severity")
    add("API distortx.corrupt", "severity 6", lambda t: distortx.corrupt(_img(), "jpeg", severity=6), expect="severity")
    add("API distortx.corrupt", "negative seed", lambda t: distortx.corrupt(_img(), "gaussian_noise", severity=2, seed=-1),
        expect="seed")
    add("API spec.apply", "params of another batch size", lambda t: spec("jpeg").apply(_img(), spec("jpeg").params(20, n=2)),
        expect="2")
    add("API spec.apply", "impl word unknown", lambda t: spec("jpeg").apply(_img(), spec("jpeg").params(20), impl="fast"),
        expect="impl must be")
    add("API spec.apply", "an old impl word", lambda t: spec("jpeg").apply(_img(), spec("jpeg").params(20), impl="simulation"),
        expect="impl must be")
    add("API spec.sample", "unknown level set", lambda t: spec("jpeg").sample(2, levels="nope"), expect="nope")
    # -- regions ----------------------------------------------------------------------------------------------
    add("API apply_regions", "a batch of two images", lambda t: apply_regions(torch.rand(2, 3, 8, 8), []), expect="one image")
    add("API apply_regions", "a box of three numbers", lambda t: apply_regions(torch.rand(3, 8, 8), [Region("jpeg", (20.0,), (1, 2, 3))]),
        expect="box")
    add("API apply_regions", "an unknown type in a region", lambda t: apply_regions(torch.rand(3, 8, 8), [Region("blurr", (2.0,))]),
        expect="blur")
    add("API apply_regions", "a value out of range in a region", lambda t: apply_regions(torch.rand(3, 8, 8), [Region("jpeg", (0.0,))]),
        expect="quality")
    # -- estimate / predict / models / checkpoints ---------------------------------------------------------------
    add("API distortx.estimate", "unknown target", lambda t: distortx.estimate(_img(), what="blur"), expect="blur")
    add("API distortx.estimate", "no images", lambda t: distortx.estimate([]), expect="no images")
    add("API distortx.estimate", "a missing file", lambda t: distortx.estimate(t / "nope.png"), expect="no such image")
    add("API distortx.estimate", "a glob that matches nothing", lambda t: distortx.estimate(str(t / "*.tif")), expect="matches no image")
    add("API distortx.predict", "a missing file", lambda t: distortx.predict(t / "nope.png"), expect="no such image")
    add("API distortx.predict", "an empty folder", lambda t: (t / "empty").mkdir(exist_ok=True) or distortx.predict(t / "empty"),
        expect="no image files")
    add("API distortx.predict", "a model path that does not exist", lambda t: distortx.predict(_img()[0], model=t / "m.pt"),
        expect="no such checkpoint")
    add("API distortx.predict", "a text file as a model", lambda t: (t / "m.txt").write_text("x") and distortx.predict(_img()[0], model=t / "m.txt"),
        expect="not a torch.save file")
    add("API distortx.predict", "a 4-channel tensor", lambda t: distortx.predict(torch.rand(4, 32, 32)), expect="channels")
    add("API create_model", "unknown architecture", lambda t: distortx.create_model("ynett"), expect="ynet")
    add("API create_model", "unknown backbone", lambda t: distortx.create_model("ynet", backbone="resnet19"), expect="resnet")
    add("API models.checkpoint", "a truncated checkpoint", lambda t: _truncated_checkpoint(t), expect="truncated or corrupt")
    add("API models.checkpoint", "a state dict where a checkpoint is needed", lambda t: _state_dict_as_checkpoint(t),
        expect="not a distortx checkpoint")
    add("API data.generate", "count 0", lambda t: _generate(t, count=0), expect="count")
    add("API data.generate", "an unknown preset", lambda t: _generate(t, preset="ahn-detection-basik"), expect="ahn-detection-basic")
    add("API data.generate", "a folder without images", lambda t: _generate(t, images=t), expect="no images")
    add("API SynthesisStream", "crop_jitter high < low", lambda t: _stream(crop_jitter=(1.0, 0.5)), expect="crop_jitter")
    add("API SynthesisStream", "history with an unknown key", lambda t: _stream(history={"p_blur": 1.0}), expect="unknown key")
    # -- CLI ---------------------------------------------------------------------------------------------------
    add("CLI generate", "an unknown preset", cli=lambda t: ["generate", "--preset", "ahn-detection-basik", "--out", str(t / "d")],
        expect="ahn-detection-basic")
    add("CLI generate", "--count -5", cli=lambda t: ["generate", "--preset", "ahn-detection-basic", "--out", str(t / "d"), "--count", "-5"],
        expect="count")
    add("CLI generate", "--shard 3/2", cli=lambda t: ["generate", "--preset", "ahn-detection-basic", "--out", str(t / "d"), "--shard", "3/2"],
        expect="shard")
    add("CLI generate", "--images: a missing folder", cli=lambda t: ["generate", "--preset", "ahn-detection-basic", "--out", str(t / "d"),
                                                                     "--images", str(t / "nope")], expect="nope")
    add("CLI generate", "--out: an existing file", cli=lambda t: (t / "f.txt").write_text("x") and
        ["generate", "--preset", "ahn-detection-basic", "--out", str(t / "f.txt")], expect="f.txt")
    add("CLI generate", "--device cuda:7 (none here)", cli=lambda t: ["generate", "--preset", "ahn-detection-basic", "--out", str(t / "d"),
                                                                      "--device", "cuda:7"], expect="cuda")
    add("CLI distort", "a missing input image", cli=lambda t: ["distort", str(t / "nope.png"), str(t / "o.png"), "--type", "jpeg", "--level", "1"],
        expect="nope.png")
    add("CLI distort", "a text file as input", cli=lambda t: ["distort", str(_files(t) / "text.jpg"), str(t / "o.png"), "--type", "jpeg",
                                                               "--level", "1"], expect="text.jpg")
    add("CLI distort", "an unknown type", cli=lambda t: ["distort", str(_files(t) / "ok.png"), str(t / "o.png"), "--type", "jpg", "--level", "1"],
        expect="jpeg")
    add("CLI distort", "an output format Pillow cannot write", cli=lambda t: ["distort", str(_files(t) / "ok.png"), str(t / "o.xyz"),
                                                                               "--type", "jpeg", "--level", "1"], expect="xyz")
    add("CLI show", "a folder that is no dataset", cli=lambda t: ["show", str(_files(t)), "--out", str(t / "s.png")], expect="dataset")
    add("CLI predict", "a missing file", cli=lambda t: ["predict", str(t / "nope.png")], expect="no such image")
    add("CLI predict", "a truncated PNG", cli=lambda t: ["predict", str(_files(t) / "cut.png")], expect="cut.png")
    add("CLI predict", "--model: a folder without checkpoints", cli=lambda t: ["predict", str(_files(t) / "ok.png"), "--model", str(t)],
        expect="without")
    add("CLI estimate", "--what blur", cli=lambda t: ["estimate", str(_files(t) / "ok.png"), "--what", "blur"], expect="blur")
    add("CLI estimate", "--map with two images", cli=lambda t: ["estimate", str(_files(t) / "ok.png"), str(_files(t) / "ok.png"),
                                                                 "--map", str(t / "m.png")], expect="--map takes one image")
    add("CLI train", "a missing config", cli=lambda t: ["train", str(t / "nope.toml")], expect="nope.toml")
    add("CLI train", "a config with an unknown section", cli=lambda t: (t / "c.toml").write_text("[modell]\narch = 'ynet'\n") and
        ["train", str(t / "c.toml")], expect="modell")
    add("CLI train", "--set of an unknown key", cli=lambda t: ["train", "--set", "train.stepz=3"], expect="stepz")
    add("CLI evaluate", "--model: a missing checkpoint", cli=lambda t: ["evaluate", "--model", str(t / "nope.pt"), "--data", "ahn-detection-basic"],
        expect="nope.pt")
    add("CLI robustness", "an unknown preset", cli=lambda t: ["robustness", "--model", "torchvision:resnet18", "--data", str(_classes(t)),
                                                               "--preset", "dodge-karma"], expect="dodge-karam")
    add("CLI robustness", "a folder without class sub-folders", cli=lambda t: ["robustness", "--model", "torchvision:resnet18",
                                                                                "--data", str(_files(t))], expect="class sub-folders")
    return C


def _truncated_checkpoint(t: Path):
    from distortx.models.checkpoint import export_weights, read_checkpoint
    import distortx

    m = distortx.create_model("classifier", backbone="simple_cnn", image_size=32, backbone_kwargs={"width": 8})
    p = export_weights({"model": m.state_dict(), "model_config": m.config}, t / "ck.pt")
    p.write_bytes(p.read_bytes()[:300])
    return read_checkpoint(p)


def _state_dict_as_checkpoint(t: Path):
    from distortx.models.checkpoint import read_checkpoint

    torch.save({"w": torch.zeros(2)}, t / "sd.pt")
    return read_checkpoint(t / "sd.pt")


def _generate(t: Path, preset: str = "ahn-detection-basic", count: int = 4, images=None):
    from distortx.data.generate import generate

    empty = t / "no_images"
    empty.mkdir(exist_ok=True)
    return generate(preset, t / "gen", count=count, images=empty if images is t else images, workers=1, progress=False)


def _stream(**kw):
    from distortx.data.stream import SynthesisStream

    return SynthesisStream("ahn-classification", count=2, **kw)


def try_case(case: Case, tmp: Path) -> Tuple[str, str]:
    """(outcome, message): outcome "error" (one-line DistortxError / exit 2), or what happened instead."""
    from click.testing import CliRunner

    from distortx.cli import main
    from distortx.errors import DistortxError

    if case.run is not None:
        try:
            case.run(tmp)
        except DistortxError as exc:
            return "error", str(exc)
        except Exception as exc:  # noqa: BLE001 - recorded as a failure of the case
            return f"{type(exc).__name__}", str(exc)
        return "no error", ""
    r = CliRunner().invoke(main, case.cli(tmp))
    out = r.output.strip()
    if r.exit_code == 2 and out.count("\n") == 0:
        return "error", out.replace("distortx: error: ", "").replace("Error: ", "")
    return f"exit {r.exit_code}", out


def markdown(rows) -> str:
    lines = ["# Bad input: what each entry point answers",
             "",
             "Each row was tried by `tests/test_bad_inputs.py`, which fails if any of them stops being a one-line error",
             "(a `DistortxError` from the API, exit status 2 and one line on stderr from the CLI). This page is written by",
             "`python tests/bad_inputs.py > docs/bad_inputs.md` from the same cases, so the messages are the measured ones.",
             "",
             f"{len(rows)} cases: {sum(1 for r in rows if r[2] == 'error')} one-line errors.",
             "",
             "| # | where | bad input | answer |",
             "|---:|---|---|---|"]
    for i, (case, _, outcome, msg) in enumerate(rows, 1):
        shown = msg if outcome == "error" else f"**{outcome}**: {msg}"
        lines.append(f"| {i} | {case.surface} | {case.what} | {shown.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    rows = []
    for k, case in enumerate(cases()):
        with tempfile.TemporaryDirectory() as d:
            outcome, msg = try_case(case, Path(d))
        rows.append((case, k, outcome, msg.replace(d, "TMP")))
    sys.stdout.write(markdown(rows))
