"""``chainrule train digits`` and ``chainrule digits explain``, end to end through the CLI."""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the digits data set comes with scikit-learn")
pytest.importorskip("matplotlib", reason="training writes PNG plots with matplotlib")

from chainrule.cli import main  # noqa: E402
from chainrule.nn import digits  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One training run with the defaults (the expensive part, shared by the tests below).

    stdout claims to be a terminal, so a progress bar *would* be drawn if
    --json did not suppress it.
    """
    out = tmp_path_factory.mktemp("digits")
    import io

    class TTY(io.StringIO):
        def isatty(self):
            return True
    buf, saved = TTY(), sys.stdout
    sys.stdout = buf
    try:
        code = main(["train", "digits", "--json", "--out", str(out)])
    finally:
        sys.stdout = saved
    return code, buf.getvalue(), out


def test_training_reaches_97_percent_and_writes_its_files(trained):
    code, stdout, out = trained
    assert code == 0
    assert stdout.count("\n") == 1 and stdout.endswith("}\n")     # exactly one JSON object, no bar
    result = json.loads(stdout)
    assert result["test_accuracy"] >= 0.97, result
    assert result["epochs"] == 30 and result["seconds"] > 0
    assert result["model"] == str(out / "model.npz")
    for key in ("curves", "gradient_norms"):
        with open(result[key], "rb") as f:
            assert f.read(8) == PNG_MAGIC
    # the saved model really is that good: reload it and score the test split again
    model, meta = digits.load_model(result["model"])
    _, X_te, _, y_te = digits.load_split(meta["seed"])
    _, acc = digits.evaluate(model, X_te, y_te)
    assert acc == pytest.approx(result["test_accuracy"])


def test_explain_gradient_matches_torch(trained, tmp_path, capsys):
    torch = pytest.importorskip("torch", reason="torch checks the pixel gradient")
    _, stdout, _ = trained
    path = json.loads(stdout)["model"]
    assert main(["digits", "explain", "--index", "5", "--model", path, "--out", str(tmp_path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    # the same network in torch, same weights: probabilities and ∂loss/∂pixel
    model, meta = digits.load_model(path)
    layers = []
    for m in model:
        if hasattr(m, "weight"):
            lin = torch.nn.Linear(m.in_features, m.out_features).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(m.weight.data))
                lin.bias.copy_(torch.from_numpy(m.bias.data))
            layers.append(lin)
        else:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    _, X_te, _, y_te = digits.load_split(meta["seed"])
    x = torch.tensor(X_te[5:6], requires_grad=True)
    logits = net(x)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y_te[5:6]))
    loss.backward()
    assert got["label"] == int(y_te[5])
    np.testing.assert_allclose(got["probabilities"], torch.softmax(logits, 1)[0].detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(np.array(got["grad"]).ravel(), x.grad[0].numpy(), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(got["loss"], loss.item(), rtol=1e-9)
    with open(got["png"], "rb") as f:
        assert f.read(8) == PNG_MAGIC
    # the listed mistakes are exactly the test digits the network gets wrong
    wrong = np.nonzero(net(torch.from_numpy(X_te)).argmax(1).numpy() != y_te)[0].tolist()
    assert got["misclassified"] == wrong
    assert len(wrong) == round((1 - json.loads(stdout)["test_accuracy"]) * len(y_te))


def test_explain_text_output_and_default_model(trained, tmp_path, capsys):
    _, stdout, _ = trained
    shutil.copy(json.loads(stdout)["model"], tmp_path / "model.npz")
    assert main(["digits", "explain", "--index", "0", "--out", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert "using the model at" in cap.err                    # it says which model it took
    assert "test digit #0" in cap.out and "probabilities:" in cap.out and "∂loss/∂pixel" in cap.out
    art = [line for line in cap.out.splitlines() if line.startswith("  |")]
    assert len(art) == 8                                      # 8 pixel rows, digit and gradient side by side
    assert (tmp_path / "digit-0.png").exists()


def test_explain_trains_a_model_when_none_exists(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(digits.DEFAULTS, "epochs", 2)          # keep the test quick
    assert main(["digits", "explain", "--index", "1", "--out", str(tmp_path), "--json"]) == 0
    cap = capsys.readouterr()
    assert "training the default network now" in cap.err
    result = json.loads(cap.out)
    assert result["trained_now"] is True and (tmp_path / "model.npz").exists()
    assert abs(sum(result["probabilities"]) - 1) < 1e-5


def test_plain_progress_lines_without_a_terminal(tmp_path, capsys):
    assert main(["train", "digits", "--epochs", "2", "--hidden", "16", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "test accuracy:" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "digits", "--hidden", "64,x"], "'x' is not a whole number"),
    (["train", "digits", "--hidden", "0"], "between 1 and 65536"),
    (["train", "digits", "--epochs", "0"], "--epochs must be a positive"),
    (["train", "digits", "--lr", "-1"], "--lr must be a positive"),
    (["digits", "explain", "--model", "/nonexistent/model.npz"], "does not exist"),
    (["train", "digits", "--hidden", "128,,64"], "empty layer size"),
    (["train", "digits", "--seed", "-1"], "--seed must be a whole number from 0"),
    (["train", "digits", "--epochs", "1", "--hidden", "8", "--lr", "1e6"], "training diverged"),
])
def test_user_errors_exit_2_with_one_line(argv, message, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unwritable_out_dir_is_a_user_error_before_training(tmp_path, capsys):
    (tmp_path / "a-file").write_text("in the way")
    assert main(["train", "digits", "--out", str(tmp_path / "a-file")]) == 2
    cap = capsys.readouterr()
    assert "cannot write into --out" in cap.err and "epoch" not in cap.out
    assert "a file is in the way" in cap.err


def test_explain_index_out_of_range_and_foreign_model(trained, tmp_path, capsys):
    _, stdout, _ = trained
    path = json.loads(stdout)["model"]
    assert main(["digits", "explain", "--index", "360", "--model", path, "--out", str(tmp_path)]) == 2
    assert "the test set has 360 digits (0..359)" in capsys.readouterr().err
    from chainrule import nn
    nn.Linear(2, 2).save(tmp_path / "other.npz")
    assert main(["digits", "explain", "--model", str(tmp_path / "other.npz"), "--out", str(tmp_path)]) == 2
    assert "not a digits model" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["sklearn"])     # without matplotlib it trains and skips the plots
def test_missing_dependency_says_what_to_install(module, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, module, None)            # `import module` now fails
    assert main(["train", "digits", "--out", str(tmp_path)]) == 2
    assert "pip install scikit-learn matplotlib" in capsys.readouterr().err


def test_damaged_model_files_are_user_errors(trained, tmp_path, capsys):
    """A text file, metadata that is not an object, a bad seed, nan weights: one line each, exit 2."""
    _, stdout, _ = trained
    saved = dict(np.load(json.loads(stdout)["model"]))
    meta = json.loads(str(saved["__chainrule__"]))
    (tmp_path / "text.npz").write_text("hello")
    np.savez(tmp_path / "list-meta.npz", **{**saved, "__chainrule__": np.array("[1, 2]")})
    np.savez(tmp_path / "bad-seed.npz", **{**saved, "__chainrule__": np.array(json.dumps({**meta, "seed": -5}))})
    np.savez(tmp_path / "nan.npz", **{**saved, "0.weight": np.full_like(saved["0.weight"], np.nan)})
    for name, message in [("text.npz", "is not a zip archive"), ("list-meta.npz", "damaged __chainrule__"),
                          ("bad-seed.npz", "--seed must be"), ("nan.npz", "0.weight holds nan or inf")]:
        assert main(["digits", "explain", "--model", str(tmp_path / name), "--out", str(tmp_path)]) == 2, name
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (name, err)
        assert "allow_pickle" not in err
