r"""``Module``: a layer that owns parameters, buffers and sub-layers.

A module finds what it owns by walking its attributes **in the order they were set**:

* a :class:`Parameter` (a Tensor that is trained) is named by its attribute: ``W``;
* a sub-``Module`` adds a dotted prefix: ``conv1.W``;
* a list or tuple of modules is named by index: ``blocks.0.conv1.W``;
* a *buffer* — a raw xp array that is state but not trained, such as BatchNorm's running
  mean — is an attribute whose name was given to :meth:`Module.register_buffer`. Only the
  name is remembered, so ``self.running_mean = new_array`` keeps it registered.

``state_dict()`` gives every parameter and buffer as a NumPy array (copied to the host),
so a checkpoint written on a GPU loads on a CPU and back (``load_state_dict`` copies the
values onto each parameter's own backend). ``to(dtype)``, ``double()`` and ``float()`` cast
every parameter and buffer in place, as PyTorch's do (dtype only, never the device).
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["Parameter", "Module", "observe"]

_observers = []


@contextlib.contextmanager
def observe(callback):
    """While active, every module call reports ``callback(module, args, output)`` after its
    forward returns: a way to measure what flows through a network (shapes, firing
    rates, operation counts) without touching its code. Nothing is recorded outside."""
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)


class Parameter(Tensor):
    """A Tensor that a module trains: ``requires_grad=True`` and its own copy of the data
    (an optimizer updates it in place, which must never write into the caller's array)."""

    def __init__(self, data, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        if backend.is_cupy_array(data) or isinstance(data, np.ndarray):
            data = data.copy()
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self):
        return f"Parameter(shape={tuple(self.shape)}, dtype={self.dtype})"


class Module:
    """Base class of every layer: subclasses set attributes in ``__init__`` and define
    ``forward``; calling the module calls ``forward``.

    ``training`` is True after construction and after :meth:`train`; :meth:`eval` sets it
    to False in this module and every sub-module (BatchNorm then uses running statistics).
    """

    training = True  # instances overwrite this in train()/eval()

    def __init__(self):
        self.training = True
        self._buffer_names = []

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        for callback in _observers:
            callback(self, args, out)
        return out

    # ---- what a module owns -------------------------------------------------------
    def _members(self):
        """(name, Parameter or Module) directly owned, in definition order."""
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def register_buffer(self, name: str, array) -> None:
        """Store ``array`` (a raw xp array, or None) as attribute ``name`` and list it in
        :meth:`state_dict`; it is not trained."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"register_buffer: name must be an identifier, got {name!r}")
        if array is not None and isinstance(array, Tensor):
            raise TypeError(f"register_buffer({name!r}): a buffer is a raw array, not a Tensor "
                            "(use Parameter for something that is trained)")
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, array)

    def named_children(self):
        """(name, sub-module) for the modules directly owned, in definition order."""
        for name, m in self._members():
            if isinstance(m, Module):
                yield name, m

    def children(self):
        return [m for _, m in self.named_children()]

    def _walk(self, prefix: str, seen: set):
        """(dotted name, Parameter or Module) for everything below this module, depth
        first in definition order; each module is entered once (shared or cyclic refs)."""
        for name, v in self._members():
            full = prefix + name
            if isinstance(v, Module):
                if id(v) in seen:
                    continue
                seen.add(id(v))
                yield full, v
                yield from v._walk(full + ".", seen)
            else:
                yield full, v

    def named_modules(self, prefix: str = ""):
        """(dotted name, module) for this module (named ``prefix``, '' by default) and
        every sub-module, each once, depth first in definition order."""
        yield prefix, self
        dot = prefix + "." if prefix else ""
        for name, m in self._walk(dot, {id(self)}):
            if isinstance(m, Module):
                yield name, m

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix: str = ""):
        """(dotted name, Parameter) depth first in definition order; a shared parameter
        appears once, under the first name that reaches it."""
        dot = prefix + "." if prefix else ""
        seen = set()
        for name, p in self._walk(dot, {id(self)}):
            if isinstance(p, Parameter) and id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def parameters(self):
        """The Parameters of this module and its sub-modules, as a list (definition order)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = ""):
        """(dotted name, xp array) for every registered buffer that is not None."""
        for mname, m in self.named_modules(prefix):
            for name in m.__dict__.get("_buffer_names", ()):
                arr = getattr(m, name)
                if arr is not None:
                    yield (f"{mname}.{name}" if mname else name), arr

    def num_parameters(self) -> int:
        """Number of trained scalars."""
        return int(sum(p.size for p in self.parameters()))

    # ---- modes and gradients ------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set ``training = mode`` here and in every sub-module; returns self."""
        for _, m in self.named_modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """``train(False)``: BatchNorm uses its running statistics."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set ``.grad`` to None)."""
        for p in self.parameters():
            p.grad = None

    # ---- dtype ----------------------------------------------------------------------
    def to(self, dtype) -> "Module":
        """Cast every floating parameter (its ``.data`` and ``.grad``) and every floating
        buffer (BatchNorm's running statistics) of this module and its sub-modules to
        ``dtype``, float32 or float64; returns self, like PyTorch's ``module.to(dtype)``.

        The cast is in place: each Parameter stays the same object, so a parameter shared
        by two layers stays shared. An optimizer built before the cast still updates the
        same parameters, but its state (momentum) keeps the old dtype: cast first. Arrays
        stay on their backend (NumPy or CuPy). Moving a module between devices
        (``.to("cupy")``, ``.to("cuda")``) is not supported and raises ``ValueError``: build
        the module under ``minijoint.using_backend("cupy")`` and ``load_state_dict`` into it.
        """
        dt = _float_dtype(dtype)
        for _, p in self.named_parameters():
            if p.dtype.kind == "f" and p.dtype != dt:
                p.data = p.data.astype(dt)
            if p.grad is not None and p.grad.dtype.kind == "f" and p.grad.dtype != dt:
                p.grad = p.grad.astype(dt)
        for _, m in self.named_modules():
            for name in m.__dict__.get("_buffer_names", ()):
                arr = getattr(m, name)
                if arr is not None and arr.dtype.kind == "f" and arr.dtype != dt:
                    setattr(m, name, arr.astype(dt))
        return self

    def double(self) -> "Module":
        """``to(np.float64)``: the dtype of the gradient checks."""
        return self.to(np.float64)

    def float(self) -> "Module":
        """``to(np.float32)``: the training dtype."""
        return self.to(np.float32)

    # ---- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict:
        """{dotted name: NumPy array}: every parameter, then every buffer (host copies)."""
        out = {name: np.array(backend.to_host(p.data)) for name, p in self.named_parameters()}
        for name, arr in self.named_buffers():
            out[name] = np.array(backend.to_host(arr))
        return out

    def load_state_dict(self, state: dict, strict: bool = True):
        """Copy the arrays of ``state`` into the parameters and buffers of the same names,
        on their own backend and in their own dtype.

        ``strict=True`` raises ``KeyError`` when a name is missing from ``state`` or
        ``state`` has a name this module lacks; ``strict=False`` loads what matches and
        returns ``(missing, unexpected)``. A shape mismatch always raises ``ValueError``.
        """
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict: expected a dict name -> array, "
                            f"got {type(state).__name__}")
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        targets = {**{k: p.data for k, p in params.items()}, **buffers}
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict into {type(self).__name__}: "
                           f"missing keys {missing} (in the module, not in the dict); "
                           f"unexpected keys {unexpected} (in the dict, not in the module)")
        values = {}
        for key, arr in targets.items():
            if key not in state:
                continue
            value = state[key]
            value = value.data if isinstance(value, Tensor) else value
            shape = tuple(np.shape(value)) if not backend.is_cupy_array(value) else value.shape
            if shape != tuple(arr.shape):
                raise ValueError(f"load_state_dict: {key!r} expects shape {tuple(arr.shape)}, "
                                 f"got {shape}")
            values[key] = value
        for key, value in values.items():  # all checked first: a failed load changes nothing
            arr = targets[key]
            xp = backend.get_array_module(arr)
            src = xp.asarray(backend.to_host(value)) if xp is np else xp.asarray(value)
            arr[...] = src.astype(arr.dtype, copy=False)
        return missing, unexpected

    # ---- printing -----------------------------------------------------------------
    def extra_repr(self) -> str:
        """The settings shown between the parentheses, e.g. ``'3, 16, kernel_size=3'``."""
        return ""

    def __repr__(self):
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        lines = [head]
        for name, m in kids:
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_DEVICES = ("numpy", "cupy", "cpu", "cuda", "gpu")


def _float_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy float32/float64 dtype; ValueError naming what was given."""
    want = "a floating dtype, float32 or float64 (e.g. np.float64 or 'float32')"
    if isinstance(dtype, str) and dtype.split(":")[0].lower() in _DEVICES:
        raise ValueError(f"Module.to: expected {want}, got the device {dtype!r}; moving a module "
                         "between devices is not supported: build it under "
                         "minijoint.using_backend('cupy') and load_state_dict into it")
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError):  # "data type not understood"
        dt = None
    if dt is None or dt not in _FLOAT_DTYPES:  # (np.dtype(...) == None is True: check first)
        got = f"{dtype!r}" if dt is None else f"{dtype!r} (dtype {dt})"
        raise ValueError(f"Module.to: expected {want}, got {got}")
    return dt
