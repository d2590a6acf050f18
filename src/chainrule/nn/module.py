"""``Module`` and ``Parameter``: the bookkeeping that turns tensors into a model.

A Module owns Parameters (the numbers training changes) and child Modules.
Assigning one as an attribute registers it, in order, so ``parameters()``,
``state_dict()`` and ``repr()`` find them without any listing by hand:

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.hidden = Linear(64, 32)
            self.out = Linear(32, 10)
        def forward(self, x):
            return self.out(self.hidden(x).relu())

Saving goes to a NumPy ``.npz`` file through a temporary file and
``os.replace``, so a crash mid-write never destroys the previous save.
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..files import atomic_write
from ..tensor import Tensor

__all__ = ["Module", "Parameter", "StateDictError", "save_arrays", "load_arrays"]

META_KEY = "__chainrule__"  # one extra entry in saved files: JSON describing the save


class StateDictError(InputError):
    """A state dict (or saved file) does not fit the model: names the missing, unexpected or misshapen keys."""


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (``requires_grad`` is on by default)."""

    def __init__(self, data=None, requires_grad: bool = True, dtype=None):
        if data is None:
            data = np.empty(0)
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model. Subclasses define ``forward``."""

    def __init__(self):
        # set through object.__setattr__ because our __setattr__ reads them
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # -- registration ------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call super().__init__() in {type(self).__name__}.__init__ "
                                 f"before assigning self.{name}")
        params, modules = self._parameters, self._modules
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:  # e.g. Linear(bias=False): the attribute exists, the parameter does not
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: "Module | None") -> None:
        setattr(self, name, module)

    # -- running -------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- walking the tree ----------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from self._modules.items()

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "", _seen=None) -> Iterator[tuple[str, "Module"]]:
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name, seen)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``("0.weight", p), ...`` in registration order; a shared parameter is listed once."""
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def apply(self, fn) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- training helpers ------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = np.zeros_like(p.data) if isinstance(p.grad, np.ndarray) else p.grad * 0

    def train(self, mode: bool = True) -> "Module":
        """Training mode (Dropout drops); ``eval()`` switches it off. Returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def _cast(self, dtype) -> "Module":
        # In place, keeping each Parameter object: optimizers hold references to them.
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            if p.grad is not None:
                g = p.grad
                p.grad = g.astype(dtype) if isinstance(g, np.ndarray) else Tensor(g.data.astype(dtype))
        return self

    def float(self) -> "Module":
        return self._cast(np.float32)

    def double(self) -> "Module":
        return self._cast(np.float64)

    # -- state -----------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter's numbers by name (copies: later training does not change them)."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict, strict: bool = True) -> "Module":
        """Copy values in by name. All checks run before anything changes.

        Missing or unexpected names are an error when ``strict``; a shape
        that does not match is always an error. Values are converted to each
        parameter's dtype (as PyTorch's ``copy_`` does).
        """
        if not hasattr(state, "items"):
            raise StateDictError(f"load_state_dict needs a mapping of name -> array, got {type(state).__name__}")
        own = dict(self.named_parameters())
        given = {k: v for k, v in state.items() if k != META_KEY}
        problems = []
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        arrays = {}
        for k, p in own.items():
            if k not in given:
                continue
            v = given[k]
            a = v.data if isinstance(v, Tensor) else v
            try:
                a = np.asarray(a, dtype=p.data.dtype)
            except (TypeError, ValueError) as e:
                problems.append(f"{k}: not an array of numbers ({e})")
                continue
            if a.shape != p.data.shape:
                problems.append(f"{k}: shape {tuple(a.shape)} in the state dict, "
                                f"{tuple(p.data.shape)} in the model")
            arrays[k] = a
        if problems:
            raise StateDictError(f"cannot load state dict into {type(self).__name__}: " + "; ".join(problems))
        for k, a in arrays.items():
            own[k].data[...] = a  # in place: optimizers keep pointing at the same arrays
        return self

    def save(self, path, meta: dict | None = None) -> str:
        """Write ``state_dict()`` to ``path`` (``.npz``) atomically. ``meta``: JSON-able extras."""
        info = {"format": 1, "class": type(self).__name__, **(meta or {})}
        return save_arrays(path, self.state_dict(), info)

    def load(self, path, strict: bool = True) -> "Module":
        """Load parameters saved by :meth:`save`. Returns self."""
        arrays, _ = load_arrays(path)
        return self.load_state_dict(arrays, strict=strict)

    # -- printing --------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + "\n)"


def save_arrays(path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> str:
    """Write arrays (plus ``meta`` as JSON) to an ``.npz`` file, never leaving a half-written file.

    The data goes to a temporary file in the same directory, is flushed to
    disk, and only then renamed over ``path`` (``os.replace`` is atomic), so
    either the old file or the complete new one exists at every moment.
    """
    payload = dict(arrays)
    if meta is not None:
        payload[META_KEY] = np.array(json.dumps(meta))
    return atomic_write(path, lambda f: np.savez(f, **payload), suffix=".npz")


def load_arrays(path) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` from a file written by :func:`save_arrays`. Never unpickles."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"model file {path!r} does not exist")
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        # np.load would try to unpickle it and suggest allow_pickle, which is not the problem
        raise InputError(f"{path!r} is not a readable .npz model file: it is not a zip archive "
                         "(Module.save and 'chainrule train digits' write one)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path!r} is not a readable .npz model file: {e}") from None
    meta = {}
    if META_KEY in arrays:
        try:
            meta = json.loads(str(arrays.pop(META_KEY)))
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            raise InputError(f"{path!r} has a damaged {META_KEY} entry") from None
    return arrays, meta
