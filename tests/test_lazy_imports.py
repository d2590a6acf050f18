"""Issue 7 item 12: ``chainrule.nn`` & co. load on first use (as ``torch.nn``), the core import needs
NumPy only, and ``chainrule train digits`` works without matplotlib (the plots are skipped, with a note)."""
import json
import os
import subprocess
import sys

import pytest

OPTIONAL = ("matplotlib", "starlette", "sklearn", "uvicorn", "rich", "torch", "scipy")


def _run(code: str, *args, timeout=300):
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(__file__), os.pardir, "src")
    env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_submodules_load_on_first_use_and_the_core_import_is_numpy_only():
    proc = _run("""
import sys, json
import chainrule
before = sorted(m for m in %r if m in sys.modules)
lazy_before = [m for m in ("chainrule.nn", "chainrule.optim", "chainrule.viz", "chainrule.web") if m in sys.modules]
layer = chainrule.nn.Linear(2, 3)
opt = chainrule.optim.SGD(layer.parameters(), lr=0.1)
F = chainrule.nn.functional
after = sorted(m for m in %r if m in sys.modules)
print(json.dumps({"before": before, "after": after, "lazy_before": lazy_before,
                  "nn": chainrule.nn is sys.modules["chainrule.nn"], "dir": "nn" in dir(chainrule),
                  "shape": list(layer.weight.shape)}))
""" % (OPTIONAL, OPTIONAL))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["before"] == [] and got["after"] == []      # no optional dependency, even after using nn
    assert got["lazy_before"] == []                         # nn, optim, viz, web: not imported by `import chainrule`
    assert got["nn"] and got["dir"] and got["shape"] == [3, 2]


def test_an_unknown_attribute_is_an_attribute_error():
    import chainrule
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        chainrule.nonsense  # noqa: B018
    assert chainrule.viz.__name__ == "chainrule.viz"


def test_train_digits_json_without_matplotlib(tmp_path):
    pytest.importorskip("sklearn", reason="the digits data set comes with scikit-learn")
    out = tmp_path / "run"
    proc = _run("""
import sys
sys.modules["matplotlib"] = None          # `import matplotlib` now fails, as when it is not installed
from chainrule.cli import main
sys.exit(main(sys.argv[1:]))
""", "train", "digits", "--json", "--epochs", "1", "--hidden", "8", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["curves"] is None and result["gradient_norms"] is None
    assert any("matplotlib" in n and "pip install matplotlib" in n for n in result["notes"])
    assert "matplotlib is not installed" in proc.stderr
    assert os.path.exists(result["model"]) and sorted(os.listdir(out)) == ["model.npz"]

    proc = _run("""
import sys
sys.modules["matplotlib"] = None
from chainrule.cli import main
sys.exit(main(sys.argv[1:]))
""", "digits", "explain", "--index", "2", "--model", result["model"], "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    explained = json.loads(proc.stdout)
    assert explained["png"] is None and explained["notes"] and explained["label"] in range(10)


def test_train_digits_with_matplotlib_has_no_notes(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    proc = _run("import sys; from chainrule.cli import main; sys.exit(main(sys.argv[1:]))",
                "train", "digits", "--json", "--epochs", "1", "--hidden", "8", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["notes"] == [] and os.path.exists(result["curves"])
