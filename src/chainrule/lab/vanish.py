"""Vanishing and exploding gradients, measured: ``chainrule vanish``.

Two views of one idea, "a long chain of small factors multiplies to nearly nothing":

* **the network**: a deep MLP built with the tensor engine (``chainrule.nn.Linear``, the
  activation's op-table row, optional residual connections and layer normalisation); one
  backward pass at initialisation gives ‖∂L/∂Wₗ‖ for every layer ``l``. Small slopes and
  small weights make the front layers' norms tiny (vanishing); a large initialisation makes
  them grow layer after layer (exploding).
* **the chain**: one neuron per layer, ``zₗ = w·aₗ₋₁ + b``, ``aₗ = act(zₗ)``, as scalar
  Values. ``∂a_n/∂a₀`` is a product of n factors ``act′(zₗ)·w``, each the local derivative
  the backward pass actually met, so the learner sees *which* factors shrink (seed 001:
  every factor 0.5, five of them: 0.5⁵ = 0.03125).

The weights and inputs come from :func:`uniforms`, a counter-based generator that the lab's
page (:mod:`chainrule.lab.pages`) can reproduce exactly, so the page and the command show
the same network. Every number here comes from the engine.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ..ops import OPS

__all__ = ["ACTS", "INITS", "MAX_DEPTH", "MAX_WIDTH", "Config", "NetResult", "ChainResult", "uniforms",
           "run_network", "run_chain", "slope_max", "parse_choices", "check_config"]

ACTS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
INITS = ("default", "xavier", "kaiming", "large")
INIT_WORDS = {
    "default": "PyTorch's nn.Linear default: W, b ~ U(±1/√fan_in)",
    "xavier": "Glorot: W ~ U(±√(6/(fan_in + fan_out))), b = 0",
    "kaiming": "He: W ~ U(±gain·√(3/fan_in)) with the activation's gain, b = 0",
    "large": "too large on purpose: W ~ U(±√3) (variance 1), b = 0",
}
MAX_DEPTH = 500
MAX_WIDTH = 512
MAX_BATCH = 256
LEAKY_SLOPE = 0.01
NORM_EPS = 1e-5


# --------------------------------------------------------------------------
# Random numbers the page can reproduce bit for bit
# --------------------------------------------------------------------------

_M32 = np.uint64(0xFFFFFFFF)


def _hash32(x: np.ndarray) -> np.ndarray:
    """Chris Wellons' ``lowbias32`` integer hash of uint32 values (in uint64, masked)."""
    x = x & _M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & _M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & _M32
    x ^= x >> np.uint64(16)
    return x


def uniforms(seed: int, start: int, count: int) -> np.ndarray:
    """``count`` numbers in (0, 1): the stream ``seed`` from position ``start``.

    Number ``i`` is ``(hash(hash(seed) + i) + 0.5) / 2³²``: counter-based, so any slice can be
    made without the ones before it, and simple enough that JavaScript makes the same doubles
    (``lab.js``, with ``Math.imul``).
    """
    base = _hash32(np.array([seed & 0xFFFFFFFF], dtype=np.uint64))[0]
    i = (np.arange(start, start + count, dtype=np.uint64) + base) & _M32
    return (_hash32(i).astype(np.float64) + 0.5) / 4294967296.0


# --------------------------------------------------------------------------
# Configuration and checks (one clear error per bad option)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    act: str = "sigmoid"
    init: str = "default"
    depth: int = 30
    width: int = 32
    residual: bool = False
    norm: bool = False
    batch: int = 16
    seed: int = 0

    def label(self) -> str:
        extra = (" + residual" if self.residual else "") + (" + norm" if self.norm else "")
        return f"{self.act}, {self.init} init{extra}"


def parse_choices(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    """``"sigmoid,tanh"`` -> ``["sigmoid", "tanh"]``, each checked against ``allowed``."""
    items = [t.strip() for t in str(text).replace(" ", ",").split(",") if t.strip()]
    if not items:
        raise InputError(f"{option}: give at least one of {', '.join(allowed)}")
    for t in items:
        if t not in allowed:
            import difflib
            close = difflib.get_close_matches(t, allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InputError(f"{option} {t}: unknown{hint}; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def _whole(value, option: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:
            text = str(value).strip()
            value = int(text)
        except ValueError:
            raise InputError(f"{option} {value!r}: expected a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise InputError(f"{option} {value}: expected a whole number from {low} to {high}")
    return int(value)


def check_config(cfg: Config) -> Config:
    if cfg.act not in ACTS:
        parse_choices(cfg.act, ACTS, "--act")
    if cfg.init not in INITS:
        parse_choices(cfg.init, INITS, "--init")
    _whole(cfg.depth, "--depth", 1, MAX_DEPTH)
    _whole(cfg.width, "--width", 1, MAX_WIDTH)
    _whole(cfg.batch, "--batch", 1, MAX_BATCH)
    return cfg


# --------------------------------------------------------------------------
# The activation, from the op table
# --------------------------------------------------------------------------

def _act_tensor(h, act: str):
    if act == "linear":
        return h
    if act == "leaky_relu":
        return h.leaky_relu(LEAKY_SLOPE)
    return getattr(h, act)()


def _act_param(act: str):
    return LEAKY_SLOPE if act == "leaky_relu" else None


def _act_slope(act: str, z: np.ndarray) -> np.ndarray:
    """act′(z), elementwise, from the op table's row for the activation (1 for linear)."""
    if act == "linear":
        return np.ones_like(z)
    op = OPS[act]
    k = _act_param(act)
    out = op.np_f(z, None, k)
    return np.asarray(op.np_d[0](z, None, k, out), dtype=float) * np.ones_like(z)


def slope_max(act: str) -> tuple[float, float]:
    """(the largest slope act′(z), the z where it is reached) over z in [−10, 10], by the op table.

    sigmoid: 0.25 at z = 0; tanh: 1 at z = 0; relu, leaky_relu, linear: 1.
    """
    z = np.union1d(np.linspace(-10.0, 10.0, 2001), [0.0])
    s = _act_slope(act, z)
    i = int(np.argmax(s))
    return float(s[i]), float(z[i])


# --------------------------------------------------------------------------
# The network view
# --------------------------------------------------------------------------

@dataclass
class NetResult:
    config: Config
    grad_norms: list[float]          # ‖∂L/∂Wₗ‖_F, layer 1 first
    bias_grad_norms: list[float]
    activation_rms: list[float]      # √mean(hₗ²) after each layer
    mean_slope: list[float]          # mean act′(zₗ) over the batch and the units
    loss: float

    def to_dict(self) -> dict:
        c = self.config
        first, last = self.grad_norms[0], self.grad_norms[-1]
        return {"act": c.act, "init": c.init, "depth": c.depth, "width": c.width, "residual": c.residual,
                "norm": c.norm, "batch": c.batch, "seed": c.seed, "loss": self.loss,
                "grad_norms": list(self.grad_norms), "bias_grad_norms": list(self.bias_grad_norms),
                "activation_rms": list(self.activation_rms), "mean_slope": list(self.mean_slope),
                "first_over_last": first / last if last else (math.inf if first else math.nan),
                "verdict": verdict(self.grad_norms)}


VANISHED, EXPLODED = 1e-4, 1e4


def verdict(norms) -> str:
    """"vanishing", "exploding" or "healthy".

    Vanishing: the first layer gets less than 1/100 of the last layer's norm, or every norm is
    below 1e-4; exploding: more than 100 times the last layer's, a norm above 1e4, or one that
    is not finite.
    """
    first, last = norms[0], norms[-1]
    if not all(math.isfinite(v) for v in norms) or max(norms) > EXPLODED:
        return "exploding"
    if max(norms) < VANISHED or first == 0:
        return "vanishing"
    if last == 0:
        return "exploding"
    ratio = first / last
    return "vanishing" if ratio < 1e-2 else "exploding" if ratio > 1e2 else "healthy"


def _bounds(cfg: Config) -> tuple[float, float]:
    """(weight bound, bias bound) of the uniform initialisation."""
    from ..nn.init import calculate_gain
    fan_in = fan_out = cfg.width
    if cfg.init == "default":
        b = 1.0 / math.sqrt(fan_in)
        return b, b
    if cfg.init == "xavier":
        return math.sqrt(6.0 / (fan_in + fan_out)), 0.0
    if cfg.init == "kaiming":
        gain = calculate_gain(cfg.act, LEAKY_SLOPE if cfg.act == "leaky_relu" else None)
        return gain * math.sqrt(3.0 / fan_in), 0.0
    return math.sqrt(3.0), 0.0


def network_numbers(cfg: Config) -> dict[str, np.ndarray]:
    """The network's starting numbers: ``W`` (depth, width, width), ``b`` (depth, width), the input
    batch ``x`` (batch, width) and the read-out direction ``r`` (width,).

    Stream layout (``uniforms(seed, …)``): all weights layer by layer (row-major), then all biases,
    then the input batch, then ``r``; the page reads the same positions.
    """
    d, w, n = cfg.depth, cfg.width, cfg.batch
    nw, nb, nx = d * w * w, d * w, n * w
    u = uniforms(cfg.seed, 0, nw + nb + nx + w)
    wb, bb = _bounds(cfg)
    W = (2.0 * u[:nw] - 1.0) * wb
    b = (2.0 * u[nw:nw + nb] - 1.0) * bb
    x = (2.0 * u[nw + nb:nw + nb + nx] - 1.0) * math.sqrt(3.0)      # unit variance
    r = (2.0 * u[nw + nb + nx:] - 1.0) * math.sqrt(3.0 / w)          # ‖r‖ ≈ 1
    return {"W": W.reshape(d, w, w), "b": b.reshape(d, w), "x": x.reshape(n, w), "r": r}


def run_network(cfg: Config) -> NetResult:
    """One forward and backward pass of the MLP at initialisation, with the tensor engine.

    Layer ``l``: ``zₗ = hₗ₋₁ Wₗᵀ + bₗ`` (an ``nn.Linear``), optionally layer-normalised
    (``(z − mean)/√(var + 1e-5)`` over the units), ``aₗ = act(zₗ)``, and ``hₗ = aₗ`` or, with
    ``residual``, ``hₗ = hₗ₋₁ + aₗ``. The loss is a fixed read-out, ``L = mean over the batch of
    h_D · r``, so ∂L/∂h_D = r/batch whatever the activations' size: what reaches layer ``l``
    is the product of the layers' Jacobians in between, the chain rule's long product.
    """
    from .. import nn
    from ..tensor import tensor

    check_config(cfg)
    nums = network_numbers(cfg)
    layers = []
    for i in range(cfg.depth):
        lin = nn.Linear(cfg.width, cfg.width, generator=0)
        lin.weight.data = nums["W"][i].copy()
        lin.bias.data = nums["b"][i].copy()
        layers.append(lin)
    h = tensor(nums["x"])
    rms, slopes = [], []
    with np.errstate(all="ignore"):
        for lin in layers:
            z = lin(h)
            if cfg.norm:
                z = (z - z.mean(-1, keepdim=True)) / (z.var(-1, unbiased=False, keepdim=True) + NORM_EPS).sqrt()
            slopes.append(float(np.mean(_act_slope(cfg.act, z.data))))
            a = _act_tensor(z, cfg.act)
            h = h + a if cfg.residual else a
            rms.append(float(np.sqrt(np.mean(h.data ** 2))))
        loss = (h @ tensor(nums["r"])).mean()
        loss.backward()
    norms = [float(np.linalg.norm(lin.weight.grad)) for lin in layers]
    bnorms = [float(np.linalg.norm(lin.bias.grad)) for lin in layers]
    return NetResult(cfg, norms, bnorms, rms, slopes, float(loss.item()))


# --------------------------------------------------------------------------
# The chain view
# --------------------------------------------------------------------------

@dataclass
class ChainResult:
    act: str
    depth: int
    weight: float
    bias: float
    start: float
    z: list[float] = field(default_factory=list)        # zₗ
    slopes: list[float] = field(default_factory=list)   # act′(zₗ), recorded by the backward pass
    weights: list[float] = field(default_factory=list)  # ∂zₗ/∂aₗ₋₁ = w, recorded too
    factors: list[float] = field(default_factory=list)  # slope · weight: ∂aₗ/∂aₗ₋₁
    product: float = 1.0                                # the factors multiplied, in order
    backward: float = 1.0                               # ∂a_n/∂a₀ from backward()
    slope_max: float = 1.0
    slope_max_at: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bound"] = self.slope_max ** self.depth
        d["shrinking"] = [i + 1 for i, f in enumerate(self.factors) if abs(f) < 1]
        return d


def run_chain(act: str, depth: int, weight: float = 1.0, bias: float = 0.0, start: float = 1.0) -> ChainResult:
    """One neuron per layer, as scalar Values: the chain's factors as the backward pass met them."""
    from ..scalar import Value
    from ..trace import trace

    if act not in ACTS:
        parse_choices(act, ACTS, "--act")
    _whole(depth, "--depth", 1, MAX_DEPTH)
    for name, v in (("--weight", weight), ("--bias", bias), ("--start", start)):
        if not math.isfinite(v):
            raise InputError(f"{name} {v}: expected a finite number")
    a0 = Value(start, name="a0")
    a = a0
    zs, outs = [], []
    for i in range(1, depth + 1):
        z = a * Value(weight, name=f"w{i}", requires_grad=False) + Value(bias, requires_grad=False)
        z.name = f"z{i}"
        a = z if act == "linear" else (z.leaky_relu(LEAKY_SLOPE) if act == "leaky_relu" else getattr(z, act)())
        if act == "linear":
            a = z + 0.0       # its own node, so the chain has one factor per layer (local derivative 1)
        a.name = f"a{i}"
        zs.append(z)
        outs.append(a)
    t = trace(a)
    a.backward()
    # the local derivatives the backward pass used: ∂aₗ/∂zₗ and ∂zₗ/∂aₗ₋₁ (through the mul)
    by_node = {}
    for step in t.backward:
        by_node[step.node] = {ls.input: ls.local for ls in step.locals}
    label_id = {n.label: n.id for n in t.nodes}
    res = ChainResult(act, depth, float(weight), float(bias), float(start))
    prev = label_id["a0"]
    for i in range(1, depth + 1):
        zi, ai = label_id[f"z{i}"], label_id[f"a{i}"]
        slope = by_node[ai][zi]
        # z = (a·w) + b: the local derivative of the mul w.r.t. a, through the add (1)
        mul = t.nodes[zi].inputs[0]
        w_local = by_node[mul][prev] * by_node[zi][mul]
        res.z.append(float(t.nodes[zi].value))
        res.slopes.append(float(slope))
        res.weights.append(float(w_local))
        res.factors.append(float(slope * w_local))
        prev = ai
    p = 1.0
    for f in res.factors:
        p *= f
    res.product = p
    res.backward = float(a0.grad)
    res.slope_max, res.slope_max_at = slope_max(act)
    return res
