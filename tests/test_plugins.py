"""The plugin core: hooks documented and exercised, validation of what plugins return, entry-point loading."""
from __future__ import annotations

import inspect
import types

import pytest
import torch
from torch import nn

import distortx
from distortx import BackboneSpec, DistortionSpec, HeadSpec, LevelSet, Parameter, PluginError, PresetSpec, hookimpl
from distortx import hookspecs
from distortx.plugins import DistortxPluginManager, PluginWarning, reset_plugin_manager

HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("distortx_"))


def _ident(images, values, seed):
    return images.clone()


def _spec(name="toy", low=0.0, high=1.0, levels=(0.1, 0.5), **kw):
    return DistortionSpec(name=name, parameters=(Parameter("amount", low, high),), reference=_ident,
                          levels=(LevelSet("demo", levels),) if levels else (), **kw)


def _plugin(**hooks):
    mod = types.ModuleType("fake_plugin")
    for hook_name, value in hooks.items():
        def impl(value=value):
            return value() if callable(value) else value
        impl.__name__ = hook_name
        setattr(mod, hook_name, hookimpl(impl))
    return mod


class FakeDist:
    def __init__(self, name="fake-dist", version="9.9"):
        self.metadata = {"Name": name}
        self.version = version


class FakeEntryPoint:
    def __init__(self, name, loader, dist=None):
        self.name, self._loader, self.dist = name, loader, dist or FakeDist()

    def load(self):
        return self._loader()


def _manager_with(monkeypatch, *entry_points):
    monkeypatch.setattr("distortx.plugins.metadata.entry_points", lambda group: list(entry_points))
    return DistortxPluginManager(load_entrypoints=True)


def test_every_hook_is_documented_with_an_example():
    assert HOOKS == ["distortx_backbones", "distortx_distortions", "distortx_heads", "distortx_presets"]
    for name in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert "Called" in doc and "Return" in doc and "Example::" in doc and "@hookimpl" in doc, name


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_served_by_builtins_and_by_a_third_party(monkeypatch, hook):
    """Each hook's built-in registry is non-empty and a third-party object shows up next to the built-ins."""
    pm = DistortxPluginManager(load_entrypoints=False)
    assert pm.registry(hook), f"no built-in registers anything through {hook}"
    extra = {
        "distortx_distortions": _spec("toy_extra"),
        "distortx_backbones": BackboneSpec("toy_backbone", lambda **kw: nn.Conv2d(3, 4, 1), channels=(4,)),
        "distortx_heads": HeadSpec("toy_head", lambda in_channels, **kw: nn.Flatten(), task="classification"),
        "distortx_presets": PresetSpec("toy-preset", task="classification", distortions=("gaussian_blur",)),
    }[hook]
    pm = _manager_with(monkeypatch, FakeEntryPoint("toy", lambda: _plugin(**{hook: [extra]})))
    assert pm.get(hook, extra.name).plugin == "toy"
    assert pm.infos["toy"].distribution == "fake-dist"
    assert len(pm.registry(hook)) == len(DistortxPluginManager(load_entrypoints=False).registry(hook)) + 1


def test_builtins_load_first_and_are_ordinary_plugins():
    pm = DistortxPluginManager(load_entrypoints=False)
    assert list(pm.infos)[:1] == ["distortx.distortions.builtin"]
    assert pm.get("distortx_distortions", "gaussian_blur").plugin == "distortx.distortions.builtin"
    assert all(i.builtin and i.distribution == "distortx" for i in pm.infos.values())


@pytest.mark.parametrize(
    "returned, message",
    [
        (lambda: [object()], "returned a object, expected DistortionSpec"),
        (lambda: 42, "must return an iterable"),
        (lambda: [_spec("Bad-Name")], "must be lower-case"),
        (lambda: [_spec("gaussian_blur")], "registered by both"),
        (lambda: [_spec("toy", low=1.0, high=0.0)], "invalid range"),
        (lambda: [_spec("toy", low=0.0, high=float("inf"))], "invalid range"),
        (lambda: [_spec("toy", levels=(0.1, 2.0))], "outside [0, 1]"),
        (lambda: [_spec("toy", levels=(0.5, 0.1))], "ordered mild -> severe"),
        (lambda: [_spec("toy", default_levels="nope")], "default_levels"),
        (lambda: [_spec("toy", identity=5.0)], "identity value"),
        (lambda: [_spec("toy", severity="sideways")], "severity"),
        (lambda: [_spec("toy", native=True)], "native kernel has no distortion named 'toy'"),
        (lambda: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_malformed_plugin_objects_are_quarantined_with_one_line_errors(monkeypatch, returned, message):
    """A plugin whose hook returns something malformed is skipped like one that fails to import: a warning and
    an error (one line naming the plugin and its distribution) in its info, nothing of it registered, and the
    built-ins unaffected."""
    with pytest.warns(PluginWarning) as record:
        pm = _manager_with(monkeypatch, FakeEntryPoint("broken", lambda: _plugin(distortx_distortions=returned)))
    text = pm.infos["broken"].error
    assert message in text and "'broken'" in text and "fake-dist 9.9" in text and "\n" not in text
    assert any(message in str(w.message) for w in record)
    assert pm.infos["broken"].registers == {} and "toy" not in pm.registry("distortx_distortions")
    assert pm.get("distortx_distortions", "gaussian_blur").plugin == "distortx.distortions.builtin"


def test_a_quarantined_plugin_loses_everything_it_registered_and_others_keep_theirs(monkeypatch):
    """A fault in one hook of a plugin drops its other hooks too; a healthy plugin beside it is untouched."""
    sick = FakeEntryPoint("sick", lambda: _plugin(distortx_distortions=[_spec("sick_ok")],
                                                  distortx_presets=[PresetSpec("sick-p", task="nope", distortions=("jpeg",))]))
    well = FakeEntryPoint("well", lambda: _plugin(distortx_distortions=[_spec("well_ok")]), FakeDist("dist-w"))
    with pytest.warns(PluginWarning, match="task must be one of"):
        pm = _manager_with(monkeypatch, sick, well)
    reg = pm.registry("distortx_distortions")
    assert "sick_ok" not in reg and "sick-p" not in pm.registry("distortx_presets")
    assert reg["well_ok"].plugin == "well" and pm.infos["well"].error is None
    assert pm.infos["well"].registers == {"distortion": ["well_ok"]}


def test_a_malformed_builtin_is_an_error(monkeypatch):
    """Built-ins are not quarantined: a malformed one is a bug of distortx and raises."""
    monkeypatch.setattr("distortx.distortions.builtin.distortx_distortions",
                        hookimpl(lambda: [_spec("toy", low=1.0, high=0.0)]))
    with pytest.raises(PluginError, match="invalid range"):
        DistortxPluginManager(load_entrypoints=False)


def test_plugins_list_shows_a_quarantined_plugin_as_broken(monkeypatch):
    from click.testing import CliRunner

    from distortx.cli import main

    with pytest.warns(PluginWarning):
        pm = _manager_with(monkeypatch, FakeEntryPoint("broken", lambda: _plugin(distortx_distortions=[_spec("toy", low=1.0, high=0.0)])))
    monkeypatch.setattr("distortx.plugins._MANAGER", pm)
    out = CliRunner().invoke(main, ["plugins", "list"])
    assert out.exit_code == 0, out.output
    line = [ln for ln in out.output.splitlines() if ln.startswith("broken ")]
    assert len(line) == 1 and "BROKEN: plugin 'broken' (distribution fake-dist 9.9): distortion 'toy': parameter 'amount' has an invalid range" in line[0]
    assert any(ln.startswith("distortx.distortions.builtin ") and "gaussian_blur" in ln for ln in out.output.splitlines())
    assert distortx.distort(torch.rand(1, 3, 8, 8), "gaussian_blur", level=0).shape == (1, 3, 8, 8)
    reset_plugin_manager()


def test_duplicate_names_across_two_plugins_quarantine_the_later_one(monkeypatch):
    a = FakeEntryPoint("one", lambda: _plugin(distortx_distortions=[_spec("twin")]), FakeDist("dist-a"))
    b = FakeEntryPoint("two", lambda: _plugin(distortx_distortions=[_spec("twin")]), FakeDist("dist-b"))
    with pytest.warns(PluginWarning, match=r"'twin' is registered by both plugin 'one' \(distribution dist-a.*plugin 'two' \(distribution dist-b"):
        pm = _manager_with(monkeypatch, a, b)
    assert pm.get("distortx_distortions", "twin").plugin == "one"
    assert pm.infos["one"].error is None and "registered by both" in pm.infos["two"].error


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(monkeypatch):
    def boom():
        raise ModuleNotFoundError("No module named 'missing_dep'")

    with pytest.warns(PluginWarning, match=r"plugin 'sick' \(distribution fake-dist 9.9\) failed to load: ModuleNotFoundError"):
        pm = _manager_with(monkeypatch, FakeEntryPoint("sick", boom))
    assert pm.infos["sick"].error and "missing_dep" in pm.infos["sick"].error
    assert "gaussian_blur" in pm.registry("distortx_distortions")


def test_the_same_entry_point_name_twice_quarantines_both(monkeypatch):
    one = lambda: _plugin(distortx_distortions=[_spec("dup_a")])  # noqa: E731
    with pytest.warns(PluginWarning, match="registered twice"):
        pm = _manager_with(monkeypatch, FakeEntryPoint("dup", one), FakeEntryPoint("dup", one))
    assert "registered twice" in pm.infos["dup"].error and "dup_a" not in pm.registry("distortx_distortions")


def test_misspelt_hook_names_are_caught(monkeypatch):
    mod = types.ModuleType("typo")
    mod.distortx_distortion = hookimpl(lambda: [])  # missing the final "s"
    with pytest.warns(PluginWarning, match="distortx_distortion"):
        pm = _manager_with(monkeypatch, FakeEntryPoint("typo", lambda: mod))
    assert "distortx_distortion" in pm.infos["typo"].error and "gaussian_blur" in pm.registry("distortx_distortions")


def test_autoload_can_be_disabled(monkeypatch):
    called = []
    monkeypatch.setattr("distortx.plugins.metadata.entry_points", lambda group: called.append(group) or [])
    monkeypatch.setenv("DISTORTX_DISABLE_PLUGIN_AUTOLOAD", "1")
    DistortxPluginManager()
    assert called == []
    monkeypatch.setenv("DISTORTX_DISABLE_PLUGIN_AUTOLOAD", "0")
    DistortxPluginManager()
    assert called == ["distortx"]


def test_plugin_distortion_is_usable_through_the_public_api(monkeypatch):
    def invert(images, values, seed):
        a = values[:, 0].view(-1, 1, 1, 1)
        return (1 - a) * images + a * (1 - images)

    spec = DistortionSpec("invert", (Parameter("amount", 0.0, 1.0),), invert, levels=(LevelSet("demo", (0.5, 1.0)),), identity=0.0)
    pm = _manager_with(monkeypatch, FakeEntryPoint("inv", lambda: _plugin(distortx_distortions=[spec])))
    monkeypatch.setattr("distortx.plugins._MANAGER", pm)
    x = torch.rand(2, 3, 8, 8)
    out = distortx.distort(x, "invert", level=1)
    assert torch.allclose(out, 1 - x)
    reset_plugin_manager()


def test_builtin_backbones_and_heads_build_and_train():
    pm = DistortxPluginManager(load_entrypoints=False)
    bb = pm.get("distortx_backbones", "simple_cnn")
    head = pm.get("distortx_heads", "classifier")
    net = nn.Sequential(bb.build(width=8), head.build(in_channels=64, num_classes=5))
    x = torch.rand(4, 3, 32, 32)
    logits = net(x)
    assert logits.shape == (4, 5)
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters() if p.requires_grad)
    assert bb.build().__class__ is nn.Sequential and bb.out_channels == 256


def test_a_preset_naming_an_unknown_distortion_or_level_set_is_quarantined(monkeypatch):
    bad = PresetSpec("bad-preset", task="classification", distortions=("gaussian_blurr",))
    with pytest.warns(PluginWarning, match="preset 'bad-preset' names unknown distortion 'gaussian_blurr'"):
        pm = _manager_with(monkeypatch, FakeEntryPoint("p", lambda: _plugin(distortx_presets=[bad])))
    assert "bad-preset" not in pm.registry("distortx_presets") and "ahn-detection-basic" in pm.registry("distortx_presets")
    bad_ls = PresetSpec("bad-ls", task="classification", distortions=("gaussian_blur",), level_sets=(("gaussian_blur", "nope"),))
    with pytest.warns(PluginWarning, match="unknown level set 'nope'"):
        pm = _manager_with(monkeypatch, FakeEntryPoint("p", lambda: _plugin(distortx_presets=[bad_ls])))
    assert "unknown level set 'nope'" in pm.infos["p"].error


@pytest.mark.parametrize("spec, message", [
    (_spec("toy", low=1.0, high=0.0), "distortion 'toy': parameter 'amount' has an invalid range"),
    (_spec("toy", levels=(0.5, 0.1)), "ordered mild -> severe"),
    (_spec("toy", native=True), "native kernel has no distortion named 'toy'"),
    (PresetSpec("p", task="detection", distortions=("jpeg",)), "preset 'p': a detection preset needs regions"),
    (PresetSpec("p", task="classification", distortions=("jpeg",), splits=(("train", 0.5),)), "sum to 1"),
    (BackboneSpec("bb", build=None, channels=(4,)), "backbone 'bb': build is not callable"),
    (HeadSpec("hd", build=None, task="classification"), "head 'hd': build is not callable"),
])
def test_each_spec_type_validates_itself(spec, message):
    with pytest.raises(distortx.DistortxError) as err:
        spec.validate()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_registered_spec_is_valid():
    pm = DistortxPluginManager(load_entrypoints=False)
    for hook in ("distortx_distortions", "distortx_backbones", "distortx_heads", "distortx_presets"):
        for spec in pm.registry(hook).values():
            spec.validate()


@pytest.mark.parametrize("impl", ["python", "auto"])
def test_plugin_distortion_with_many_parameters_runs_in_the_fused_op(monkeypatch, impl):
    """Plugin types take the python path inside distort_batch, next to native built-ins, whatever their width."""
    from distortx.ops import distort_batch

    def tint(images, values, seed):  # five parameters: per-channel gains, an offset, a mix
        gains = values[:, :3].view(-1, 3, 1, 1)
        return (1 - values[:, 4].view(-1, 1, 1, 1)) * images + values[:, 4].view(-1, 1, 1, 1) * (images * gains + values[:, 3].view(-1, 1, 1, 1))

    params = tuple(Parameter(n, 0.0, 2.0) for n in ("r", "g", "b", "offset", "mix"))
    spec = DistortionSpec("tint", params, tint, levels=(LevelSet("demo", (0.5, 1.0)),))
    pm = _manager_with(monkeypatch, FakeEntryPoint("tint", lambda: _plugin(distortx_distortions=[spec])))
    monkeypatch.setattr("distortx.plugins._MANAGER", pm)
    images = torch.rand(2, 3, 20, 24)
    regions = [[distortx.Region("tint", (0.5, 1.0, 1.5, 0.1, 0.8), (2, 3, 15, 18)), distortx.Region("gaussian_blur", (2.0,), (10, 0, 24, 10))],
               [distortx.Region("tint", (1.0, 0.2, 0.3, 0.0, 1.0), None)]]
    out = distort_batch(images, regions, impl=impl)
    for n in range(2):
        expected = distortx.apply_regions(images[n], regions[n])
        assert torch.allclose(out[n], expected, atol=1e-5)
    reset_plugin_manager()
