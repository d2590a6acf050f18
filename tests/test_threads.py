"""backward() from several threads on graphs that share leaves gives every thread's exact gradient.

Each node's sweep buffer (``_g``) and each shared leaf's ``.grad += g`` used to be raced
for: 11 of 30 rounds of eight threads gave wrong gradients. Now sweeps take turns
(``autodiff.sweep_lock``), so the shared ``.grad`` is exactly the sum of every thread's
sweep, as in PyTorch, and trace()/explain() (which undo their own sweep) lose nobody's.
"""
import math
import threading

import numpy as np
import pytest

from chainrule import Value
from chainrule.explain import explain
from chainrule.tensor import Tensor
from chainrule.trace import trace

THREADS = 8
ROUNDS = 12


@pytest.fixture(autouse=True)
def switch_often():
    """Let threads switch every 10 µs instead of every 5 ms, so that sweeps interleave."""
    import sys
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def run_together(work):
    """Run ``work(k)`` for k = 0..THREADS-1 in threads that start at the same moment."""
    start = threading.Barrier(THREADS)
    errors = []

    def body(k):
        try:
            start.wait()
            work(k)
        except BaseException as e:      # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=body, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def scalar_graph(w, b, k, length=400):
    """A long chain through the shared leaves, different in each thread: L = Σ_i tanh(w·x_i + b)·c_k."""
    total = Value(0.0, requires_grad=False)
    for i in range(length):
        x = 0.01 * ((i + 7 * k) % 50) - 0.25
        total = total + (w * x + b).tanh() * (1.0 + 0.1 * k)
    return total


def expected_scalar(w, b, k, length=400):
    """∂L/∂w and ∂L/∂b by hand (no engine): d tanh(u) = 1 − tanh(u)²."""
    gw = gb = 0.0
    for i in range(length):
        x = 0.01 * ((i + 7 * k) % 50) - 0.25
        d = (1.0 - math.tanh(w * x + b) ** 2) * (1.0 + 0.1 * k)
        gw += d * x
        gb += d
    return gw, gb


def test_value_backward_from_eight_threads_sharing_leaves():
    w, b = Value(0.7, name="w"), Value(-0.2, name="b")
    want_w = sum(expected_scalar(0.7, -0.2, k)[0] for k in range(THREADS))
    want_b = sum(expected_scalar(0.7, -0.2, k)[1] for k in range(THREADS))
    for _ in range(ROUNDS):
        w.grad = b.grad = 0.0
        graphs = [scalar_graph(w, b, k) for k in range(THREADS)]   # built first: the sweeps overlap
        run_together(lambda k: graphs[k].backward())
        assert math.isclose(w.grad, want_w, rel_tol=1e-12), (w.grad, want_w)
        assert math.isclose(b.grad, want_b, rel_tol=1e-12), (b.grad, want_b)


def test_each_thread_building_and_sweeping_its_own_graph_of_shared_leaves():
    w, b = Value(0.3, name="w"), Value(0.1, name="b")
    want_w = sum(expected_scalar(0.3, 0.1, k, 200)[0] for k in range(THREADS))
    for _ in range(ROUNDS):
        w.grad = b.grad = 0.0
        run_together(lambda k: scalar_graph(w, b, k, 200).backward())
        assert math.isclose(w.grad, want_w, rel_tol=1e-12), (w.grad, want_w)


def test_tensor_backward_from_eight_threads_sharing_parameters():
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((6, 5)), requires_grad=True)
    bias = Tensor(rng.standard_normal(6), requires_grad=True)
    xs = [rng.standard_normal((30, 5)) for _ in range(THREADS)]

    def loss(k):
        h = (Tensor(xs[k]) @ W.T + bias).tanh()
        for _ in range(40):              # a longer graph, so that the sweeps overlap in time
            h = (h * 0.99).tanh()
        return (h * h).sum()
    # the expected sums, one thread at a time
    want_W, want_b = np.zeros((6, 5)), np.zeros(6)
    for k in range(THREADS):
        W.grad = bias.grad = None
        loss(k).backward()
        want_W += W.grad
        want_b += bias.grad
    for _ in range(ROUNDS):
        W.grad = bias.grad = None
        graphs = [loss(k) for k in range(THREADS)]
        run_together(lambda k: graphs[k].backward())
        np.testing.assert_allclose(W.grad, want_W, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(bias.grad, want_b, rtol=1e-12, atol=1e-12)


def test_trace_and_explain_in_other_threads_lose_no_backward_contribution():
    w, b = Value(0.7, name="w"), Value(-0.2, name="b")
    half = THREADS // 2
    want_w = sum(expected_scalar(0.7, -0.2, k)[0] for k in range(half))
    for _ in range(ROUNDS // 2):
        w.grad = b.grad = 0.0
        graphs = [scalar_graph(w, b, k) for k in range(THREADS)]
        for g in graphs:
            g.name = "L"
        seen = {}

        def work(k):
            if k < half:
                graphs[k].backward()                     # adds to w.grad
            elif k % 2:
                seen[k] = trace(graphs[k]).node("w").grad    # sweeps, then puts .grad back
            else:
                seen[k] = explain(graphs[k], wrt="w").chain("w").grad
        run_together(work)
        assert math.isclose(w.grad, want_w, rel_tol=1e-12), (w.grad, want_w)
        for k, g in seen.items():                        # and each trace saw its own sweep alone
            assert math.isclose(g, expected_scalar(0.7, -0.2, k)[0], rel_tol=1e-12)


@pytest.mark.parametrize("make", [lambda: Value(2.0, name="a"), lambda: Tensor(np.ones(3), requires_grad=True)])
def test_backward_inside_a_thread_still_runs_alone_and_the_lock_is_free_afterwards(make):
    from chainrule import autodiff
    a = make()
    out = (a * a).sum() if isinstance(a, Tensor) else a * a
    t = threading.Thread(target=out.backward)
    t.start()
    t.join()
    assert autodiff.sweep_lock.acquire(blocking=False)
    autodiff.sweep_lock.release()
    np.testing.assert_allclose(a.grad, 2 * np.asarray(a.data))
