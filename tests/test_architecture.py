"""The import graph of the package: one direction, no circles (counting imports inside functions), and the
few arrows that run back up named with their reason. A module added in the wrong layer fails here."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Dict, Set

ROOT = Path(__file__).resolve().parents[1] / "distortx"

#: bottom -> top; a module may import its own layer and the layers below. Keys: the first name under distortx.
LAYERS = [
    {"_version", "errors", "hookspecs", "processes", "io", "_ext", "drawing"},
    {"distortions", "detection"},                # specs + python references; pure box math
    {"plugins", "registry"},                      # the validating plugin manager and the name registries
    {"ops"},                                      # native dispatch, the compositor, box ops
    {"models", "data", "corruptions"},      # corruptions: the ImageNet-C family (a built-in plugin)
    {"engine"},                                   # training, evaluation, robustness, inference
    {"estimation"},
    {"", "functional", "verdict", "catalogue"},   # the public API
    {"cli", "__main__"},
]
#: arrows that run back up, each with its reason (at most 3)
ALLOWED_UP = {
    ("distortx.plugins", "distortx.data.preset"): "PresetSpec is a value type of the plugin contract; it imports errors only",
    ("distortx.plugins", "distortx.models.spec"): "BackboneSpec/HeadSpec: value types of the plugin contract (torch.nn + errors)",
    ("distortx.registry", "distortx.data.preset"): "get_preset returns PresetSpec (the same value type)",
}


def _modules() -> Dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT.parent).with_suffix("").parts)
        mods[name[: -len(".__init__")] if name.endswith(".__init__") else name] = p
    return mods


def import_graph() -> Dict[str, Set[str]]:
    """module -> the distortx modules it imports anywhere in its body (functions included)."""
    mods = _modules()
    graph: Dict[str, Set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" for a in node.names if a.name != "_C"] if base else []
                targets = [t if t in mods else base for t in targets]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t != name:
                    graph[name].add(t)
    return graph


def _layer(module: str) -> int:
    key = module.split(".")[1] if "." in module else ""
    for i, layer in enumerate(LAYERS):
        if key in layer:
            return i
    raise AssertionError(f"{module}: its top-level name {key!r} is in no layer of tests/test_architecture.py")


def _cycles(graph: Dict[str, Set[str]]):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert _cycles(import_graph()) == []


def test_imports_run_one_way_but_for_the_named_exceptions():
    graph = import_graph()
    up = {(a, b) for a, bs in graph.items() for b in bs if _layer(b) > _layer(a)}
    assert up == set(ALLOWED_UP), sorted(up ^ set(ALLOWED_UP))
    assert len(ALLOWED_UP) <= 3


def test_the_checker_finds_a_planted_circle_and_an_upward_import():
    graph = import_graph()
    graph["distortx.distortions.spec"].add("distortx.ops.fused")   # the circle this design removed
    assert any("distortx.distortions.spec" in c for c in _cycles(graph))
    assert _layer("distortx.ops.fused") > _layer("distortx.distortions.spec")
