"""chainrule's scalar engine against micrograd, on micrograd's own demo.

The workload is micrograd's demo notebook: an MLP 2→16→16→1 on 100
``make_moons(n_samples=100, noise=0.1)`` points (labels ±1), max-margin loss
``(1 + -yᵢ·scoreᵢ).relu()`` averaged, plus L2 regularisation 1e-4·Σp², and
one full training step: forward, loss, zero_grad, backward, SGD update.

The MLP is written once below (a copy of micrograd's ``nn.py``) and run with
either engine's ``Value`` class: same seeds, same weights, same graph (the
node counts are printed and must be equal), and the two engines must produce
the same loss and gradients or the script fails.

Timings are the minimum over repeats, engines interleaved, on a shared and
noisy machine; only ratios measured in this one run mean anything.

    python benchmarks/scalar_vs_micrograd.py            # 1 warm-up + 5 timed steps per setting
    python benchmarks/scalar_vs_micrograd.py --quick    # 1 warm-up + 2
    python benchmarks/scalar_vs_micrograd.py --strict   # exit 1 if a target floor is missed (gc on)
"""
from __future__ import annotations

import argparse
import gc
import platform
import random
import sys
import time

import numpy as np

import chainrule
from chainrule import Tracer

SPEED_TARGET, SPEED_FLOOR = 6.0, 4.0   # micrograd time / chainrule time
TRACE_TARGET = 1.5                      # chainrule step with Tracer on / off


def micrograd_value():
    try:
        from micrograd.engine import Value
    except ImportError:
        print("micrograd is not installed: pip install micrograd==0.1.0", file=sys.stderr)
        sys.exit(1)
    return Value


# ---------------------------------------------------------------------------
# micrograd's nn.py and demo, parameterised by the Value class V
# ---------------------------------------------------------------------------

class Neuron:
    def __init__(self, V, nin, nonlin=True):
        self.w = [V(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = V(0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]


class Layer:
    def __init__(self, V, nin, nout, **kwargs):
        self.neurons = [Neuron(V, nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MLP:
    def __init__(self, V, nin, nouts):
        sz = [nin] + nouts
        self.layers = [Layer(V, sz[i], sz[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


class BareNode:
    """The least any Python engine must do: one object per op holding its value and inputs.

    No gradients, no checks. The forward pass with these nodes is the floor for a
    pure-Python engine running the same MLP code, which is shared by both engines.
    """

    __slots__ = ("data", "grad", "a", "b")

    def __init__(self, data, a=None, b=None):
        self.data, self.grad, self.a, self.b = data, 0.0, a, b

    def __add__(self, other):
        other = other if isinstance(other, BareNode) else BareNode(other)
        return BareNode(self.data + other.data, self, other)

    def __mul__(self, other):
        other = other if isinstance(other, BareNode) else BareNode(other)
        return BareNode(self.data * other.data, self, other)

    __radd__, __rmul__ = __add__, __mul__

    def relu(self):
        return BareNode(self.data if self.data > 0 else 0.0, self)


def time_floor(X, y, repeats, gc_enabled=True) -> float:
    """Min forward time of the MLP with :class:`BareNode`."""
    model = make_model(BareNode)
    best = None
    for k in range(repeats + 1):
        gc.collect()
        if not gc_enabled:
            gc.disable()
        t0 = time.perf_counter()
        loss_of(BareNode, model, X, y)
        t = time.perf_counter() - t0
        gc.enable()
        if k > 0:
            best = t if best is None else min(best, t)
    return best


def moons(n_samples=100):
    """The demo's data: make_moons with the demo's seed, as plain floats and ±1 ints."""
    try:
        from sklearn.datasets import make_moons
    except ImportError:
        print("scikit-learn is not installed: pip install scikit-learn", file=sys.stderr)
        sys.exit(1)
    np.random.seed(1337)
    X, y = make_moons(n_samples=n_samples, noise=0.1)
    y = y * 2 - 1
    return [[float(a), float(b)] for a, b in X], [int(t) for t in y]


def make_model(V, seed=1337):
    random.seed(seed)
    return MLP(V, 2, [16, 16, 1])


def loss_of(V, model, X, y):
    """The demo's loss: max-margin data loss + 1e-4 L2, one graph."""
    inputs = [list(map(V, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    alpha = 1e-4
    reg_loss = alpha * sum((p * p for p in model.parameters()))
    return data_loss + reg_loss


def step(V, model, X, y, lr=1.0, traced=False):
    """One training step. Returns (loss Value, phase times: forward, zero_grad, backward, update)."""
    params = model.parameters()
    t0 = time.perf_counter()
    total = loss_of(V, model, X, y)
    t1 = time.perf_counter()
    for p in params:
        p.grad = 0.0
    t2 = time.perf_counter()
    if traced:
        with Tracer():
            total.backward()
    else:
        total.backward()
    t3 = time.perf_counter()
    for p in params:
        p.data -= lr * p.grad
    t4 = time.perf_counter()
    return total, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)


def count_nodes(root) -> int:
    """Nodes in the graph, constants included; works for both engines."""
    seen, stack = {id(root)}, [root]
    while stack:
        v = stack.pop()
        kids = v._prev if hasattr(v, "_prev") else v.inputs
        for c in kids:
            if id(c) not in seen:
                seen.add(id(c))
                stack.append(c)
    return len(seen)


def check_same(n_samples=100, rtol=1e-9, atol=1e-12):
    """One step with each engine from the same weights: same graph size, loss, gradients, update.

    Raises AssertionError on any difference. Returns a dict of what was compared.
    """
    MgValue = micrograd_value()
    X, y = moons(n_samples)
    ours, theirs = make_model(chainrule.Value), make_model(MgValue)
    p_ours, p_theirs = ours.parameters(), theirs.parameters()
    assert [p.data for p in p_ours] == [float(p.data) for p in p_theirs], "initial weights differ"
    total_ours = loss_of(chainrule.Value, ours, X, y)
    total_theirs = loss_of(MgValue, theirs, X, y)
    nodes = count_nodes(total_ours), count_nodes(total_theirs)
    assert nodes[0] == nodes[1], f"graph sizes differ: chainrule {nodes[0]}, micrograd {nodes[1]}"
    total_ours.backward()
    total_theirs.backward()
    assert np.isclose(total_ours.data, total_theirs.data, rtol=rtol, atol=atol), \
        f"loss differs: chainrule {total_ours.data!r}, micrograd {total_theirs.data!r}"
    g_ours = np.array([p.grad for p in p_ours])
    g_theirs = np.array([p.grad for p in p_theirs], dtype=float)
    bad = ~np.isclose(g_ours, g_theirs, rtol=rtol, atol=atol)
    assert not bad.any(), (f"{bad.sum()} of {len(g_ours)} gradients differ, e.g. parameter "
                           f"{int(np.argmax(bad))}: chainrule {g_ours[bad][0]!r}, micrograd {g_theirs[bad][0]!r}")
    return {"loss": total_ours.data, "nodes": nodes[0], "params": len(p_ours),
            "max_grad_diff": float(np.max(np.abs(g_ours - g_theirs)))}


# ---------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------

def time_engines(X, y, repeats, gc_enabled=True):
    """Fastest step of each engine: {engine: (total, phases)}; steps interleaved, losses checked each step.

    ``gc.collect()`` runs before every step (outside the timing), so each step
    starts from the same clean heap; with ``gc_enabled=False`` the cyclic
    collector is off while the step runs.
    """
    engines = {"chainrule": chainrule.Value, "micrograd": micrograd_value()}
    models = {name: make_model(V) for name, V in engines.items()}
    best: dict[str, tuple] = {}
    was_enabled = gc.isenabled()
    try:
        for k in range(repeats + 1):                 # k = 0 is the warm-up
            lr = 1.0 - 0.9 * k / 100                 # the demo's schedule
            losses = {}
            for name, V in engines.items():
                gc.collect()
                if not gc_enabled:
                    gc.disable()
                loss, ph = step(V, models[name], X, y, lr)
                gc.enable()
                losses[name] = loss.data
                del loss
                if k > 0 and (name not in best or sum(ph) < best[name][0]):
                    best[name] = (sum(ph), ph)
            assert np.isclose(losses["chainrule"], losses["micrograd"], rtol=1e-9), \
                f"step {k}: loss differs: chainrule {losses['chainrule']!r}, micrograd {losses['micrograd']!r}"
    finally:
        gc.enable() if was_enabled else gc.disable()
    return best


def time_tracing(X, y, repeats, gc_enabled=True):
    """Min chainrule (step, backward) time without and with a Tracer recording the backward sweep."""
    model = make_model(chainrule.Value)
    best = {False: (None, None), True: (None, None)}   # traced -> (step, backward)
    was_enabled = gc.isenabled()
    try:
        for k in range(repeats + 1):
            for traced in (False, True):
                gc.collect()
                if not gc_enabled:
                    gc.disable()
                _, ph = step(chainrule.Value, model, X, y, lr=0.0, traced=traced)   # lr 0: the same graph each time
                gc.enable()
                if k == 0:
                    continue
                s, b = best[traced]
                best[traced] = (sum(ph) if s is None else min(s, sum(ph)), ph[2] if b is None else min(b, ph[2]))
    finally:
        gc.enable() if was_enabled else gc.disable()
    return best


def verdict(ratio, target, floor=None, higher_is_better=True):
    good = ratio >= target if higher_is_better else ratio <= target
    if good:
        return "target met"
    if floor is not None and ratio >= floor:
        return "BELOW TARGET (floor met)"
    return "BELOW FLOOR" if floor is not None else "ABOVE TARGET"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 timed steps per setting instead of 5")
    ap.add_argument("--repeats", type=int, default=None, help="timed steps per setting (default 5)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 if the speed floor (gc on) or the tracing target (gc on) is missed")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)

    MgValue = micrograd_value()
    import importlib.metadata as md
    print(f"chainrule {chainrule.__version__} vs micrograd {md.version('micrograd')} — "
          f"Python {platform.python_version()} on {platform.machine()}")
    print("workload: micrograd demo — MLP 2→16→16→1, 100 make_moons points, max-margin loss + 1e-4 L2, "
          "one step = forward + zero_grad + backward + SGD update")
    print(f"timing: min of {repeats} steps after 1 warm-up, engines interleaved\n")

    same = check_same()
    print(f"same graph: {same['nodes']} nodes in each engine's graph, {same['params']} parameters")
    print(f"same numbers: loss {same['loss']:.15g} in both; max |grad difference| {same['max_grad_diff']:.1e}\n")

    X, y = moons()
    failed = []
    results = {}
    for label, gc_on in (("gc on ", True), ("gc off", False)):
        best = time_engines(X, y, repeats, gc_enabled=gc_on)
        results[label] = best
        t_ours, t_theirs = best["chainrule"][0], best["micrograd"][0]
        ratio = t_theirs / t_ours
        print(f"[{label}] micrograd {t_theirs * 1e3:7.1f} ms/step   chainrule {t_ours * 1e3:7.1f} ms/step   "
              f"micrograd/chainrule = {ratio:5.2f}×   " + (
                  f"(target ≥ {SPEED_TARGET:g}×, floor {SPEED_FLOOR:g}×: {verdict(ratio, SPEED_TARGET, SPEED_FLOOR)})"
                  if gc_on else "(for reference: the target is judged with gc on, as users run it)"))
        if gc_on and ratio < SPEED_FLOOR:
            failed.append(f"speed ratio {ratio:.2f}× is below the {SPEED_FLOOR:g}× floor")

    print("\nper phase, ms (fastest step of each engine):")
    names = ("forward (graph + loss)", "zero_grad", "backward", "SGD update")
    cols = [(label, engine) for label in results for engine in ("chainrule", "micrograd")]
    print(f"  {'':24s}" + "".join(f"{e + ' ' + l.strip():>20s}" for l, e in cols))
    for i, name in enumerate(names):
        print(f"  {name:24s}" + "".join(f"{results[l][e][1][i] * 1e3:20.2f}" for l, e in cols))
    print(f"  {'total':24s}" + "".join(f"{results[l][e][0] * 1e3:20.2f}" for l, e in cols))
    floors = {label: time_floor(X, y, repeats, gc_enabled=gc_on) for label, gc_on in (("gc on ", True),
                                                                                     ("gc off", False))}
    print(f"  {'floor: bare nodes, fwd':24s}" + "".join(f"{floors[l] * 1e3:20.2f}" for l, e in cols))
    bound = results["gc off"]["micrograd"][0] / floors["gc off"]
    print("  (floor: the same MLP code building one plain object per op, no gradients: the least any\n"
          "   pure-Python engine pays for this forward. Even with a free backward, an engine could be\n"
          f"   at most {bound:.1f}× faster than micrograd with gc off.)")

    print("\nchainrule with Tracer recording the backward sweep (building the Trace not included):")
    for label, gc_on in (("gc on ", True), ("gc off", False)):
        tr = time_tracing(X, y, repeats, gc_enabled=gc_on)
        (off_step, off_bw), (on_step, on_bw) = tr[False], tr[True]
        ratio_step, ratio_bw = on_step / off_step, on_bw / off_bw
        target = (f"   (target ≤ {TRACE_TARGET:g}×: {verdict(ratio_step, TRACE_TARGET, higher_is_better=False)})"
                  if gc_on else "")
        print(f"  [{label}] step     off {off_step * 1e3:7.1f} ms   on {on_step * 1e3:7.1f} ms   "
              f"on/off = {ratio_step:.2f}×{target}")
        print(f"  [{label}] backward off {off_bw * 1e3:7.1f} ms   on {on_bw * 1e3:7.1f} ms   on/off = {ratio_bw:.2f}×")
        if gc_on and ratio_step > TRACE_TARGET:
            failed.append(f"tracing costs {ratio_step:.2f}× per step, above the {TRACE_TARGET:g}× target")

    if failed:
        print("\nmissed: " + "; ".join(failed))
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
