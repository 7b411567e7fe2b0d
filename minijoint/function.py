r"""``Function``: one differentiable op = one class with static ``forward`` and ``backward``.

An op reads like the math::

    class MulOp(Function):
        @staticmethod
        def forward(ctx, a, b):          # raw arrays in, raw array out
            ctx.a, ctx.b = a, b          # keep what backward needs
            return a * b
        @staticmethod
        def backward(ctx, gy):           # gy = dL/dy; return dL/da, dL/db
            return gy * ctx.b, gy * ctx.a

    def mul(a, b):                       # the plain function users call
        return MulOp.apply(a, b)

Rules every op follows:

* positional arguments of ``apply`` are the differentiable inputs (Tensors, arrays or
  ``None`` for an absent optional input such as a bias); keyword arguments are settings
  (stride, axis, ...) passed to ``forward`` unchanged;
* ``backward`` returns one gradient per positional input, in order (``None`` where the
  input is ``None`` or needs no gradient); each must have its input's shape and dtype —
  the engine checks this and names the op when it is wrong;
* ``backward`` never writes into ``gy`` (it may be shared with other branches);
* ``ctx.needs_input_grad[i]`` says whether input ``i`` needs a gradient (all False under
  ``no_grad``), so an op can skip work: a convolution's input gradient for the first layer,
  max-pooling's argmax during evaluation.
"""
from __future__ import annotations

import contextlib

from .tensor import GraphRef, Tensor, as_tensor

_grad_enabled = [True]


def is_grad_enabled() -> bool:
    return _grad_enabled[0]


@contextlib.contextmanager
def no_grad():
    """Within this block ops record no graph (evaluation, parameter updates)."""
    old = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = old


class Context:
    """Scratch space for one call of an op: what ``forward`` saves for ``backward``."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad


class Node:
    """The record of one op call in the graph: which op, its context, its inputs (a leaf
    input as its Tensor, an intermediate one as its :class:`GraphRef`)."""

    __slots__ = ("fn", "ctx", "inputs")

    def __init__(self, fn, ctx, inputs):
        self.fn, self.ctx, self.inputs = fn, ctx, inputs


class Function:
    """Base class of every op (see the module docstring)."""

    @staticmethod
    def forward(ctx, *arrays, **settings):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, gy):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **settings) -> Tensor:
        tensors = tuple(None if x is None else as_tensor(x) for x in inputs)
        record = is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
        needs = tuple(record and t is not None and t.requires_grad for t in tensors)
        ctx = Context(needs)
        y = cls.forward(ctx, *(None if t is None else t.data for t in tensors), **settings)
        out = Tensor(y, requires_grad=record)
        if record:
            inputs = tuple(t if t is None or t.creator is None else t.ref for t in tensors)
            out.creator = Node(cls, ctx, inputs)
            out.ref = GraphRef(out, out.creator)
        return out
