"""The layers stand right side up: no module of src/chainrule imports a layer above its own.

A static scan (the code is read, not run): every ``import`` and ``from ... import`` anywhere in a
module, at the top or inside a function, every ``importlib.import_module("...")`` with a written
name, and the CLI's ``PLUGINS`` list. The layer map below is the one list of where each module
belongs, bottom first; the README's design section draws the same picture.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "chainrule"

# Bottom first. A module belongs to the layer of its longest matching entry: "viz" is the folder,
# "viz.commands" one file of it. "" is the package's face (chainrule/__init__.py).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "numfmt", "textfmt", "files", "display")),
    ("ops", ("ops",)),
    ("autodiff", ("autodiff",)),
    ("Value/Tensor", ("scalar", "tensor", "functions", "higher")),
    ("engine library", ("forward", "forward_tensor", "jacobians", "gradcheck", "optim", "nn")),
    ("trace", ("trace", "trace_checks", "anomaly")),
    ("explain", ("explain", "explain_tensor")),
    ("views", ("viz", "nn.plots")),
    ("language", ("lang", "steps")),
    ("front ends", ("", "__main__", "cli", "viz.commands", "web", "lab", "nn.commands", "nn.digits", "book",
                    "torch", "torch_bridge", "jupyter")),
]
LEVEL = {layer: i for i, (layer, _) in enumerate(LAYERS)}


def layer_of(module: str) -> str | None:
    """The layer of ``module`` (dotted, relative to chainrule: "tensor.core"; "" for the face)."""
    best, found = -1, None
    for layer, entries in LAYERS:
        for entry in entries:
            if module == entry or (entry and module.startswith(entry + ".")) or (entry == "" and module == ""):
                if len(entry) > best:
                    best, found = len(entry), layer
    return found


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str | None:
    """An import's target relative to chainrule ("" for the face), or None if outside chainrule."""
    if level == 0:
        if name is None or not (name == "chainrule" or name.startswith("chainrule.")):
            return None
        return name[len("chainrule."):] if name != "chainrule" else ""
    base = module.split(".") if module else []
    if not is_package:
        base = base[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([name] if name else []))


def _known(target: str, modules: dict) -> str:
    """``from .x import y``: y may be a module of package x, or a name defined in x."""
    return target if target in modules else target.rsplit(".", 1)[0] if "." in target else ""


def imports_of(module: str, path: Path, modules: dict) -> list[tuple[int, str]]:
    """(line, target module) for every import of a chainrule module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(module, is_package, 0, alias.name)
                if target is not None:
                    found.append((node.lineno, _known(target, modules)))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            if target is None:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                found.append((node.lineno, sub if sub in modules else _known(target, modules)))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            name = node.args[0].value
            level = len(name) - len(name.lstrip("."))
            target = _resolve(module, is_package, level, name.lstrip(".") or None)
            if target is not None:
                found.append((node.lineno, _known(target, modules)))
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PLUGINS" for t in node.targets):
            for elt in getattr(node.value, "elts", []):       # cli.PLUGINS: imported by name
                if isinstance(elt, ast.Constant):
                    target = _resolve(module, is_package, 0, elt.value)
                    if target is not None:
                        found.append((elt.lineno, _known(target, modules)))
    return found


def upward_imports() -> list[str]:
    modules = _modules()
    bad = []
    for module, path in modules.items():
        here = LEVEL[layer_of(module)]
        for line, target in imports_of(module, path, modules):
            there = layer_of(target)
            if there is not None and LEVEL[there] > here:
                rel = path.relative_to(SRC.parent)
                bad.append(f"{rel}:{line}: {module or 'chainrule'} ({layer_of(module)}) imports "
                           f"{target or 'chainrule'} ({there})")
    return bad


def test_every_module_has_a_layer():
    unplaced = [m for m in _modules() if layer_of(m) is None]
    assert not unplaced, f"give these modules a layer in LAYERS: {unplaced}"


def test_no_module_imports_a_layer_above_its_own():
    bad = upward_imports()
    assert not bad, "imports that run up the layers:\n" + "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from .viz.svg import value_to_svg", "viz.svg"),                     # relative, inside a function too
    ("def show(self):\n    from .viz import html\n    return html", "viz.html"),
    ("import chainrule.web.app", "web.app"),
    ("import importlib\nimportlib.import_module('chainrule.lab.lessons')", "lab.lessons"),
    ("from . import trace", "trace"),
])
def test_the_scan_sees_every_spelling_of_an_import(tmp_path, source, expected):
    path = tmp_path / "scalar.py"
    path.write_text(source)
    modules = _modules()
    assert [t for _, t in imports_of("scalar", path, modules)] == [expected]
    assert LEVEL[layer_of(expected)] > LEVEL[layer_of("scalar")]    # each of these would be refused


def test_the_map_reads_folders_and_files():
    assert layer_of("tensor.core") == layer_of("tensor") == "Value/Tensor"
    assert layer_of("viz.html") == "views" and layer_of("viz.commands") == "front ends"
    assert layer_of("nn.layers") == "engine library" and layer_of("nn.digits") == "front ends"
    assert layer_of("") == "front ends" and layer_of("nowhere") is None


# -- notebook display: registered by the views, loaded on first show -----------------------

def test_notebook_display_loads_the_views_on_first_show_and_draws_as_they_do():
    import json
    import subprocess
    import sys
    code = """
import json, sys
import chainrule
from chainrule import Value, Tensor, trace
x = Value(2.0, name="x"); y = (3 * x + 1) ** 2; y.name = "y"
before = "chainrule.viz" in sys.modules
svg = y._repr_svg_()
import chainrule.viz as viz
t = trace(y)
W = Tensor([[1.0, 2.0]], requires_grad=True); L = (W * W).sum()
print(json.dumps({"before": before, "same": svg == viz.value_to_svg(y),
                  "trace_svg": t._repr_svg_() == viz.trace_to_svg(t),
                  "tensor_svg": L._repr_svg_() == viz.value_to_svg(L),
                  "html": [y._repr_html_()[:40], t._repr_html_()[:40], L._repr_html_()[:40]]}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["before"] is False                  # import chainrule did not import the views
    assert got["same"] and got["trace_svg"] and got["tensor_svg"]
    assert all(h.startswith('<div class="chainrule-output"') for h in got["html"])


def test_show_without_a_registered_view_is_none(monkeypatch):
    from chainrule import display
    monkeypatch.setattr(display, "_drawings", {})
    monkeypatch.setattr(display, "_loaders", [])
    assert display.show("graph", "svg", object()) is None
    calls = []
    display.add_loader(lambda: calls.append(1) or display.register("graph", "svg", lambda obj: f"<svg {obj}>"))
    assert display.show("graph", "svg", 7) == "<svg 7>" and display.show("graph", "svg", 8) == "<svg 8>"
    assert calls == [1]                            # a loader runs once
