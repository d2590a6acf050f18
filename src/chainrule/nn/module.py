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

from ..autodiff import mark_changed
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
            if np.iscomplexobj(a):   # np.asarray(..., float) would keep only the real part
                problems.append(f"{k}: complex numbers; a parameter holds real numbers")
                continue
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
            mark_changed(own[k])  # so a graph computed before the load is known to be out of date
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


# The most a model file may hold once unpacked, unless the caller allows more:
# a digits model is well under 1 MB, a 76 MB model fits many times over.
MAX_LOAD_BYTES = 1 << 30
MAX_META_BYTES = 1 << 20
MAX_MEMBERS = 100_000


def _fail(path, why: str):
    raise InputError(f"{path!r} is not a readable .npz model file: {why}") from None


def _check_member(path, z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int):
    """(name, shape, fortran, dtype) of one ``.npy`` member, from its header alone."""
    from numpy.lib import format as npy
    name = info.filename[:-4] if info.filename.endswith(".npy") else None
    if name is None:
        _fail(path, f"it holds {info.filename!r}, which is not a .npy array")
    with z.open(info) as f:
        try:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npy.read_array_header_2_0(f)
            else:
                raise ValueError(f"npy format version {version} is not supported")
        except (ValueError, EOFError, OSError, zipfile.BadZipFile, SyntaxError) as e:
            _fail(path, f"array {name!r} has a damaged header ({e})")
        offset = f.tell()
    if name == META_KEY:
        if dtype.kind != "U" or shape != ():
            _fail(path, f"its {META_KEY} entry is not a text string")
        limit = min(limit, MAX_META_BYTES)
    elif dtype.kind != "f" or dtype.itemsize > 8:
        what = "complex" if dtype.kind == "c" else str(dtype)
        _fail(path, f"array {name!r} holds {what} values; a model's weights are real floats "
                    "(float16, float32 or float64)")
    if any(n < 0 for n in shape):
        _fail(path, f"array {name!r} claims a negative shape {tuple(shape)}")
    count = 1
    for n in shape:
        count *= n
    nbytes = count * dtype.itemsize
    if nbytes > limit:
        _fail(path, f"array {name!r} claims shape {tuple(shape)} ({nbytes:,} bytes), more than the "
                    f"{limit:,} bytes allowed (raise max_bytes to load it)")
    if info.file_size != offset + nbytes:
        _fail(path, f"array {name!r} claims shape {tuple(shape)} ({nbytes:,} bytes) but holds "
                    f"{max(info.file_size - offset, 0):,} bytes")
    return name, nbytes


def load_arrays(path, max_bytes: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` from a file written by :func:`save_arrays`. Never unpickles.

    Everything is checked from the zip directory and the ``.npy`` headers before
    a single array is read: each entry is a real float array (or the metadata
    string), its claimed shape matches its size, and the total unpacked size is
    at most ``max_bytes`` (default :data:`MAX_LOAD_BYTES`, 1 GiB). A file that
    fails any check is refused with one :class:`InputError` line.
    """
    path = os.fspath(path)
    limit = MAX_LOAD_BYTES if max_bytes is None else max_bytes
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InputError(f"max_bytes must be a whole number of bytes, got {max_bytes!r}")
    if not os.path.exists(path):
        raise InputError(f"model file {path!r} does not exist")
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        # np.load would try to unpickle it and suggest allow_pickle, which is not the problem
        raise InputError(f"{path!r} is not a readable .npz model file: it is not a zip archive "
                         "(Module.save and 'chainrule train digits' write one)")
    arrays = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                _fail(path, f"it holds {len(infos):,} entries (at most {MAX_MEMBERS:,})")
            claimed = sum(i.file_size for i in infos)
            if claimed > limit:
                _fail(path, f"it unpacks to {claimed:,} bytes, more than the {limit:,} allowed "
                            "(raise max_bytes to load it)")
            names = [_check_member(path, z, info, limit)[0] for info in infos]
            if len(set(names)) != len(names):
                _fail(path, "it holds the same array name twice")
            for name, info in zip(names, infos):
                with z.open(info) as f:
                    arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path!r} is not a readable .npz model file: {e}") from None
    meta = {}
    if META_KEY in arrays:
        try:
            meta = json.loads(str(arrays.pop(META_KEY)))
        except (ValueError, RecursionError):
            meta = None
        if not isinstance(meta, dict):
            raise InputError(f"{path!r} has a damaged {META_KEY} entry") from None
    return arrays, meta
