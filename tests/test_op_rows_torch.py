"""Every elementwise row against PyTorch (float64) in the tensor engine and in the language, at the
op table's smooth points (tests/test_ops.py's SMOOTH): the value and the gradient of each input.

(The scalar engine and forward mode are checked against PyTorch and central differences row by row
in test_ops.py and test_forward.py.)"""
import math

import numpy as np
import pytest

import chainrule.tensor as ct
from chainrule.lang import parse
from chainrule.ops import OPS

import oracles
from test_ops import SMOOTH

torch = pytest.importorskip("torch")


def _torch_grads(name, xs, ys, k):
    ins = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in ((xs,) if ys is None else (xs, ys))]
    out = oracles.TORCH[name](ins[0], ins[1] if ys is not None else None, k)
    grads = torch.autograd.grad(out.sum(), ins, allow_unused=True)
    return out.detach().numpy(), [g.numpy() for g in grads]


def _groups(name):
    """The row's smooth points grouped by constant k: (xs, ys or None, k)."""
    by_k = {}
    for x, y, k in SMOOTH[name]:
        by_k.setdefault(k, []).append((x, y))
    for k, pts in by_k.items():
        xs = np.array([p[0] for p in pts])
        ys = None if pts[0][1] is None else np.array([p[1] for p in pts])
        yield xs, ys, k


@pytest.mark.parametrize("name", [n for n, op in OPS.items() if op.method and not op.variant_of])
def test_tensor_engine_matches_torch(name):
    op = OPS[name]
    for xs, ys, k in _groups(name):
        a = ct.tensor(xs, requires_grad=True)
        b = None if ys is None else ct.tensor(ys, requires_grad=True)
        args = ([] if b is None else [b]) + ([] if k is None else [k])
        out = getattr(a, op.method)(*args)
        out.sum().backward()
        want, grads = _torch_grads(name, xs, ys, k)
        np.testing.assert_allclose(out.data, want, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(a.grad, grads[0], rtol=1e-12, atol=1e-300)
        if b is not None:
            np.testing.assert_allclose(b.grad, grads[1], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", [n for n, op in OPS.items() if op.lang and not op.variant_of])
def test_language_matches_torch(name):
    op = OPS[name]
    for x, y, k in SMOOTH[name]:
        args = "x" + (", y" if y is not None else "") + (f", {k!r}" if k is not None else "")
        run = parse(f"f = {name}({args})").run({"x": x, **({} if y is None else {"y": y})})
        want, grads = _torch_grads(name, np.array(x), None if y is None else np.array(y), k)
        assert math.isclose(run.value, float(want), rel_tol=1e-13, abs_tol=1e-300), (name, x, y, k)
        got = run.grads()
        assert math.isclose(got["x"], float(grads[0]), rel_tol=1e-12, abs_tol=1e-300), (name, x, y, k)
        if y is not None:
            assert math.isclose(got["y"], float(grads[1]), rel_tol=1e-12, abs_tol=1e-300), (name, x, y, k)
