r"""Elementwise ops with NumPy broadcasting.

Broadcasting copies an input along new or size-1 axes, so its gradient is the *sum* of
``gy`` over those axes: :func:`unbroadcast` does that reduction.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor, as_tensor

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "relu"]


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: over leading axes added by broadcasting, and over
    axes where ``shape`` has 1 and ``g`` does not."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and g.shape[lead + i] != 1)
    g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _operands(op: str, a, b):
    """Both operands as Tensors (a Python scalar takes the other operand's dtype), checked
    here, in the forward, rather than failing later in NumPy or in the backward: floating
    operands must share one dtype, and the shapes must broadcast."""
    if isinstance(a, Tensor):
        b = as_tensor(b, like=a)
    else:
        b = as_tensor(b)
        a = as_tensor(a, like=b)
    same_float_dtype(op, a=a, b=b)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} (a) and {b.shape} (b) do not broadcast: each "
                         "axis, aligned from the right, must be equal or 1") from None
    return a, b


def same_float_dtype(op: str, **named) -> None:
    """Raise ``TypeError`` naming each operand when floating operands differ in dtype."""
    kinds = {n: t.dtype for n, t in named.items() if t is not None and t.dtype.kind == "f"}
    if len(set(kinds.values())) > 1:
        given = ", ".join(f"{n} {d}" for n, d in kinds.items())
        raise TypeError(f"{op}: floating inputs must share one dtype, got {given} "
                        f"(cast one with Tensor(x, dtype=...) or Module.to)")


class AddOp(Function):
    r"""y = a + b.   ḡa = unbroadcast(gy), ḡb = unbroadcast(gy)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, gy):
        sa, sb = ctx.shapes
        return unbroadcast(gy, sa), unbroadcast(gy, sb)


class SubOp(Function):
    r"""y = a − b.   ḡa = gy, ḡb = −gy (each un-broadcast)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx, gy):
        sa, sb = ctx.shapes
        return unbroadcast(gy, sa), unbroadcast(-gy, sb)


class MulOp(Function):
    r"""y = a · b.   ḡa = gy · b, ḡb = gy · a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.a, ctx.b
        ga = unbroadcast(gy * b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(gy * a, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class DivOp(Function):
    r"""y = a / b.   ḡa = gy / b, ḡb = −gy · a / b²."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a / b

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.a, ctx.b
        ga = unbroadcast(gy / b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-gy * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class NegOp(Function):
    r"""y = −x.   ḡx = −gy."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, gy):
        return -gy


class PowOp(Function):
    r"""y = xᵖ for a constant exponent p.   ḡx = gy · p · xᵖ⁻¹."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.x, ctx.p = x, p
        return x ** p

    @staticmethod
    def backward(ctx, gy):
        x, p = ctx.x, ctx.p
        return gy * (p * x ** (p - 1)).astype(x.dtype, copy=False)


class ExpOp(Function):
    r"""y = eˣ.   ḡx = gy · y."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        ctx.y = xp.exp(x)
        return ctx.y

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.y


class LogOp(Function):
    r"""y = ln x.   ḡx = gy / x."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        ctx.x = x
        return xp.log(x)

    @staticmethod
    def backward(ctx, gy):
        return gy / ctx.x


class ReLUOp(Function):
    r"""y = max(x, 0).   ḡx = gy · 1[x > 0]."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        y = xp.maximum(x, 0)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy * (ctx.y > 0)


def add(a, b) -> Tensor:
    return AddOp.apply(*_operands("add", a, b))


def sub(a, b) -> Tensor:
    return SubOp.apply(*_operands("sub", a, b))


def mul(a, b) -> Tensor:
    return MulOp.apply(*_operands("mul", a, b))


def div(a, b) -> Tensor:
    return DivOp.apply(*_operands("div", a, b))


def neg(x) -> Tensor:
    return NegOp.apply(x)


def pow(x, p) -> Tensor:
    """``x ** p`` for a constant (non-Tensor) exponent ``p``."""
    if isinstance(p, Tensor):
        raise TypeError("pow: the exponent must be a constant number, not a Tensor")
    if getattr(p, "ndim", 0) != 0:
        raise TypeError(f"pow: the exponent must be a single number, got shape {p.shape}")
    # A NumPy scalar exponent (np.float64(2)) would promote a float32 x to float64 under
    # NumPy 2's type rules; a Python number keeps x's dtype.
    return PowOp.apply(x, p=p.item() if hasattr(p, "item") else p)


def exp(x) -> Tensor:
    return ExpOp.apply(x)


def log(x) -> Tensor:
    return LogOp.apply(x)


def relu(x) -> Tensor:
    return ReLUOp.apply(x)
