"""Value against PyTorch (float64) on random programs and at the kinks.

Hypothesis draws random expression DAGs over the op table: each step applies
an op to earlier nodes (any earlier node, so values are reused and the graph
is a DAG, not a tree). Ops with a restricted domain get operands that are
always inside it (log and sqrt of a²+½, pow with base a²+½, division by
b²+½), so every drawn program is valid wherever its inputs land. Programs
whose values grow past 1e8 (exp of exp of …) are discarded.

The same program is replayed in torch; the output and the gradient of every
input and every intermediate node (``retain_grad``) must agree to 1e-10,
relative to the size of the gradient's terms (see ``_magnitudes``).
"""
import math

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis not installed: pip install hypothesis")
torch = pytest.importorskip("torch", reason="torch==2.13.0 not installed: pip install torch==2.13.0")

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from chainrule import MathError, Value, trace  # noqa: E402

F = torch.nn.functional
SAFE = 0.5          # added to a square to keep log/sqrt/pow/div inside their domain
LIMIT = 1e8         # discard programs whose values grow past this

# op -> (arity, how chainrule builds it, how torch builds it); k is a constant parameter
PROGRAM_OPS = {
    "add": (2, lambda a, b, k: a + b, lambda a, b, k: a + b),
    "sub": (2, lambda a, b, k: a - b, lambda a, b, k: a - b),
    "mul": (2, lambda a, b, k: a * b, lambda a, b, k: a * b),
    "div": (2, lambda a, b, k: a / (b * b + SAFE), lambda a, b, k: a / (b * b + SAFE)),
    "neg": (1, lambda a, b, k: -a, lambda a, b, k: -a),
    "pow": (2, lambda a, b, k: (a * a + SAFE) ** b, lambda a, b, k: torch.pow(a * a + SAFE, b)),
    "powc": (1, lambda a, b, k: a ** k if k in (0.0, 2.0, 3.0) else (a * a + SAFE) ** k,
             lambda a, b, k: a ** k if k in (0.0, 2.0, 3.0) else (a * a + SAFE) ** k),
    "square": (1, lambda a, b, k: a.square(), lambda a, b, k: torch.square(a)),
    "sqrt": (1, lambda a, b, k: (a * a + SAFE).sqrt(), lambda a, b, k: torch.sqrt(a * a + SAFE)),
    "exp": (1, lambda a, b, k: a.exp(), lambda a, b, k: torch.exp(a)),
    "log": (1, lambda a, b, k: (a * a + SAFE).log(), lambda a, b, k: torch.log(a * a + SAFE)),
    "tanh": (1, lambda a, b, k: a.tanh(), lambda a, b, k: torch.tanh(a)),
    "sigmoid": (1, lambda a, b, k: a.sigmoid(), lambda a, b, k: torch.sigmoid(a)),
    "relu": (1, lambda a, b, k: a.relu(), lambda a, b, k: torch.relu(a)),
    "leaky_relu": (1, lambda a, b, k: a.leaky_relu(k), lambda a, b, k: F.leaky_relu(a, k)),
    "abs": (1, lambda a, b, k: abs(a), lambda a, b, k: torch.abs(a)),
    "sin": (1, lambda a, b, k: a.sin(), lambda a, b, k: torch.sin(a)),
    "cos": (1, lambda a, b, k: a.cos(), lambda a, b, k: torch.cos(a)),
    "maximum": (2, lambda a, b, k: a.maximum(b), lambda a, b, k: torch.maximum(a, b)),
    "minimum": (2, lambda a, b, k: a.minimum(b), lambda a, b, k: torch.minimum(a, b)),
    "tan": (1, lambda a, b, k: (a * 0.5).tan(), lambda a, b, k: torch.tan(a * 0.5)),
    **{name: (1, (lambda n: lambda a, b, k: getattr(a, n)())(name), (lambda n: lambda a, b, k: getattr(torch, n)(a))(name))
       for name in ("sinh", "cosh", "atan", "asinh", "expm1")},
    "log1p": (1, lambda a, b, k: (a * a).log1p(), lambda a, b, k: torch.log1p(a * a)),
    "log2": (1, lambda a, b, k: (a * a + SAFE).log2(), lambda a, b, k: torch.log2(a * a + SAFE)),
    "log10": (1, lambda a, b, k: (a * a + SAFE).log10(), lambda a, b, k: torch.log10(a * a + SAFE)),
    "softsign": (1, lambda a, b, k: a.softsign(), lambda a, b, k: F.softsign(a)),
    "silu": (1, lambda a, b, k: a.silu(), lambda a, b, k: F.silu(a)),
    "logsigmoid": (1, lambda a, b, k: a.logsigmoid(), lambda a, b, k: F.logsigmoid(a)),
}
PARAMS = {"powc": [0.0, 2.0, 3.0, -1.0, 0.5, -1.5], "leaky_relu": [0.01, 0.2]}

inputs_st = st.lists(
    st.one_of(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
              st.sampled_from([0.0, 1.0, -1.0, 0.5])),
    min_size=1, max_size=4)


@st.composite
def programs(draw):
    """(input values, steps); a step is (op, index of a, index of b, k)."""
    values = draw(inputs_st)
    steps = []
    for _ in range(draw(st.integers(1, 12))):
        n = len(values) + len(steps)
        op = draw(st.sampled_from(sorted(PROGRAM_OPS)))
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(0, n - 1)) if PROGRAM_OPS[op][0] == 2 else None
        k = draw(st.sampled_from(PARAMS[op])) if op in PARAMS else None
        steps.append((op, a, b, k))
    return values, steps


def run_chainrule(values, steps):
    nodes = [Value(v, name=f"x{i}") for i, v in enumerate(values)]
    for op, a, b, k in steps:
        nodes.append(PROGRAM_OPS[op][1](nodes[a], None if b is None else nodes[b], k))
    return nodes


def run_torch(values, steps):
    nodes = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    for op, a, b, k in steps:
        node = PROGRAM_OPS[op][2](nodes[a], None if b is None else nodes[b], k)
        node.retain_grad()
        nodes.append(node)
    return nodes


def _magnitudes(out):
    """Two sizes per node (trace id), propagated backward like the gradient:

    * ``mag``: Σ over paths of |product of local derivatives|, the size of the
      terms that add up to the node's gradient. Gradients made of large terms
      that cancel can only be compared relative to this, not to their own size.
    * ``noise``: the same sum where each local derivative on the path in turn
      is replaced by the size of its rounding noise (in units of ε, taken as
      max(1, |local|, |operands|, |value|)). Both engines round differently
      (torch's sqrt, log, tanh need not match libm to the last bit), and a
      local such as 1 − tanh² or out·ln x can cancel to a few ulps.
    """
    t = trace(out)
    mag, noise = {t.output: 1.0}, {t.output: 0.0}
    for step in t.backward:
        node = t.nodes[step.node]
        m, e = mag.get(step.node, 0.0), noise.get(step.node, 0.0)
        size = max([1.0, abs(node.value)] + [abs(t.nodes[i].value) for i in node.inputs])
        for local in step.locals:
            lo = abs(local.local)
            mag[local.input] = mag.get(local.input, 0.0) + m * lo
            noise[local.input] = noise.get(local.input, 0.0) + e * lo + m * max(size, lo)
    return t, mag, noise


def close(a, b, scale, rel=1e-10, atol=0.0):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b), scale) + atol + 1e-300


KINK_OPS = {"relu", "leaky_relu", "abs", "maximum", "minimum"}


def _number(v) -> float:
    return v.data if isinstance(v, Value) else float(v)


def _kink_sides(values, nodes, steps):
    """Which side of its kink each relu/abs/max/min step is on (−1, 0, 1)."""
    sides = []
    for op, a, b, k in steps:
        if op in KINK_OPS:
            x = _number(nodes[a]) - (_number(nodes[b]) if b is not None else 0.0)
            sides.append((x > 0) - (x < 0))
    return sides


@settings(max_examples=150, deadline=None)
@given(programs())
def test_random_programs_match_torch(program):
    values, steps = program
    try:
        nodes = run_chainrule(values, steps)
    except MathError:
        assume(False)
    assume(all(abs(n.data) < LIMIT for n in nodes))
    out = nodes[-1]

    t_nodes = run_torch(values, steps)
    t_out = t_nodes[-1]
    # a value rounded to exactly a kink in one engine and just beside it in the
    # other has different (both correct) derivatives: such programs prove nothing
    assume(_kink_sides(values, nodes, steps) == _kink_sides(values, [t.item() for t in t_nodes], steps))
    tr, mag, noise = _magnitudes(out)
    # rounding in node v moves the output by about |∂out/∂v|·|v|·ε (first order);
    # e.g. log(x² + ½) at x² + ½ = 1 ± 1 ulp is 0 in one engine and −1.1e-16 in the other
    forward_scale = sum(mag.get(i, 0.0) * abs(tn.value) for i, tn in enumerate(tr.nodes))
    assert close(out.data, t_out.item(), forward_scale), \
        f"forward: chainrule {out.data!r}, torch {t_out.item()!r}; program {program}"

    out.backward()
    t_out.backward()
    # trace ids number the graph (constants included) in creation order
    graph = sorted(_graph(out), key=lambda n: n._seq)
    assert len(graph) == len(tr.nodes)
    seq_to_id = {n._seq: i for i, n in enumerate(graph)}
    for i, (n, tn) in enumerate(zip(nodes, t_nodes, strict=True)):
        want = 0.0 if tn.grad is None else tn.grad.item()
        j = seq_to_id.get(n._seq)
        scale, atol = mag.get(j, 0.0), 1e-12 * noise.get(j, 0.0)   # 1e-12 ≈ 4500 ε of slack
        assert close(n.grad, want, scale, atol=atol), \
            f"node {i} ({'input' if i < len(values) else steps[i - len(values)][0]}): " \
            f"chainrule {n.grad!r}, torch {want!r}, term size {scale:g}, noise {atol:g}; program {program}"


def _graph(out):
    """Every node of ``out``'s graph, constants included (the nodes a trace numbers)."""
    seen, stack = {id(out): out}, [out]
    while stack:
        n = stack.pop()
        for p in n.inputs:
            if id(p) not in seen:
                seen[id(p)] = p
                stack.append(p)
    return list(seen.values())


# ---------------------------------------------------------------------------
# The kink conventions the op table documents are PyTorch's.
# ---------------------------------------------------------------------------

KINKS = [
    ("relu", lambda a: a.relu(), torch.relu, 0.0),
    ("leaky_relu", lambda a: a.leaky_relu(0.2), lambda a: F.leaky_relu(a, 0.2), 0.0),
    ("abs", lambda a: abs(a), torch.abs, 0.0),
    ("sqrt", lambda a: a.sqrt(), torch.sqrt, 0.0),
    ("powc 0.5", lambda a: a ** 0.5, lambda a: a ** 0.5, 0.0),
    ("powc 0", lambda a: a ** 0, lambda a: a ** 0.0, 0.0),
    ("powc 2", lambda a: a ** 2, lambda a: a ** 2.0, 0.0),
]


@pytest.mark.parametrize("name, ours, theirs, x", KINKS, ids=[k[0] for k in KINKS])
def test_unary_kinks_match_torch(name, ours, theirs, x):
    a = Value(x)
    out = ours(a)
    out.backward()
    ta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    t_out = theirs(ta)
    t_out.backward()
    assert out.data == t_out.item()
    assert close(a.grad, ta.grad.item(), 0.0), f"{name}: {a.grad} vs {ta.grad.item()}"


@pytest.mark.parametrize("name, ours, theirs, x, y", [
    ("maximum tie", lambda a, b: a.maximum(b), torch.maximum, 1.5, 1.5),
    ("minimum tie", lambda a, b: a.minimum(b), torch.minimum, -1.5, -1.5),
    ("pow 0^2", lambda a, b: a ** b, torch.pow, 0.0, 2.0),
    ("pow 0^0.5", lambda a, b: a ** b, torch.pow, 0.0, 0.5),
    ("pow 0^0", lambda a, b: a ** b, torch.pow, 0.0, 0.0),
    ("pow (-2)^3", lambda a, b: a ** b, torch.pow, -2.0, 3.0),
    ("pow (-2)^0", lambda a, b: a ** b, torch.pow, -2.0, 0.0),
])
def test_binary_kinks_match_torch(name, ours, theirs, x, y):
    a, b = Value(x), Value(y)
    out = ours(a, b)
    out.backward()
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, y))
    t_out = theirs(ta, tb)
    t_out.backward()
    assert out.data == t_out.item()
    assert close(a.grad, ta.grad.item(), 0.0) and close(b.grad, tb.grad.item(), 0.0), \
        f"{name}: ({a.grad}, {b.grad}) vs ({ta.grad.item()}, {tb.grad.item()})"


def test_second_backward_accumulates_like_torch():
    x = Value(0.7)
    h = x.tanh() * x
    y = h * h + x
    tx = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    th = torch.tanh(tx) * tx
    th.retain_grad()
    ty = th * th + tx
    for _ in range(3):
        y.backward()
        ty.backward(retain_graph=True)
        assert close(x.grad, tx.grad.item(), 0.0) and close(h.grad, th.grad.item(), 0.0)
    assert x.grad != 0.0
