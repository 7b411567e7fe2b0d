r"""``Tensor``: an array that remembers how it was made, and reverse-mode autodiff.

``y.backward(gy)`` walks the graph from ``y`` in reverse topological order (every tensor
is visited after all the tensors computed from it), calls each op's ``backward`` once
with the summed upstream gradient, and adds the result into the ``.grad`` of every leaf
tensor that ``requires_grad``. Where a tensor is used twice its gradients are summed.

The graph holds an intermediate tensor as a :class:`GraphRef` (its shape, dtype and the op
that made it), not the tensor itself: an intermediate result nobody holds any more is
freed right after the forward unless an op saved it for its backward. BPTT through a deep
spiking network keeps what the backward needs and no more.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import backend, threads


class Tensor:
    """An n-dimensional array with an optional gradient.

    ``data`` may be a NumPy/CuPy array, a list or a scalar. Python floats and lists of
    floats take the default dtype (float32 unless changed); arrays keep their dtype;
    everything lands on the active backend (see :mod:`minijoint.backend`).
    """

    __array_priority__ = 1000  # ``ndarray * Tensor`` calls Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):  # a 0-d NumPy result (e.g. a + b of 0-d arrays)
            data = np.asarray(data)
        if backend.is_cupy_array(data) or isinstance(data, np.ndarray):
            if dtype is not None and data.dtype != np.dtype(dtype):
                data = data.astype(dtype)
            if not backend.is_cupy_array(data):
                data = backend.to_device(data)
        else:
            host = np.asarray(data)
            if dtype is None and host.dtype.kind == "f":
                dtype = backend.get_default_dtype()
            data = backend.to_device(host, dtype=dtype)
        if requires_grad and data.dtype.kind != "f":
            raise ValueError(f"only floating tensors can require gradients, got dtype {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.creator = None  # the Node that made this tensor; None for a leaf
        self.ref = None      # how the graph refers to this tensor when it is not a leaf
        self.keep_grad = False

    # ---- array facts -------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({backend.to_host(self.data)!r}{grad})"

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the data (copied from the GPU under CuPy)."""
        return np.array(backend.to_host(self.data))

    def item(self) -> float:
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (a stop-gradient)."""
        return Tensor(self.data)

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` on this non-leaf tensor too, e.g. to look at a layer's gradient."""
        self.keep_grad = True
        return self

    # ---- autodiff ----------------------------------------------------------------
    def backward(self, gy=None, retain_graph: bool = False) -> None:
        """Back-propagate ``gy`` (default 1 for a scalar) to every leaf that needs it."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input had requires_grad=True, or it was made under no_grad)")
        xp = backend.get_array_module(self.data)
        if gy is None:
            if self.size != 1:
                raise ValueError(f"backward() without gy needs a scalar, got shape {self.shape}")
            gy = xp.ones_like(self.data)
        else:
            gy = gy.data if isinstance(gy, Tensor) else xp.asarray(gy, dtype=self.dtype)
            if gy.shape != self.shape:
                raise ValueError(f"gy has shape {gy.shape}, expected {self.shape}")
        start = self if self.creator is None else self.ref
        grads = {id(start): gy}
        with threads.background_work():  # an op may hand a gradient to the CPU threads
            for v in _reverse_topological(start):  # v: a leaf Tensor or a GraphRef
                g = _value(grads.pop(id(v), None))
                if g is None:
                    continue
                node = v.creator
                if node is None:  # a leaf: keep its gradient
                    v.grad = g if v.grad is None else v.grad + g
                    continue
                t = v.tensor()
                if t is not None and t.keep_grad:
                    t.grad = g if t.grad is None else t.grad + g
                if node.ctx is None:
                    raise RuntimeError(f"{node.fn.__name__}: the graph was already freed by a "
                                       "backward(); pass retain_graph=True to backward twice")
                gxs = node.fn.backward(node.ctx, g)
                if not isinstance(gxs, tuple):
                    gxs = (gxs,)
                if len(gxs) != len(node.inputs):
                    raise RuntimeError(f"{node.fn.__name__}.backward returned {len(gxs)} "
                                       f"gradients for {len(node.inputs)} inputs")
                for i, (x, gx) in enumerate(zip(node.inputs, gxs)):
                    if x is None or not x.requires_grad:
                        continue
                    _check_grad(node.fn.__name__, i, x, gx)
                    k = id(x)
                    grads[k] = gx if k not in grads else _value(grads[k]) + _value(gx)
                if not retain_graph:
                    node.ctx = None

    # ---- operators (the arithmetic lives in minijoint.functional) -----------------
    def __add__(self, other):
        from .functional import add
        return add(self, other)

    def __radd__(self, other):
        from .functional import add
        return add(other, self)

    def __sub__(self, other):
        from .functional import sub
        return sub(self, other)

    def __rsub__(self, other):
        from .functional import sub
        return sub(other, self)

    def __mul__(self, other):
        from .functional import mul
        return mul(self, other)

    def __rmul__(self, other):
        from .functional import mul
        return mul(other, self)

    def __truediv__(self, other):
        from .functional import div
        return div(self, other)

    def __rtruediv__(self, other):
        from .functional import div
        return div(other, self)

    def __neg__(self):
        from .functional import neg
        return neg(self)

    def __pow__(self, p):
        from .functional import pow
        return pow(self, p)

    def __matmul__(self, other):
        from .functional import matmul
        return matmul(self, other)

    def __getitem__(self, index):
        from .functional import getitem
        return getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        from .functional import sum
        return sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        from .functional import mean
        return mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        from .functional import max
        return max(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        from .functional import reshape
        return reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes):
        from .functional import transpose
        return transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None))

    @property
    def T(self):
        return self.transpose()

    def exp(self):
        from .functional import exp
        return exp(self)

    def log(self):
        from .functional import log
        return log(self)


class GraphRef:
    """A non-leaf tensor as the graph sees it: its shape, dtype and ``creator`` (the op that
    made it), and a weak reference to the Tensor (for ``retain_grad``), but not its data."""

    __slots__ = ("shape", "dtype", "creator", "tensor")
    requires_grad = True

    def __init__(self, t: Tensor, node):
        self.shape, self.dtype, self.creator = t.shape, t.dtype, node
        self.tensor = weakref.ref(t)

    def __repr__(self):
        return f"GraphRef(shape={self.shape}, dtype={self.dtype}, made by {self.creator.fn.__name__})"


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` if it is a Tensor, else a constant Tensor (a scalar takes ``like``'s dtype)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and np.isscalar(x):
        xp = backend.get_array_module(like.data)
        return Tensor(xp.asarray(x, dtype=like.dtype))
    return Tensor(x)


def _value(g):
    """A gradient as an array: a :class:`~minijoint.threads.Deferred` one (computed in the
    background, see Conv2dOp's backward) is waited for here, where it is first needed."""
    return g.result() if isinstance(g, threads.Deferred) else g


def _check_grad(op: str, i: int, x: Tensor, gx) -> None:
    if gx is None:
        raise RuntimeError(f"{op}.backward returned no gradient for input {i}, which requires grad")
    if gx.shape != x.shape:
        raise RuntimeError(f"{op}.backward: gradient of input {i} has shape {gx.shape}, "
                           f"expected {x.shape}")
    if gx.dtype != x.dtype:
        raise RuntimeError(f"{op}.backward: gradient of input {i} has dtype {gx.dtype}, "
                           f"expected {x.dtype}")


def _reverse_topological(root) -> list:
    """Graph vertices (leaf Tensors and GraphRefs) reachable from ``root``, each before the
    inputs it was computed from."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, finished = stack.pop()
        if finished:
            order.append(t)  # post-order: after everything it was computed from
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t.creator is not None:
            stack.extend((x, False) for x in t.creator.inputs
                         if x is not None and x.requires_grad and id(x) not in visited)
    order.reverse()
    return order
